//! The consumer runtime against a real embedded broker, a real registry server and real
//! PostgreSQL / SQLite: exactly-once effects under redelivery, dead letters, redrive.
//!
//! The projection under test ("tally") counts the events of each dossier and keeps the order
//! it saw them in; it refuses (permanently) a withdrawal whose reason is listed in the
//! `blocked` table — the "cause" a test fixes before redriving — and fails transiently on
//! reasons starting with `flaky` for the first two attempts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use diesel::prelude::*;
use fleuve_bus::projection::{ConsumedEvent, HandlerError, Projection};
use fleuve_bus::{ConsumerSettings, EmbeddedBroker, OutboxRelay, ProjectionConsumer, TopicSchema, encode_confluent};
use fleuve_proto::homologation::v1::{DossierEvent, DossierWithdrawn, dossier_event};
use fleuve_registry::RegistryServer;
use fleuve_store::consumer::{DeadLetterFilter, DeadLetterStatus, dead_letter_list, inbox_count};
use fleuve_store::event_store::{EventMetadata, ExpectedVersion, NewEvent, StreamRef, append};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, DbConnection, EVENT_STORE_MIGRATIONS};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const TOPIC: &str = "homologation.dossier.v1";
const MESSAGE: &str = "fleuve.homologation.v1.DossierEvent";
const EVENTS_FILE: &str = "fleuve/homologation/v1/events.proto";
const WAIT: Duration = Duration::from_secs(45);

diesel::table! {
    tally (dossier) {
        dossier -> Text,
        events -> BigInt,
        seen -> Text,
    }
}

diesel::table! {
    blocked (reason) {
        reason -> Text,
    }
}

struct Tally {
    name: String,
    flaky: Mutex<HashMap<String, Arc<AtomicU32>>>,
    /// Records of different keys applied at once.
    concurrency: usize,
    /// Time each apply takes (a slow projection lets records pile up).
    slow: Duration,
}

impl Tally {
    fn new(name: &str) -> Arc<Tally> {
        Tally::concurrent(name, 1, Duration::ZERO)
    }

    fn concurrent(name: &str, concurrency: usize, slow: Duration) -> Arc<Tally> {
        Arc::new(Tally { name: name.to_owned(), flaky: Mutex::new(HashMap::new()), concurrency, slow })
    }
}

impl Projection for Tally {
    fn name(&self) -> &str {
        &self.name
    }

    fn topics(&self) -> Vec<TopicSchema> {
        vec![TopicSchema::new(TOPIC, MESSAGE, EVENTS_FILE)]
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        std::thread::sleep(self.slow);
        let decoded: DossierEvent = event.decode()?;
        let Some(dossier_event::Event::Withdrawn(w)) = decoded.event else {
            return Err(HandlerError::Permanent(format!("unexpected event {}", event.event_type)));
        };
        let refused: i64 = blocked::table.filter(blocked::reason.eq(&w.reason)).count().get_result(conn)?;
        if refused > 0 {
            return Err(HandlerError::Permanent(format!("reason {} is blocked", w.reason)));
        }
        if w.reason.starts_with("flaky") {
            let counter = self.flaky.lock().unwrap().entry(event.event_id.clone()).or_default().clone();
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(HandlerError::Transient(format!("{} not ready yet", w.reason)));
            }
        }
        let current: Option<(i64, String)> =
            tally::table.find(&event.aggregate_id).select((tally::events, tally::seen)).first(conn).optional()?;
        match current {
            None => {
                diesel::insert_into(tally::table)
                    .values((tally::dossier.eq(&event.aggregate_id), tally::events.eq(1), tally::seen.eq(&w.reason)))
                    .execute(conn)?;
            }
            Some((events, seen)) => {
                diesel::update(tally::table.find(&event.aggregate_id))
                    .set((tally::events.eq(events + 1), tally::seen.eq(format!("{seen},{}", w.reason))))
                    .execute(conn)?;
            }
        }
        Ok(())
    }
}

struct Mesh {
    broker: EmbeddedBroker,
    registry: RegistryServer,
    registry_url: String,
}

impl Mesh {
    async fn start() -> Result<Mesh> {
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let broker = timeout(WAIT, EmbeddedBroker::start(listen)).await.context("broker start timed out")??;
        timeout(WAIT, fleuve_bus::ensure_topics(&broker.bus_config(), &[TOPIC], 3, 1)).await??;
        let (addr, registry) = RegistryServer::start(listen).await?;
        Ok(Mesh { broker, registry, registry_url: format!("http://{addr}") })
    }

    fn relay(&self, db: &Database) -> Result<OutboxRelay> {
        let topics = vec![TopicSchema::new(TOPIC, MESSAGE, EVENTS_FILE)];
        Ok(OutboxRelay::new(db.clone(), &self.broker.bus_config(), &self.registry_url, topics)?)
    }

    async fn consumer(
        &self,
        db: &Database,
        projection: Arc<Tally>,
        group: Option<&str>,
    ) -> Result<Arc<ProjectionConsumer>> {
        let settings = ConsumerSettings {
            initial_backoff: Duration::from_millis(20),
            group_id: group.map(str::to_owned),
            ..ConsumerSettings::default()
        };
        self.consumer_with(db, projection, settings).await
    }

    async fn consumer_with(
        &self,
        db: &Database,
        projection: Arc<Tally>,
        settings: ConsumerSettings,
    ) -> Result<Arc<ProjectionConsumer>> {
        let consumer =
            ProjectionConsumer::new(projection, db.clone(), &self.broker.bus_config(), &self.registry_url, settings)?;
        timeout(WAIT, consumer.ensure_dlq_topics(3, 1)).await??;
        Ok(Arc::new(consumer))
    }

    async fn stop(self) -> Result<()> {
        self.registry.shutdown().await?;
        self.broker.shutdown().await;
        Ok(())
    }
}

/// A consumer running on its own task.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), fleuve_bus::BusError>>,
}

fn run(consumer: &Arc<ProjectionConsumer>) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(consumer.clone().run(async move {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        timeout(WAIT, self.task).await.context("consumer did not stop")???;
        Ok(())
    }
}

async fn database(postgres: bool) -> Result<TestDatabase> {
    let db = if postgres {
        TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?
    } else {
        TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?
    };
    db.database()
        .run(|conn| {
            diesel::sql_query(
                "CREATE TABLE tally (dossier TEXT PRIMARY KEY NOT NULL, events BIGINT NOT NULL, seen TEXT NOT NULL)",
            )
            .execute(conn)?;
            diesel::sql_query("CREATE TABLE blocked (reason TEXT PRIMARY KEY NOT NULL)").execute(conn)?;
            Ok::<_, fleuve_store::StoreError>(())
        })
        .await?;
    Ok(db)
}

/// Appends one withdrawal per reason to dossier `id` (outbox rows on the topic).
async fn append_reasons(db: &Database, id: &str, reasons: &[&str]) -> Result<()> {
    let stream = StreamRef::new("dossier", id);
    let events: Vec<NewEvent> = reasons
        .iter()
        .map(|reason| {
            let event = DossierEvent {
                occurred_at: None,
                event: Some(dossier_event::Event::Withdrawn(DossierWithdrawn { reason: (*reason).to_owned() })),
            };
            NewEvent::new("DossierWithdrawn", event.encode_to_vec())
        })
        .collect();
    let meta = EventMetadata::new(format!("corr-{id}"), "user:test")
        .with_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    db.transaction::<_, fleuve_store::StoreError, _>(move |conn| {
        append(conn, &stream, ExpectedVersion::Any, &events, &meta, Some(TOPIC))
    })
    .await?;
    Ok(())
}

async fn tallies(db: &Database) -> Result<HashMap<String, (i64, String)>> {
    let rows: Vec<(String, i64, String)> =
        db.run(|conn| Ok::<_, fleuve_store::StoreError>(tally::table.load::<(String, i64, String)>(conn)?)).await?;
    Ok(rows.into_iter().map(|(d, n, s)| (d, (n, s))).collect())
}

async fn parked(db: &Database, consumer: &str) -> Result<Vec<fleuve_store::consumer::DeadLetter>> {
    let filter = DeadLetterFilter {
        consumer: Some(consumer.to_owned()),
        status: Some(DeadLetterStatus::Parked),
        after_id: None,
        limit: 1000,
    };
    Ok(db.run(move |conn| dead_letter_list(conn, &filter)).await?)
}

/// Where a topic's records stand, per partition: the high watermark the broker lists, the
/// records a fresh reader gets from offset 0, and `group`'s committed offset. Printed when a
/// test finds events missing, to tell a broker that lost or hid records from a consumer that
/// stopped short.
async fn audit(mesh: &Mesh, group: &str) -> String {
    use rdkafka::TopicPartitionList;
    let config = mesh.broker.bus_config();
    let (reader, member): (StreamConsumer, StreamConsumer) =
        match (config.consumer_config("audit-reader").create(), config.consumer_config(group).create()) {
            (Ok(reader), Ok(member)) => (reader, member),
            (Err(error), _) | (_, Err(error)) => return format!("audit failed: {error}"),
        };
    let mut report = Vec::new();
    for partition in 0..3 {
        let listed = tokio::task::block_in_place(|| reader.fetch_watermarks(TOPIC, partition, Duration::from_secs(10)));
        let mut list = TopicPartitionList::new();
        list.add_partition(TOPIC, partition);
        let committed = tokio::task::block_in_place(|| member.committed_offsets(list, Duration::from_secs(10)))
            .map(|offsets| offsets.find_partition(TOPIC, partition).map(|p| p.offset()));
        let mut assignment = TopicPartitionList::new();
        let assigned = assignment
            .add_partition_offset(TOPIC, partition, rdkafka::Offset::Beginning)
            .and_then(|()| reader.assign(&assignment));
        let (mut read, mut last, mut errors) = (0, -1, 0);
        while assigned.is_ok() {
            match timeout(Duration::from_secs(3), reader.recv()).await {
                Ok(Ok(message)) => {
                    read += 1;
                    last = message.offset();
                }
                Ok(Err(_)) if errors < 10 => errors += 1,
                Ok(Err(_)) | Err(_) => break,
            }
        }
        report.push(format!(
            "partition {partition}: listed {listed:?}, {read} read (last offset {last}, {errors} receive errors, \
             assigned {assigned:?}), committed {committed:?}"
        ));
    }
    // Closing a consumer blocks on the broker.
    tokio::task::block_in_place(|| drop((reader, member)));
    report.join("; ")
}

/// Polls `check` until it holds or `WAIT` passes.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn exactly_once_under_redelivery(postgres: bool) -> Result<()> {
    let mesh = Mesh::start().await?;
    let test_db = database(postgres).await?;
    let db = test_db.database().clone();

    // The relay publishes, then "crashes" before marking: the rows stay pending.
    append_reasons(&db, "a", &["a0", "a1", "a2"]).await?;
    append_reasons(&db, "b", &["b0", "b1"]).await?;
    let mut relay = mesh.relay(&db)?;
    let batch = relay.pending().await?;
    ensure!(batch.len() == 5, "5 pending rows, got {}", batch.len());
    let report = relay.publish(&batch).await?;
    ensure!(report.delivered.len() == 5, "{report:?}");
    relay.close().await;
    // A new relay publishes the same rows again and marks them: each event is on Kafka twice.
    let mut relay = mesh.relay(&db)?;
    ensure!(relay.run_once().await? == 5, "the second relay republishes the 5 rows");
    relay.close().await;

    let tally = Tally::new("tally");
    let consumer = mesh.consumer(&db, tally.clone(), None).await?;
    let running = run(&consumer);
    eventually("10 records consumed", || async {
        let t = tallies(&db).await?;
        let applied = db.run(|conn| inbox_count(conn, "tally")).await?;
        Ok(t.get("a").map(|x| x.0) == Some(3) && t.get("b").map(|x| x.0) == Some(2) && applied == 5)
    })
    .await?;
    // Give the duplicates time to arrive and be skipped, then check nothing moved.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = tallies(&db).await?;
    ensure!(t["a"] == (3, "a0,a1,a2".to_owned()), "dossier a applied once each, in order: {:?}", t["a"]);
    ensure!(t["b"] == (2, "b0,b1".to_owned()), "dossier b applied once each, in order: {:?}", t["b"]);
    running.stop().await?;

    // A consumer restarted from older offsets (a new group starts at the earliest) sees every
    // record again, twice each, and changes nothing.
    let replay = mesh.consumer(&db, tally.clone(), Some("tally-replay")).await?;
    let running = run(&replay);
    append_reasons(&db, "c", &["c0"]).await?;
    let mut relay = mesh.relay(&db)?;
    relay.run_once().await?;
    relay.close().await;
    eventually("the replay reaches the new event", || async {
        Ok(tallies(&db).await?.get("c").map(|x| x.0) == Some(1))
    })
    .await?;
    let t = tallies(&db).await?;
    ensure!(t["a"].0 == 3 && t["b"].0 == 2, "the replay changed nothing: {t:?}");
    ensure!(db.run(|conn| inbox_count(conn, "tally")).await? == 6, "6 events applied in all");
    ensure!(parked(&db, "tally").await?.is_empty(), "no dead letters");
    running.stop().await?;

    Arc::into_inner(consumer).context("consumer still shared")?.close().await;
    Arc::into_inner(replay).context("consumer still shared")?.close().await;
    mesh.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_records_have_one_effect_on_postgres() -> Result<()> {
    exactly_once_under_redelivery(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_records_have_one_effect_on_sqlite() -> Result<()> {
    exactly_once_under_redelivery(false).await
}

/// Records that arrive while the consumer's one transaction is busy are applied together,
/// each once and in its key's order; a refused record among them rolls its lot back, the
/// others are then applied one by one and it is parked (with the rest of its key behind it).
async fn records_waiting_for_a_transaction_are_applied_together(postgres: bool) -> Result<()> {
    let mesh = Mesh::start().await?;
    let test_db = database(postgres).await?;
    let db = test_db.database().clone();
    db.run(|conn| {
        diesel::insert_into(blocked::table).values(blocked::reason.eq("k3-1")).execute(conn)?;
        Ok::<_, fleuve_store::StoreError>(())
    })
    .await?;
    let keys: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
    for key in &keys {
        let reasons: Vec<String> = (0..3).map(|i| format!("{key}-{i}")).collect();
        append_reasons(&db, key, &reasons.iter().map(String::as_str).collect::<Vec<_>>()).await?;
    }
    let mut relay = mesh.relay(&db)?;
    ensure!(relay.run_once().await? == 36, "36 events published");
    relay.close().await;

    let tally = Tally::concurrent("together", 8, Duration::from_millis(20));
    let settings = ConsumerSettings {
        initial_backoff: Duration::from_millis(20),
        max_concurrency: 8,
        max_transactions: 1,
        ..ConsumerSettings::default()
    };
    let consumer = mesh.consumer_with(&db, tally, settings).await?;
    let running = run(&consumer);
    eventually("every record settled", || async { Ok(consumer.stats().settled == 36) }).await?;
    running.stop().await?;

    let t = tallies(&db).await?;
    for key in keys.iter().filter(|k| *k != "k3") {
        ensure!(t[key] == (3, format!("{key}-0,{key}-1,{key}-2")), "{key} applied once each, in order: {:?}", t[key]);
    }
    ensure!(t["k3"] == (1, "k3-0".to_owned()), "k3 stops at its refused event: {:?}", t["k3"]);
    ensure!(db.run(|conn| inbox_count(conn, "together")).await? == 34, "34 events applied");
    let letters = parked(&db, "together").await?;
    ensure!(letters.len() == 2 && letters.iter().all(|l| l.key.as_deref() == Some("k3")), "{letters:?}");
    let stats = consumer.stats();
    ensure!(stats.applied_together >= 20 && stats.groups < 20, "records were applied together: {stats:?}");
    Arc::into_inner(consumer).context("consumer still shared")?.close().await;
    mesh.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_are_applied_together_on_postgres() -> Result<()> {
    records_waiting_for_a_transaction_are_applied_together(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_are_applied_together_on_sqlite() -> Result<()> {
    records_waiting_for_a_transaction_are_applied_together(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_records_are_parked_without_blocking_other_keys_and_redriven_once() -> Result<()> {
    let mesh = Mesh::start().await?;
    let test_db = database(true).await?;
    let db = test_db.database().clone();
    let tally = Tally::new("tally");
    let consumer = mesh.consumer(&db, tally.clone(), None).await?;
    let running = run(&consumer);

    // Two records that can never be decoded.
    let producer: FutureProducer = mesh.broker.bus_config().producer_config().create()?;
    let garbage = FutureRecord::to(TOPIC).key("junk").payload(&b"not protobuf"[..]);
    producer.send(garbage, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
    let unknown = encode_confluent(999_999, &[0], b"");
    let unknown_record = FutureRecord::to(TOPIC).key("ghost").payload(&unknown);
    producer.send(unknown_record, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;

    // Dossier b's first event is refused; a flows, including a transiently failing event.
    db.run(|conn| {
        diesel::insert_into(blocked::table).values(blocked::reason.eq("b0")).execute(conn)?;
        Ok::<_, fleuve_store::StoreError>(())
    })
    .await?;
    append_reasons(&db, "b", &["b0", "b1", "b2"]).await?;
    append_reasons(&db, "a", &["a0", "flaky-a1", "a2"]).await?;
    let mut relay = mesh.relay(&db)?;
    relay.run_once().await?;
    relay.close().await;

    let settled = eventually("a applied and b parked", || async {
        let t = tallies(&db).await?;
        Ok(t.get("a").map(|x| x.0) == Some(3) && parked(&db, "tally").await?.len() == 5)
    })
    .await;
    if let Err(e) = settled {
        let letters: Vec<_> =
            parked(&db, "tally").await?.into_iter().map(|l| (l.key, l.offset, l.attempts, l.error)).collect();
        anyhow::bail!(
            "{e}: tallies {:?}, parked letters {letters:?}; {}",
            tallies(&db).await?,
            audit(&mesh, "tally").await
        );
    }
    let t = tallies(&db).await?;
    ensure!(t["a"] == (3, "a0,flaky-a1,a2".to_owned()), "a kept flowing, retried past the transient failure");
    ensure!(!t.contains_key("b"), "nothing of b applied while its first event is parked");
    let letters = parked(&db, "tally").await?;
    let reason = |key: &str| -> Vec<String> {
        letters.iter().filter(|l| l.key.as_deref() == Some(key)).map(|l| l.error.clone()).collect()
    };
    ensure!(reason("junk")[0].contains("not a Confluent protobuf frame"), "{:?}", reason("junk"));
    ensure!(reason("ghost")[0].contains("999999"), "unknown schema id named: {:?}", reason("ghost"));
    let b = reason("b");
    ensure!(b.len() == 3, "b's three events parked: {b:?}");
    ensure!(b[0].contains("reason b0 is blocked"), "{b:?}");
    ensure!(b[1].contains("waiting behind dead letter") && b[2].contains("waiting behind dead letter"), "{b:?}");
    let b_letter = letters.iter().find(|l| l.key.as_deref() == Some("b")).unwrap();
    ensure!(b_letter.correlation_id.as_deref() == Some("corr-b"), "correlation id kept: {b_letter:?}");
    ensure!(b_letter.topic == TOPIC && b_letter.offset >= 0 && b_letter.partition >= 0, "{b_letter:?}");

    // The same records are on the dead-letter topic with their reason.
    let dlq: StreamConsumer = mesh.broker.bus_config().consumer_config("dlq-reader").create()?;
    dlq.subscribe(&[&format!("{TOPIC}.dlq")])?;
    let mut reasons = Vec::new();
    while reasons.len() < 5 {
        let message = timeout(WAIT, dlq.recv()).await.context("dlq topic record")??;
        let error = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "dlq_error").and_then(|h| h.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .context("dlq_error header")?;
        reasons.push(error);
    }
    ensure!(reasons.iter().any(|r| r.contains("reason b0 is blocked")), "{reasons:?}");
    tokio::task::block_in_place(|| drop(dlq));

    // Redriving b's second letter first is refused: order per key.
    let second = letters.iter().filter(|l| l.key.as_deref() == Some("b")).nth(1).unwrap().id;
    let early = consumer.redrive(second).await?;
    ensure!(!early.redriven && early.error.as_deref().unwrap_or("").contains("first"), "{early:?}");

    // Fix the cause, redrive everything: b applies once, in order; the garbage stays parked.
    db.run(|conn| {
        diesel::delete(blocked::table).execute(conn)?;
        Ok::<_, fleuve_store::StoreError>(())
    })
    .await?;
    let outcomes = consumer.redrive_all().await?;
    let redriven = outcomes.iter().filter(|o| o.redriven).count();
    ensure!(redriven == 3, "b's three letters redriven: {outcomes:?}");
    ensure!(tallies(&db).await?["b"] == (3, "b0,b1,b2".to_owned()), "b applied once each, in order");
    let left = parked(&db, "tally").await?;
    ensure!(
        left.len() == 2 && left.iter().all(|l| l.attempts >= 2),
        "garbage still parked, attempts counted: {left:?}"
    );

    // A second redrive of a redriven letter changes nothing.
    let again = consumer.redrive(b_letter.id).await?;
    ensure!(!again.redriven && again.error.as_deref().unwrap_or("").contains("redriven"), "{again:?}");
    ensure!(tallies(&db).await?["b"].0 == 3, "still applied once");

    // New events of b now flow directly again.
    append_reasons(&db, "b", &["b3"]).await?;
    let mut relay = mesh.relay(&db)?;
    relay.run_once().await?;
    relay.close().await;
    eventually("b3 applied", || async { Ok(tallies(&db).await?["b"].0 == 4) }).await?;

    running.stop().await?;
    tokio::task::block_in_place(|| drop(producer));
    Arc::into_inner(consumer).context("consumer still shared")?.close().await;
    mesh.stop().await?;
    Ok(())
}

/// Events of the storm test (`FLEUVE_STORM_EVENTS` for a larger run): one per dossier per round.
fn storm_events() -> usize {
    std::env::var("FLEUVE_STORM_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// A rebalance storm: while 10 000 events flow (200 dossiers, one event each per round, the
/// relay publishing as they are appended), replicas of one consumer group join and leave every
/// 2 s (one to three at a time, each a new member; a leaving one stops gracefully). Afterwards
/// every dossier's events were applied exactly once and in order, the inbox holds one row per
/// event and nothing was parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_storm_loses_repeats_and_reorders_nothing() -> Result<()> {
    const DOSSIERS: usize = 200;
    const GROUP: &str = "tally-storm";
    let rounds = storm_events().div_ceil(DOSSIERS);
    let mesh = Arc::new(Mesh::start().await?);
    let test_db = database(true).await?;
    let db = test_db.database().clone();
    let tally = Tally::new("tally");

    let (stop_writing, writing_stopped) = oneshot::channel::<()>();
    let writer = tokio::spawn({
        let db = db.clone();
        async move {
            for round in 0..rounds {
                for dossier in 0..DOSSIERS {
                    append_reasons(&db, &format!("d{dossier}"), &[&round.to_string()]).await?;
                }
            }
            anyhow::Ok(())
        }
    });
    let relay = tokio::spawn({
        let mut relay = mesh.relay(&db)?.with_poll_interval(Duration::from_millis(20));
        async move {
            relay.run(async move { _ = writing_stopped.await }).await;
            relay.drain().await?;
            relay.close().await;
            anyhow::Ok(())
        }
    });

    // The storm: every 2 s a replica joins (up to three) or the oldest leaves (down to one).
    let started = Instant::now();
    let mut replicas: std::collections::VecDeque<(Arc<ProjectionConsumer>, Running)> = Default::default();
    let mut joins = 0;
    let mut leaves = 0;
    let mut growing = true;
    while !writer.is_finished() || replicas.len() > 1 {
        let join = replicas.is_empty() || (!writer.is_finished() && growing && replicas.len() < 3);
        if join {
            let consumer = mesh.consumer(&db, tally.clone(), Some(GROUP)).await?;
            let running = run(&consumer);
            replicas.push_back((consumer, running));
            joins += 1;
        } else if let Some((consumer, running)) = replicas.pop_front() {
            running.stop().await?;
            Arc::into_inner(consumer).context("consumer still shared")?.close().await;
            leaves += 1;
        }
        growing = match replicas.len() {
            3 => false,
            1 => true,
            _ => growing,
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    writer.await??;
    let _ = stop_writing.send(());
    relay.await??;
    let total = rounds * DOSSIERS;
    eprintln!("storm: {total} events appended in {:?}, {joins} joins and {leaves} leaves", started.elapsed());

    let expected_seen = (0..rounds).map(|r| r.to_string()).collect::<Vec<_>>().join(",");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let applied = db.run(|conn| inbox_count(conn, "tally")).await?;
        if usize::try_from(applied)? == total {
            break;
        }
        if Instant::now() >= deadline {
            let t = tallies(&db).await?;
            let mut short: Vec<String> = t
                .iter()
                .filter(|(_, (events, _))| usize::try_from(*events).unwrap_or(0) < rounds)
                .map(|(dossier, (events, _))| format!("{dossier}:{events}"))
                .collect();
            short.sort();
            anyhow::bail!(
                "{applied} of {total} events applied three minutes after the storm; short dossiers {short:?}; {}",
                audit(&mesh, GROUP).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let t = tallies(&db).await?;
    ensure!(t.len() == DOSSIERS, "{} dossiers tallied", t.len());
    for (dossier, (events, seen)) in &t {
        ensure!(usize::try_from(*events)? == rounds, "{dossier}: {events} events applied, {rounds} appended");
        ensure!(*seen == expected_seen, "{dossier}: applied in the order {seen}");
    }
    ensure!(parked(&db, "tally").await?.is_empty(), "no dead letters");
    eprintln!("storm: every event applied once, in order, {:?} after the start", started.elapsed());

    for (consumer, running) in replicas {
        running.stop().await?;
        Arc::into_inner(consumer).context("consumer still shared")?.close().await;
    }
    Arc::into_inner(mesh).context("mesh still shared")?.stop().await?;
    Ok(())
}

/// A static member fenced by another member of its instance id (Kafka's `FENCED_INSTANCE_ID`,
/// fatal in librdkafka: the consumer then receives nothing for good) is replaced by a new
/// consumer, which takes the instance's place back and applies what comes next. It can happen
/// after a broker restart: a commit under the member id from before the restart reaching the
/// coordinator after the instance joined again under a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fenced_static_member_is_replaced_and_consumes_again() -> Result<()> {
    const GROUP: &str = "tally-fenced";
    const INSTANCE: &str = "tally-0";
    let mesh = Mesh::start().await?;
    let test_db = database(true).await?;
    let db = test_db.database().clone();
    let settings = ConsumerSettings {
        initial_backoff: Duration::from_millis(20),
        group_id: Some(GROUP.to_owned()),
        instance_id: Some(INSTANCE.to_owned()),
        ..ConsumerSettings::default()
    };
    let consumer = mesh.consumer_with(&db, Tally::new("tally"), settings).await?;
    let running = run(&consumer);
    let publish = |id: &'static str, reason: &'static str| {
        let (db, relay) = (db.clone(), mesh.relay(&db));
        async move {
            append_reasons(&db, id, &[reason]).await?;
            let mut relay = relay?;
            relay.run_once().await?;
            relay.close().await;
            anyhow::Ok(())
        }
    };
    publish("a", "a0").await?;
    eventually("the first event applied", || async { Ok(tallies(&db).await?.get("a").map(|x| x.0) == Some(1)) })
        .await?;

    // Another consumer joins under the same instance id and takes the member's place: the
    // member's next heartbeat is answered FENCED_INSTANCE_ID.
    let mut intruder = mesh.broker.bus_config().consumer_config(GROUP);
    intruder.set("group.instance.id", INSTANCE);
    let intruder: Arc<StreamConsumer> = Arc::new(intruder.create()?);
    intruder.subscribe(&[TOPIC])?;
    let polling = tokio::spawn({
        let intruder = intruder.clone();
        async move {
            loop {
                let _ = intruder.recv().await;
            }
        }
    });
    eventually("the fenced consumer replaced", || async { Ok(consumer.stats().replaced >= 1) }).await?;
    polling.abort();
    let _ = polling.await;
    tokio::task::block_in_place(move || drop(intruder));

    // The replacement joined under the instance id again and gets what comes next.
    publish("a", "a1").await?;
    eventually("the event after the fencing applied", || async {
        Ok(tallies(&db).await?.get("a") == Some(&(2, "a0,a1".to_owned())))
    })
    .await?;
    ensure!(parked(&db, "tally").await?.is_empty(), "no dead letters");
    running.stop().await?;
    Arc::into_inner(consumer).context("consumer still shared")?.close().await;
    mesh.stop().await?;
    Ok(())
}
