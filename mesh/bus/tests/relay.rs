//! End-to-end tests of the outbox relay: real embedded broker, real registry server, real SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use fleuve_bus::{BusError, EmbeddedBroker, OutboxRelay, TopicSchema, decode_confluent};
use fleuve_proto::homologation::v1::{DossierEvent, DossierWithdrawn, dossier_event};
use fleuve_registry::RegistryServer;
use fleuve_store::event_store::{EventMetadata, ExpectedVersion, NewEvent, StreamRef, append, outbox_pending};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, EVENT_STORE_MIGRATIONS};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use tokio::time::{Instant, timeout};

const DOSSIER_TOPIC: &str = "homologation.dossier.v1";
const CERTIFICATE_TOPIC: &str = "homologation.certificate.v1";
const EVENTS_FILE: &str = "fleuve/homologation/v1/events.proto";
const OP_TIMEOUT: Duration = Duration::from_secs(15);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(45);

struct Mesh {
    broker: EmbeddedBroker,
    registry: RegistryServer,
    registry_url: String,
}

impl Mesh {
    async fn start() -> Result<Mesh> {
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let broker = timeout(OP_TIMEOUT, EmbeddedBroker::start(listen)).await.context("broker start timed out")??;
        for topic in [DOSSIER_TOPIC, CERTIFICATE_TOPIC] {
            timeout(OP_TIMEOUT, fleuve_bus::ensure_topics(&broker.bus_config(), &[topic], 3, 1)).await??;
        }
        let (addr, registry) = RegistryServer::start(listen).await?;
        Ok(Mesh { broker, registry, registry_url: format!("http://{addr}") })
    }

    fn relay(&self, db: &Database) -> Result<OutboxRelay> {
        let topics = vec![
            TopicSchema::new(DOSSIER_TOPIC, "fleuve.homologation.v1.DossierEvent", EVENTS_FILE),
            TopicSchema::new(CERTIFICATE_TOPIC, "fleuve.homologation.v1.CertificateEvent", EVENTS_FILE),
        ];
        Ok(OutboxRelay::new(db.clone(), &self.broker.bus_config(), &self.registry_url, topics)?)
    }

    async fn stop(self) -> Result<()> {
        self.registry.shutdown().await?;
        self.broker.shutdown().await;
        Ok(())
    }
}

fn dossier_event(reason: &str) -> DossierEvent {
    DossierEvent {
        occurred_at: None,
        event: Some(dossier_event::Event::Withdrawn(DossierWithdrawn { reason: reason.to_owned() })),
    }
}

/// Appends `count` events to dossier `id` (each to be published on `topic`); returns their ids.
async fn append_events(db: &Database, id: &str, from: usize, count: usize, topic: &str) -> Result<Vec<String>> {
    let stream = StreamRef::new("dossier", id);
    let events: Vec<NewEvent> = (from..from + count)
        .map(|i| NewEvent::new("DossierWithdrawn", dossier_event(&format!("{id}/{i}")).encode_to_vec()))
        .collect();
    let ids = events.iter().map(|e| e.event_id.to_string()).collect();
    let meta = EventMetadata::new(format!("corr-{id}"), "user:alice")
        .with_causation_id(format!("cmd-{id}"))
        .with_trace_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let topic = topic.to_owned();
    db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
        append(conn, &stream, ExpectedVersion::Any, &events, &meta, Some(&topic))
    })
    .await?;
    Ok(ids)
}

fn header(message: &BorrowedMessage<'_>, key: &str) -> Option<String> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == key).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// One consumed record, checked and reduced to what the assertions need.
#[derive(Debug)]
struct Received {
    key: String,
    schema_id: u32,
    indexes: Vec<i32>,
    event: DossierEvent,
    headers: BTreeMap<String, String>,
}

async fn consume(consumer: &StreamConsumer, count: usize) -> Result<Vec<Received>> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let left = deadline.saturating_duration_since(Instant::now()).min(OP_TIMEOUT);
        let message = timeout(left, consumer.recv())
            .await
            .with_context(|| format!("timed out after {} of {count} records", out.len()))??;
        let value = message.payload().context("record without value")?;
        let (schema_id, indexes, payload) = decode_confluent(value)?;
        let mut headers = BTreeMap::new();
        for key in [
            "event_id",
            "event_type",
            "aggregate_type",
            "aggregate_id",
            "aggregate_version",
            "correlation_id",
            "causation_id",
            "actor",
            "traceparent",
        ] {
            if let Some(value) = header(&message, key) {
                headers.insert(key.to_owned(), value);
            }
        }
        out.push(Received {
            key: String::from_utf8_lossy(message.key().context("record without key")?).into_owned(),
            schema_id,
            indexes,
            event: DossierEvent::decode(payload)?,
            headers,
        });
    }
    Ok(out)
}

/// The event ids of the first `count` records a new consumer group reads from the dossier topic.
async fn published_ids(mesh: &Mesh, group: &str, count: usize) -> Result<Vec<String>> {
    let consumer = consumer(mesh, group)?;
    let received = consume(&consumer, count).await;
    // Closing a consumer blocks on the broker.
    tokio::task::block_in_place(|| drop(consumer));
    Ok(received?.iter().filter_map(|r| r.headers.get("event_id").cloned()).collect())
}

fn consumer(mesh: &Mesh, group: &str) -> Result<StreamConsumer> {
    let consumer: StreamConsumer = mesh.broker.bus_config().consumer_config(group).create()?;
    consumer.subscribe(&[DOSSIER_TOPIC])?;
    Ok(consumer)
}

async fn drain(relay: &mut OutboxRelay) -> Result<usize> {
    let mut total = 0;
    loop {
        match relay.run_once().await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

async fn pending_count(db: &Database) -> Result<usize> {
    Ok(db.run(|conn| outbox_pending(conn, 10_000)).await?.len())
}

async fn publishes_framed_events_with_headers_in_order(test_db: TestDatabase) -> Result<()> {
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    let mut appended: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // interleaved appends across three dossiers, so the outbox order mixes aggregates
    for round in 0..4 {
        for dossier in ["d-1", "d-2", "d-3"] {
            let ids = append_events(&db, dossier, round * 2, 2, DOSSIER_TOPIC).await?;
            appended.entry(dossier.to_owned()).or_default().extend(ids);
        }
    }

    let mut relay = mesh.relay(&db)?;
    ensure!(drain(&mut relay).await? == 24, "expected 24 rows published");
    ensure!(pending_count(&db).await? == 0, "rows left unpublished");
    let registered = relay.registered(DOSSIER_TOPIC).context("dossier schema not registered")?.clone();

    let consumer = consumer(&mesh, "relay-test")?;
    let received = consume(&consumer, 24).await?;

    let (schema, references) = mesh.registry.registry().schema_by_id(registered.schema_id).await?;
    ensure!(
        schema == fleuve_proto::proto_source(EVENTS_FILE).context("events.proto")?,
        "schema id resolves to another schema"
    );
    ensure!(
        references.iter().any(|r| r.name == "fleuve/homologation/v1/types.proto" && r.subject == r.name),
        "events.proto must reference types.proto: {references:?}"
    );
    let subjects = mesh.registry.registry().subjects().await;
    for subject in
        ["homologation.dossier.v1-value", "homologation.certificate.v1-value", "fleuve/common/v1/common.proto"]
    {
        ensure!(subjects.iter().any(|s| s == subject), "subject {subject} missing from {subjects:?}");
    }

    let mut next: BTreeMap<String, usize> = BTreeMap::new();
    for record in &received {
        ensure!(record.schema_id == registered.schema_id, "schema id {} in the frame", record.schema_id);
        ensure!(record.indexes == [0], "DossierEvent is the first message: {:?}", record.indexes);
        let h = &record.headers;
        let dossier = h.get("aggregate_id").context("aggregate_id header")?;
        ensure!(&record.key == dossier, "key {} for aggregate {dossier}", record.key);
        let i = next.entry(dossier.clone()).or_default();
        ensure!(
            record.event == dossier_event(&format!("{dossier}/{i}")),
            "order broken for {dossier} at {i}: {:?}",
            record.event
        );
        ensure!(h.get("event_id") == Some(&appended[dossier][*i]), "event id of {dossier}/{i}");
        ensure!(h.get("aggregate_version") == Some(&(*i + 1).to_string()), "version of {dossier}/{i}");
        ensure!(h.get("event_type").map(String::as_str) == Some("DossierWithdrawn"), "event_type {h:?}");
        ensure!(h.get("aggregate_type").map(String::as_str) == Some("dossier"), "aggregate_type {h:?}");
        ensure!(h.get("correlation_id") == Some(&format!("corr-{dossier}")), "correlation_id {h:?}");
        ensure!(h.get("causation_id") == Some(&format!("cmd-{dossier}")), "causation_id {h:?}");
        ensure!(h.get("actor").map(String::as_str) == Some("user:alice"), "actor {h:?}");
        ensure!(h.get("traceparent").is_some_and(|t| t.starts_with("00-0af76519")), "traceparent {h:?}");
        *i += 1;
    }
    ensure!(next.values().all(|n| *n == 8), "expected 8 events per dossier: {next:?}");

    // the continuous loop picks up what is appended while it runs
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await;
        relay
    });
    let late = append_events(&db, "d-4", 0, 3, DOSSIER_TOPIC).await?;
    let received = consume(&consumer, 3).await?;
    let got: Vec<_> = received.iter().filter_map(|r| r.headers.get("event_id").cloned()).collect();
    ensure!(got == late, "running relay published {got:?}, expected {late:?}");
    // The rows are marked after their deliveries are confirmed, which can be after the
    // consumer has them.
    let marked = Instant::now() + OP_TIMEOUT;
    while pending_count(&db).await? != 0 {
        ensure!(Instant::now() < marked, "late rows left unpublished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    let relay = timeout(OP_TIMEOUT, runner).await.context("relay did not stop")??;
    relay.close().await;

    tokio::task::block_in_place(|| drop(consumer));
    mesh.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_publishes_framed_events_with_headers_in_order() -> Result<()> {
    publishes_framed_events_with_headers_in_order(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_publishes_framed_events_with_headers_in_order() -> Result<()> {
    publishes_framed_events_with_headers_in_order(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_publish_and_mark_duplicates_but_loses_nothing() -> Result<()> {
    let test_db = TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?;
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    let mut ids = append_events(&db, "c-1", 0, 3, DOSSIER_TOPIC).await?;
    ids.extend(append_events(&db, "c-2", 0, 2, DOSSIER_TOPIC).await?);

    // the "crash": a batch is published, the relay goes away before marking it
    let mut relay = mesh.relay(&db)?;
    let batch = relay.pending().await?;
    ensure!(batch.len() == 5, "pending batch of {}", batch.len());
    let report = relay.publish(&batch).await?;
    ensure!(report.delivered.len() == 5 && report.failed.is_empty(), "publish report {report:?}");
    relay.close().await;
    ensure!(pending_count(&db).await? == 5, "nothing may be marked without mark()");

    let mut relay = mesh.relay(&db)?;
    ensure!(drain(&mut relay).await? == 5, "restart must republish the unmarked rows");
    relay.close().await;
    ensure!(pending_count(&db).await? == 0, "rows left unpublished after restart");

    let consumer = consumer(&mesh, "relay-crash")?;
    let received = consume(&consumer, 10).await?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for record in &received {
        *seen.entry(record.headers.get("event_id").context("event_id header")?.clone()).or_default() += 1;
    }
    for id in &ids {
        ensure!(seen.get(id).is_some_and(|n| *n >= 1), "event {id} missing after the crash: {seen:?}");
    }
    ensure!(seen.len() == ids.len(), "unexpected events: {seen:?}");

    tokio::task::block_in_place(|| drop(consumer));
    mesh.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_for_a_topic_without_schema_fails_loudly_and_blocks_only_its_aggregate() -> Result<()> {
    let test_db = TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?;
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    append_events(&db, "u-1", 0, 1, "homologation.unknown.v1").await?;
    append_events(&db, "ok-1", 0, 1, DOSSIER_TOPIC).await?;

    let mut relay = mesh.relay(&db)?;
    match relay.run_once().await {
        Err(BusError::Delivery { failed: 1, first }) => {
            ensure!(first.contains("no schema registered for topic homologation.unknown.v1"), "error {first}")
        }
        other => bail!("expected a delivery error, got {other:?}"),
    }
    let pending = db.run(|conn| outbox_pending(conn, 100)).await?;
    ensure!(pending.len() == 1, "only the unknown-topic row stays pending: {pending:?}");
    let (row, _) = &pending[0];
    ensure!(row.topic == "homologation.unknown.v1" && row.attempts == 1, "row {row:?}");
    ensure!(row.last_error.as_deref().is_some_and(|e| e.contains("no schema registered")), "row {row:?}");
    relay.close().await;
    mesh.stop().await
}

/// `drain` enqueues batch N+1 before batch N's deliveries are in: when N has a failed row,
/// the drain still settles N+1, marks what it delivered and stops; only the failed row stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_stopped_by_a_failed_row_marks_the_batch_already_in_flight() -> Result<()> {
    let test_db = TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?;
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    // Batches of 2: [a-1 v1, unknown u-1], [a-1 v2, b-1 v1], [b-1 v2].
    let mut ids = append_events(&db, "a-1", 0, 1, DOSSIER_TOPIC).await?;
    append_events(&db, "u-1", 0, 1, "homologation.unknown.v1").await?;
    ids.extend(append_events(&db, "a-1", 1, 1, DOSSIER_TOPIC).await?);
    ids.extend(append_events(&db, "b-1", 0, 2, DOSSIER_TOPIC).await?);

    let mut relay = mesh.relay(&db)?.with_batch_size(2);
    match relay.drain().await {
        Err(BusError::Delivery { failed: 1, first }) => ensure!(first.contains("no schema registered"), "{first}"),
        other => bail!("expected the drain to stop on the unknown topic, got {other:?}"),
    }
    let pending = db.run(|conn| outbox_pending(conn, 100)).await?;
    let topics: Vec<&str> = pending.iter().map(|(row, _)| row.topic.as_str()).collect();
    // The batch in flight when the failure was seen was marked; the one after was never read.
    ensure!(topics == ["homologation.unknown.v1", DOSSIER_TOPIC], "pending after the stop: {topics:?}");
    ensure!(pending[1].1.aggregate_id == "b-1" && pending[1].1.version == 2, "pending {:?}", pending[1].1);

    match relay.drain().await {
        Err(BusError::Delivery { failed: 1, .. }) => {}
        other => bail!("the unknown topic still fails, got {other:?}"),
    }
    ensure!(pending_count(&db).await? == 1, "all but the failed row published");
    relay.close().await;

    let consumer = consumer(&mesh, "relay-pipelined-failure")?;
    let received = consume(&consumer, ids.len()).await?;
    let got: Vec<&String> = received.iter().filter_map(|r| r.headers.get("event_id")).collect();
    for id in &ids {
        ensure!(got.contains(&id), "event {id} not delivered: {got:?}");
    }
    tokio::task::block_in_place(|| drop(consumer));
    mesh.stop().await
}

/// A broker that comes back without the state it had (here an in-memory broker restarted on the
/// same address; in production a cluster rebuilt or a topic recreated): the relay's producer
/// times out every record, drain after drain, while a new producer delivers at once. The
/// relay replaces its producer after a timed-out batch, so the next drain delivers every row,
/// without a restart of the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_records_time_out_gets_a_new_producer_and_delivers() -> Result<()> {
    let test_db = TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?;
    let db = test_db.database().clone();
    let Mesh { broker, registry, registry_url } = Mesh::start().await?;
    let addr = broker.addr();
    let mut ids = append_events(&db, "t-1", 0, 3, DOSSIER_TOPIC).await?;
    let mut relay = OutboxRelay::new(
        db.clone(),
        &broker.bus_config(),
        &registry_url,
        vec![TopicSchema::new(DOSSIER_TOPIC, "fleuve.homologation.v1.DossierEvent", EVENTS_FILE)],
    )?
    .with_message_timeout(Duration::from_secs(3))?;
    ensure!(relay.drain().await? == 3, "the first rows go out");

    broker.shutdown().await;
    // The same address (another test may take the freed port for a moment: try again).
    let deadline = Instant::now() + OP_TIMEOUT;
    let broker = loop {
        match EmbeddedBroker::start(addr).await {
            Ok(broker) => break broker,
            Err(error) if Instant::now() < deadline => {
                println!("restart on {addr}: {error}; again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error.into()),
        }
    };
    timeout(OP_TIMEOUT, fleuve_bus::ensure_topics(&broker.bus_config(), &[DOSSIER_TOPIC, CERTIFICATE_TOPIC], 3, 1))
        .await??;
    let mesh = Mesh { broker, registry, registry_url };
    ids.extend(append_events(&db, "t-1", 3, 4, DOSSIER_TOPIC).await?);

    // The first drain after the restart waits out librdkafka's message timeout.
    let first = timeout(DRAIN_TIMEOUT, relay.drain()).await?;
    let timed_out = matches!(&first, Err(BusError::Delivery { first, .. }) if first.contains("MessageTimedOut"));
    ensure!(timed_out, "the old producer's records time out: {first:?}");
    ensure!(pending_count(&db).await? == 4, "failed rows stay queued");
    let second = timeout(OP_TIMEOUT, relay.drain()).await?;
    ensure!(matches!(second, Ok(4)), "the next drain, on a new producer, delivers: {second:?}");
    ensure!(pending_count(&db).await? == 0, "nothing left");
    relay.close().await;

    // The new broker holds what was relayed after its restart, in order.
    let got = published_ids(&mesh, "relay-restarted", 4).await?;
    ensure!(got == ids[3..], "events after the restart, in order: {got:?} != {:?}", &ids[3..]);
    mesh.stop().await
}

/// 50 writers append to 25 dossiers and commit out of position order (each sleeps inside its
/// transaction after its append) while the relay runs: the consumer receives every event once,
/// and each dossier's events in version order.
async fn writers_committing_out_of_order_reach_the_consumer_once_in_order(test_db: TestDatabase) -> Result<()> {
    const WRITERS: usize = 50;
    const ROUNDS: usize = 4;
    let db = test_db.database().clone();
    let writers_db = match db.backend() {
        fleuve_store::Backend::Postgres => Database::connect(test_db.url(), WRITERS as u32)?,
        fleuve_store::Backend::Sqlite => Database::connect(test_db.url(), 8)?,
    };
    let mesh = Mesh::start().await?;
    let mut relay = mesh.relay(&db)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relaying = tokio::spawn(async move {
        relay
            .run(async {
                let _ = stopped.await;
            })
            .await;
        relay
    });
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let db = writers_db.clone();
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for round in 0..ROUNDS {
                let pause = Duration::from_millis(((writer * 7 + round * 13) % 17) as u64);
                let stream = StreamRef::new("dossier", format!("w{}", writer % 25));
                let event =
                    NewEvent::new("DossierWithdrawn", dossier_event(&format!("{writer}/{round}")).encode_to_vec());
                let id = event.event_id.to_string();
                let meta = EventMetadata::new(format!("corr-{writer}"), "user:alice");
                db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
                    append(conn, &stream, ExpectedVersion::Any, &[event], &meta, Some(DOSSIER_TOPIC))?;
                    std::thread::sleep(pause);
                    Ok(())
                })
                .await?;
                written.push(id);
            }
            Ok::<_, anyhow::Error>(written)
        }));
    }
    let mut ids = Vec::new();
    for writer in writers {
        ids.extend(writer.await??);
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while pending_count(&db).await? > 0 {
        ensure!(Instant::now() < deadline, "{} events still unpublished", pending_count(&db).await?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    relaying.await?.close().await;

    let consumer = consumer(&mesh, "relay-out-of-order")?;
    let received = consume(&consumer, ids.len()).await?;
    let extra = timeout(Duration::from_secs(2), consumer.recv()).await;
    ensure!(extra.is_err(), "a record beyond the {} written", ids.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    for record in &received {
        *seen.entry(record.headers.get("event_id").context("event_id header")?.clone()).or_default() += 1;
        let version: i64 = record.headers.get("aggregate_version").context("version header")?.parse()?;
        let previous = versions.insert(record.key.clone(), version).unwrap_or(0);
        ensure!(version == previous + 1, "dossier {}: version {version} after {previous}", record.key);
    }
    ensure!(seen.len() == ids.len() && seen.values().all(|n| *n == 1), "each event once: {seen:?}");
    ensure!(ids.iter().all(|id| seen.contains_key(id)), "every written event received");
    tokio::task::block_in_place(|| drop(consumer));
    mesh.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_committing_out_of_order_reach_the_consumer_once_in_order() -> Result<()> {
    writers_committing_out_of_order_reach_the_consumer_once_in_order(
        TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writers_committing_out_of_order_reach_the_consumer_once_in_order() -> Result<()> {
    writers_committing_out_of_order_reach_the_consumer_once_in_order(
        TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?,
    )
    .await
}

/// Events without a topic (the saga services' own aggregates) are not published, and the
/// checkpoint passes them once the relay has caught up, so that polls do not scan them again:
/// first through a batch that was not full, then through a read that found nothing.
async fn the_checkpoint_passes_events_without_a_topic(test_db: TestDatabase) -> Result<()> {
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    let ids = append_events(&db, "p-1", 0, 2, DOSSIER_TOPIC).await?;
    let quiet = StreamRef::new("product", "q-1");
    let events: Vec<NewEvent> = (0..5).map(|i| NewEvent::new("Restocked", vec![i])).collect();
    let last = db
        .transaction::<_, fleuve_store::StoreError, _>(move |conn| {
            let meta = EventMetadata::new("corr-q", "user:alice");
            append(conn, &quiet, ExpectedVersion::Any, &events, &meta, None)
        })
        .await?
        .last_version;
    ensure!(last == 5, "five quiet events");
    let newest = db.run(|conn| fleuve_store::event_store::last_position(conn)).await?;

    let mut relay = mesh.relay(&db)?;
    let deadline = Instant::now() + OP_TIMEOUT;
    let mut published = 0;
    loop {
        published += relay.drain().await?;
        let checkpoint = db.run(|conn| fleuve_store::event_store::outbox_checkpoint(conn)).await?;
        if checkpoint == newest {
            break;
        }
        ensure!(Instant::now() < deadline, "checkpoint {checkpoint}, newest event {newest}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(published == 2, "only the events with a topic: {published}");
    ensure!(pending_count(&db).await? == 0, "nothing waits");

    // Only events without a topic since: a read finds nothing, and the checkpoint moves.
    let quiet = StreamRef::new("product", "q-2");
    db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
        let meta = EventMetadata::new("corr-q", "user:alice");
        append(conn, &quiet, ExpectedVersion::Any, &[NewEvent::new("Restocked", vec![9])], &meta, None)
    })
    .await?;
    let newest = db.run(|conn| fleuve_store::event_store::last_position(conn)).await?;
    let deadline = Instant::now() + OP_TIMEOUT;
    loop {
        ensure!(relay.drain().await? == 0, "nothing to publish");
        let checkpoint = db.run(|conn| fleuve_store::event_store::outbox_checkpoint(conn)).await?;
        if checkpoint == newest {
            break;
        }
        ensure!(Instant::now() < deadline, "checkpoint {checkpoint}, newest event {newest}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.close().await;
    let got = published_ids(&mesh, "relay-quiet", 2).await?;
    ensure!(got == ids, "{got:?}");
    mesh.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_checkpoint_passes_events_without_a_topic() -> Result<()> {
    the_checkpoint_passes_events_without_a_topic(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_checkpoint_passes_events_without_a_topic() -> Result<()> {
    the_checkpoint_passes_events_without_a_topic(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?).await
}

/// Holds a write transaction of `db` open (it has a transaction id) for `open`; returns once
/// it is open, with the task that commits it.
async fn hold_write_transaction(
    db: &Database,
    open: Duration,
) -> Result<tokio::task::JoinHandle<Result<(), fleuve_store::StoreError>>> {
    use diesel::RunQueryDsl as _;
    let (opened, is_open) = tokio::sync::oneshot::channel();
    let db = db.clone();
    let writer = tokio::spawn(async move {
        db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
            // Assigns the transaction its id, as its first write would.
            diesel::sql_query("SELECT pg_current_xact_id()").execute(conn)?;
            let _ = opened.send(());
            std::thread::sleep(open);
            Ok(())
        })
        .await
    });
    is_open.await.context("the write transaction did not open")?;
    Ok(writer)
}

/// `drain` and `run_once` publish every event committed before they were called, even while
/// another write transaction of the database is open: they wait for the watermark to pass
/// those events. Before, a relay whose watermark had not passed them yet (any relay just
/// created, or one that had not polled since) published nothing and returned 0 whenever some
/// write transaction was running, which lost the last events of the consumer's rebalance storm
/// test and left the poison test waiting for events that were never sent. A transaction held
/// open past the relay's drain wait makes the drain publish what the watermark passed, then
/// fail, saying so, rather than return short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_publishes_what_was_committed_before_it_while_another_transaction_is_open() -> Result<()> {
    let test_db = TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?;
    let db = test_db.database().clone();
    let mesh = Mesh::start().await?;
    let mut ids = append_events(&db, "w-1", 0, 3, DOSSIER_TOPIC).await?;

    // A new relay drains while a write transaction opened after the appends is still open;
    // it ends 300 ms later.
    let mut relay = mesh.relay(&db)?;
    let writer = hold_write_transaction(&db, Duration::from_millis(300)).await?;
    let started = Instant::now();
    let published = timeout(DRAIN_TIMEOUT, relay.drain()).await??;
    ensure!(published == 3, "the three committed events published, not {published}");
    // Not before the transaction ended (300 ms after it opened; the margin covers a slow wake-up here).
    ensure!(started.elapsed() >= Duration::from_millis(150), "the drain waited for the open transaction");
    writer.await??;

    // The same relay, later: new events and another open transaction; one batch publishes them.
    ids.extend(append_events(&db, "w-1", 3, 2, DOSSIER_TOPIC).await?);
    let writer = hold_write_transaction(&db, Duration::from_millis(300)).await?;
    let published = timeout(DRAIN_TIMEOUT, relay.run_once()).await??;
    ensure!(published == 2, "one batch publishes the two new events, not {published}");
    writer.await??;

    // A transaction left open past the drain wait. The watermark had passed one event (read,
    // not published, before the transaction began) but not the next: the drain publishes the
    // first, then fails and names the cause.
    ids.extend(append_events(&db, "w-1", 5, 1, DOSSIER_TOPIC).await?);
    let mut relay = relay.with_drain_wait(Duration::from_millis(400));
    ensure!(relay.pending().await?.len() == 1, "the watermark passes the event");
    let writer = hold_write_transaction(&db, Duration::from_secs(2)).await?;
    ids.extend(append_events(&db, "w-1", 6, 1, DOSSIER_TOPIC).await?);
    let error = timeout(DRAIN_TIMEOUT, relay.drain()).await?.expect_err("the watermark is held");
    ensure!(
        matches!(error, BusError::WatermarkHeld { published: 1, .. }) && error.to_string().contains("transaction"),
        "{error}"
    );
    writer.await??;
    ensure!(timeout(DRAIN_TIMEOUT, relay.drain()).await?? == 1, "then it goes out");
    relay.close().await;

    let got = published_ids(&mesh, "relay-held", 7).await?;
    ensure!(got == ids, "{got:?}");
    mesh.stop().await
}
