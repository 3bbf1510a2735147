//! Benchmarks of the event backbone, each printing its figures and the baseline measured in the
//! same run:
//! - `relay`: outbox relay throughput beside a bare rdkafka producer on the same broker;
//! - `projection`: lag from an event's append to its visibility in the read models, under a
//!   steady rate of gRPC commands against a full node;
//! - `cache`: certificate lookups per second through the read-through cache (Redis and
//!   in-process) beside the uncached database read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use fleuve_bus::{BusConfig, EmbeddedBroker, OutboxRelay, TopicSchema};
use fleuve_mesh::{MeshConfig, Role};
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::Database;
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

use crate::bench::{ScratchDatabase, percentile as percentile_ms};
use crate::dev::{self, DataDir, DevListen};

const DOSSIER_TOPIC: &str = "homologation.dossier.v1";
const EVENTS_FILE: &str = "fleuve/homologation/v1/events.proto";

async fn scratch_db(
    admin_url: &str,
    pool: u32,
    sets: &[fleuve_store::MigrationSet],
) -> anyhow::Result<(ScratchDatabase, Database)> {
    let scratch = ScratchDatabase::create(admin_url)?;
    let url = scratch.url.clone();
    let names: Vec<&'static str> = sets.iter().map(|s| s.name).collect();
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<Database> {
        let db = Database::connect(&url, pool)?;
        let sets: Vec<fleuve_store::MigrationSet> =
            crate::node::MIGRATIONS.into_iter().filter(|s| names.contains(&s.name)).collect();
        db.migrate(&sets)?;
        Ok(db)
    })
    .await??;
    Ok((scratch, db))
}

// ---------------------------------------------------------------------------------------------
// relay

/// Per round: fills the outbox with `events` events, then times the relay draining it, beside
/// a bare idempotent producer sending as many records of the same size and headers.
pub async fn relay(admin_url: &str, events: usize, batch_size: i64, rounds: usize) -> anyhow::Result<()> {
    let rounds = rounds.max(1);
    let batch = usize::try_from(batch_size.max(1))?;
    let (_scratch, db) = scratch_db(admin_url, 8, &[fleuve_store::EVENT_STORE_MIGRATIONS]).await?;
    let broker = EmbeddedBroker::start("127.0.0.1:0".parse()?).await?;
    let (registry_addr, registry) = fleuve_registry::RegistryServer::start("127.0.0.1:0".parse()?).await?;
    let bus = broker.bus_config();
    fleuve_bus::ensure_topics(&bus, &[DOSSIER_TOPIC, "bench.bare.v1"], 3, 1).await?;

    let payload = pb::DossierEvent {
        occurred_at: None,
        event: Some(pb::dossier_event::Event::Withdrawn(pb::DossierWithdrawn { reason: "x".repeat(160) })),
    };
    let payload = prost::Message::encode_to_vec(&payload);
    let registry_url = format!("http://{registry_addr}");
    let topics = vec![TopicSchema::new(DOSSIER_TOPIC, "fleuve.homologation.v1.DossierEvent", EVENTS_FILE)];
    let mut relay = OutboxRelay::new(db.clone(), &bus, &registry_url, topics)?.with_batch_size(batch_size);
    relay.register_schemas().await?;
    let framed_len = relay.registered(DOSSIER_TOPIC).map(|r| r.frame(&payload).len()).unwrap_or(payload.len());

    println!(
        "fleuve bench relay: {events} events per round, {rounds} rounds, batches of {batch_size}, PostgreSQL at {}",
        crate::node::redact(admin_url)
    );
    println!(
        "{:>6} {:>16} {:>14} {:>8}   machine CPU per 1 000 records, relay (busy, stolen) | bare (busy)",
        "round", "bare records/s", "relay rec/s", "ratio"
    );
    // Bare runs and relay runs alternate (bare, relay, bare, ..., relay, bare); each relay run
    // is compared with the better of the bare runs around it, so broker warm-up or a noisy
    // neighbour during one bare run does not flatter the relay.
    let mut bare_before = bare_producer(&bus, events, framed_len, batch).await?;
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let written = fill(&db, events, &payload).await?;
        // The relay's own pipeline (what `OutboxRelay::run` does until the outbox is empty).
        let cpu_before = crate::bench::CpuTimes::read();
        let started = Instant::now();
        let published = relay.drain().await?;
        let relay_rate = published as f64 / started.elapsed().as_secs_f64();
        let cpu = crate::bench::CpuTimes::read().zip(cpu_before).map(|(after, before)| after.since(&before, published));
        anyhow::ensure!(published == written, "relay published {published} of {written}");
        let bare_after = bare_producer(&bus, events, framed_len, batch).await?;
        // The better bare run, and its CPU.
        let (bare, bare_cpu) = if bare_after.0 >= bare_before.0 { bare_after } else { bare_before };
        ratios.push(relay_rate / bare);
        println!(
            "{:>6} {:>16.0} {:>14.0} {:>8.2}   {} ms ({}, {}) | {} ms ({})",
            round,
            bare,
            relay_rate,
            relay_rate / bare,
            crate::bench::CpuUse::ms_per_thousand(cpu.as_ref()),
            crate::bench::CpuUse::busy(cpu.as_ref()),
            crate::bench::CpuUse::steal(cpu.as_ref()),
            crate::bench::CpuUse::ms_per_thousand(bare_cpu.as_ref()),
            crate::bench::CpuUse::busy(bare_cpu.as_ref()),
        );
        bare_before = bare_after;
    }
    relay.close().await;
    ratios.sort_by(f64::total_cmp);
    println!("median ratio relay/bare: {:.2}", ratios[ratios.len() / 2]);
    registry.shutdown().await?;
    broker.shutdown().await;
    Ok(())
}

/// Appends `events` events to 100 streams, each with a topic (filling is not what is
/// measured), interleaved as a log of many aggregates is: runs of 10 events of one stream, the
/// streams in turn, 50 events per transaction, so that the relay meets every key, and so every
/// partition, within a batch (the bare producer changes key every record). Returns how many.
async fn fill(db: &Database, events: usize, payload: &[u8]) -> anyhow::Result<usize> {
    const STREAMS: usize = 100;
    const RUN: usize = 10;
    const RUNS_PER_TRANSACTION: usize = 5;
    let mut written = 0;
    let mut run = 0;
    while written < events {
        let mut runs = Vec::with_capacity(RUNS_PER_TRANSACTION);
        for _ in 0..RUNS_PER_TRANSACTION {
            let n = RUN.min(events - written);
            if n == 0 {
                break;
            }
            runs.push((StreamRef::new("dossier", format!("bench-{}", run % STREAMS)), n));
            run += 1;
            written += n;
        }
        let payload = payload.to_vec();
        db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
            let meta = EventMetadata::new(Uuid::now_v7().to_string(), "bench")
                .with_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
            for (stream, n) in &runs {
                let batch: Vec<NewEvent> =
                    (0..*n).map(|_| NewEvent::new("DossierWithdrawn", payload.clone())).collect();
                event_store::append(conn, stream, ExpectedVersion::Any, &batch, &meta, Some(DOSSIER_TOPIC))?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(written)
}

/// Records per second of an idempotent producer sending `count` records of `size` bytes with
/// ten headers, in batches of `batch` as the relay sends them: a batch is enqueued while the one
/// before it is still in flight, then that one is awaited. With the machine's CPU meanwhile.
async fn bare_producer(
    bus: &BusConfig,
    count: usize,
    size: usize,
    batch: usize,
) -> anyhow::Result<(f64, Option<crate::bench::CpuUse>)> {
    let producer: FutureProducer = bus.producer_config().create()?;
    let value = vec![0x5a_u8; size];
    // Connected and idempotence-initialised before the clock starts, as the relay's producer is.
    let warm = FutureRecord::to("bench.bare.v1").key("warm-up").payload(&value);
    producer.send(warm, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    let cpu_before = crate::bench::CpuTimes::read();
    let started = Instant::now();
    let batch = batch.max(1);
    let (mut deliveries, mut in_flight) = (Vec::with_capacity(batch), Vec::new());
    for i in 0..count {
        let key = format!("bench-{}", i % 100);
        let event_id = Uuid::now_v7().to_string();
        let headers = OwnedHeaders::new_with_capacity(10)
            .insert(Header { key: "event_id", value: Some(event_id.as_str()) })
            .insert(Header { key: "event_type", value: Some("DossierWithdrawn") })
            .insert(Header { key: "aggregate_type", value: Some("dossier") })
            .insert(Header { key: "aggregate_id", value: Some(key.as_str()) })
            .insert(Header { key: "aggregate_version", value: Some("1") })
            .insert(Header { key: "correlation_id", value: Some(event_id.as_str()) })
            .insert(Header { key: "recorded_at", value: Some("2026-11-22T00:00:00.000000Z") })
            .insert(Header { key: "actor", value: Some("bench") })
            .insert(Header {
                key: "traceparent",
                value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            });
        let record = FutureRecord::to("bench.bare.v1").key(key.as_str()).payload(&value).headers(headers);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        if deliveries.len() == batch {
            for delivery in
                std::mem::replace(&mut in_flight, std::mem::replace(&mut deliveries, Vec::with_capacity(batch)))
            {
                delivery.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for delivery in in_flight.into_iter().chain(deliveries) {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let cpu = crate::bench::CpuTimes::read().zip(cpu_before).map(|(after, before)| after.since(&before, count));
    tokio::task::spawn_blocking(move || drop(producer)).await?;
    Ok((rate, cpu))
}

// ---------------------------------------------------------------------------------------------
// projection lag

/// A full node (as `fleuve dev`, on PostgreSQL) under `rate` CreateDossier commands per second
/// for `seconds`; then the lag of each projection from the event's append (`recorded_at`) to
/// the commit of its read-model transaction (the inbox row's `processed_at`).
pub async fn projection(admin_url: &str, rate: u32, seconds: u64) -> anyhow::Result<()> {
    let scratch = ScratchDatabase::create(admin_url)?;
    let dir = std::env::temp_dir().join(format!("fleuve-bench-{}", Uuid::new_v4().simple()));
    let node =
        dev::prepare_on(MeshConfig::default(), &DataDir::new(&dir), DevListen::ephemeral(), Some(scratch.url.clone()))
            .await?;
    let addr = node.addr;
    let db = node.database.clone();
    let token = node.demo_token(Role::Applicant)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(node.run(async move {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let client = pb::dossier_service_client::DossierServiceClient::new(channel);

    // Warm-up: the consumers join their groups after start; one event through every projection
    // first, so the figures measure steady state rather than the first rebalance.
    create_dossier(&client, &token, "warm-up").await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    for consumer in ["statistics", "notification"] {
        while db.run(move |conn| fleuve_store::consumer::inbox_count(conn, consumer)).await? < 1 {
            anyhow::ensure!(Instant::now() < deadline, "{consumer} never applied the warm-up event");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let measured_from = chrono::Utc::now().naive_utc();
    let total = (u64::from(rate) * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut calls = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let token = token.clone();
        let failures = failures.clone();
        calls.push(tokio::spawn(async move {
            let t0 = Instant::now();
            if create_dossier(&client, &token, &format!("Model {i}")).await.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            t0.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for call in calls {
        latencies.push(call.await?);
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    latencies.sort();

    // Wait until both dossier projections applied every command's event.
    let deadline = Instant::now() + Duration::from_secs(60);
    for consumer in ["statistics", "notification"] {
        loop {
            let name = consumer.to_owned();
            let applied = db.run(move |conn| fleuve_store::consumer::inbox_count(conn, &name)).await?;
            if applied as usize > total {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{consumer} applied only {applied} of {total} events");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "fleuve bench projection: {total} CreateDossier commands at {rate}/s offered ({offered:.0}/s achieved), \
         PostgreSQL at {}, {} failed",
        crate::node::redact(admin_url),
        failures.load(Ordering::Relaxed)
    );
    println!(
        "  command latency: p50 {:.1} ms, p99 {:.1} ms",
        percentile_ms(&latencies, 0.5),
        percentile_ms(&latencies, 0.99)
    );
    println!("{:>14} {:>8} {:>10} {:>10} {:>10}", "projection", "events", "p50 ms", "p99 ms", "max ms");
    for consumer in ["statistics", "notification"] {
        let lags = lags(&db, consumer, measured_from).await?;
        println!(
            "{:>14} {:>8} {:>10.1} {:>10.1} {:>10.1}",
            consumer,
            lags.len(),
            percentile_ms(&lags, 0.5),
            percentile_ms(&lags, 0.99),
            percentile_ms(&lags, 1.0)
        );
    }
    let _ = stop.send(());
    serving.await??;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Append-to-read-model lag of every event `consumer` applied.
async fn create_dossier(
    client: &pb::dossier_service_client::DossierServiceClient<tonic::transport::Channel>,
    token: &str,
    model: &str,
) -> anyhow::Result<()> {
    let mut request = tonic::Request::new(pb::CreateDossierRequest {
        equipment: Some(pb::Equipment {
            brand: "Bench".into(),
            model: model.into(),
            category: pb::EquipmentCategory::MobileTerminal as i32,
            frequency_bands: vec![pb::FrequencyBand { lower_khz: 880_000, upper_khz: 960_000 }],
            characteristics: vec![],
        }),
    });
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
    client.clone().create_dossier(request).await?;
    Ok(())
}

async fn lags(db: &Database, consumer: &str, from: chrono::NaiveDateTime) -> anyhow::Result<Vec<Duration>> {
    use fleuve_store::schema::{events, inbox};
    let name = consumer.to_owned();
    let pairs: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = db
        .run(move |conn| {
            inbox::table
                .inner_join(events::table.on(events::event_id.eq(inbox::event_id)))
                .filter(inbox::consumer.eq(name))
                .filter(events::recorded_at.ge(from))
                .select((events::recorded_at, inbox::processed_at))
                .load(conn)
                .map_err(fleuve_store::StoreError::from)
        })
        .await?;
    let mut lags: Vec<Duration> =
        pairs.into_iter().map(|(recorded, processed)| (processed - recorded).to_std().unwrap_or_default()).collect();
    lags.sort();
    Ok(lags)
}

// ---------------------------------------------------------------------------------------------
// cache

/// `certificates` certificates in the public registry (written by its projection), then
/// `clients` concurrent lookups for `seconds`: straight from the database, through the Redis
/// read-through cache, through the in-process cache.
pub async fn cache(
    admin_url: &str,
    redis_url: &str,
    certificates: usize,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    use fleuve_bus::Projection as _;
    let (_scratch, db) = scratch_db(admin_url, clients as u32 + 2, &crate::node::MIGRATIONS).await?;
    let prefix = format!("fleuve-bench-{}", Uuid::new_v4().simple());
    let redis = fleuve_cache::Cache::new(&fleuve_cache::CacheConfig {
        near_cache: false,
        ..fleuve_cache::CacheConfig::redis(redis_url, &prefix)
    })?;
    let near = fleuve_cache::Cache::new(&fleuve_cache::CacheConfig::redis(redis_url, &prefix))?;
    anyhow::ensure!(
        near.wait_near_cache_online(0, Duration::from_secs(5)).await,
        "Redis at {redis_url} does not report changes (CLIENT TRACKING needs Redis 6 or later)"
    );
    let memory = fleuve_cache::Cache::in_process(&fleuve_cache::CacheConfig::in_process(&prefix));
    let projection = fleuve_homologation::app::CertificateRegistryProjection::new(memory.clone());
    let numbers: Vec<String> = (1..=certificates).map(|i| format!("ARPCE-HOM-2026-{i:06}")).collect();
    let now = chrono::Utc::now();
    for chunk in numbers.chunks(200) {
        let chunk = chunk.to_vec();
        let projection = fleuve_homologation::app::CertificateRegistryProjection::new(memory.clone());
        db.transaction::<_, anyhow::Error, _>(move |conn| {
            for number in &chunk {
                let issued = pb::CertificateEvent {
                    occurred_at: None,
                    event: Some(pb::certificate_event::Event::Issued(pb::CertificateIssued {
                        certificate_number: number.clone(),
                        dossier_id: Uuid::now_v7().to_string(),
                        organisation_id: "bench-org".into(),
                        equipment: Some(pb::Equipment {
                            brand: "Bench".into(),
                            model: number.clone(),
                            category: pb::EquipmentCategory::MobileTerminal as i32,
                            frequency_bands: vec![],
                            characteristics: vec![],
                        }),
                        valid_from: Some(prost_types::Timestamp { seconds: now.timestamp() - 86_400, nanos: 0 }),
                        valid_until: Some(prost_types::Timestamp { seconds: now.timestamp() + 86_400 * 365, nanos: 0 }),
                    })),
                };
                let stored = event_store::RecordedEvent {
                    position: 0,
                    stream_id: format!("certificate-{number}"),
                    aggregate_type: "certificate".into(),
                    aggregate_id: number.clone(),
                    version: 1,
                    event_id: Uuid::now_v7(),
                    event_type: "CertificateIssued".into(),
                    payload: prost::Message::encode_to_vec(&issued),
                    correlation_id: "bench".into(),
                    causation_id: None,
                    actor: "bench".into(),
                    trace_context: None,
                    recorded_at: now,
                };
                let event = fleuve_bus::ConsumedEvent::from_recorded(
                    &stored,
                    "homologation.certificate.v1",
                    "fleuve.homologation.v1.CertificateEvent",
                );
                projection.apply(conn, &event).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            Ok(())
        })
        .await?;
    }
    drop(projection);
    let numbers = Arc::new(numbers);
    let duration = Duration::from_secs(seconds);

    let settings = fleuve_homologation::Settings::default();
    let uncached = {
        let db = db.clone();
        run_lookups(numbers.clone(), clients, duration, move |number| {
            let db = db.clone();
            async move {
                let found = db
                    .run(move |conn| fleuve_homologation::app::registry::find_public(conn, &number))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(found.is_some(), "certificate not found");
                Ok(())
            }
        })
        .await?
    };
    let mut rows = vec![("database (uncached)", uncached)];
    let mut near_share = None;
    for (label, cache) in [
        ("Redis read-through", redis.clone()),
        ("Redis + near cache", near.clone()),
        ("in-process read-through", memory.clone()),
    ] {
        let app =
            fleuve_homologation::Homologation::new(db.clone(), settings.clone()).with_registry_cache(cache.clone());
        // Warm: one pass over every number.
        for number in numbers.iter() {
            app.verify_certificate(number.clone()).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let figures = run_lookups(numbers.clone(), clients, duration, move |number| {
            let app = app.clone();
            async move {
                let (_, valid) = app.verify_certificate(number).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
                anyhow::ensure!(valid, "certificate not valid");
                Ok(())
            }
        })
        .await?;
        let stats = cache.stats();
        tracing::debug!(?stats, label, "cache stats");
        if stats.near_hits > 0 {
            anyhow::ensure!(
                cache.near_cache_connections() == 1,
                "the near cache lost its Redis reports during the run"
            );
            near_share = Some(stats.near_hits as f64 / stats.hits.max(1) as f64);
        }
        rows.push((label, figures));
    }
    redis.flush().await;
    println!(
        "fleuve bench cache: {certificates} certificates, {clients} clients, {seconds} s each, PostgreSQL at {}, Redis at {redis_url}",
        crate::node::redact(admin_url)
    );
    println!("{:>24} {:>12} {:>10} {:>10} {:>8}", "lookups", "per second", "p50 ms", "p99 ms", "× db");
    let base = rows[0].1.tps;
    for (label, f) in &rows {
        println!("{:>24} {:>12.0} {:>10.3} {:>10.3} {:>8.2}", label, f.tps, f.p50_ms, f.p99_ms, f.tps / base);
    }
    if let Some(share) = near_share {
        println!("near cache: {:.2} % of the Redis + near cache hits answered in process", share * 100.0);
    }
    Ok(())
}

struct Lookups {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run_lookups<F, Fut>(
    numbers: Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
    lookup: F,
) -> anyhow::Result<Lookups>
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    // Each client checks the deadline itself: an in-process cache hit never yields, so a flag
    // set by a timer task could starve behind busy clients.
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (numbers, lookup) = (numbers.clone(), lookup.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c * 7919;
            while Instant::now() < deadline {
                i = (i + 7919) % numbers.len();
                let t0 = Instant::now();
                lookup(numbers[i].clone()).await?;
                latencies.push(t0.elapsed());
                tokio::task::yield_now().await;
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok(Lookups { tps: all.len() as f64 / elapsed, p50_ms: percentile_ms(&all, 0.5), p99_ms: percentile_ms(&all, 0.99) })
}
