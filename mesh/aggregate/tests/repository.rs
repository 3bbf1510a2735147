//! The repository against real databases (each test once on SQLite, once on PostgreSQL): loads
//! from snapshot + tail equal full replays, snapshots of another schema or unreadable ones are
//! ignored, outbox rows follow the aggregate's topic, and `transact` retries lost races only
//! as far as it is told.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fleuve_aggregate::{Aggregate, DomainError, IsConflict, Loaded, Retries, Snapshots, repository};
use fleuve_proto::stock::v1 as pb;
use fleuve_store::event_store::{self, EventMetadata, StreamRef};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{DbConnection, EVENT_STORE_MIGRATIONS, StoreError};
use prost::Message as _;

/// A counter whose stream is snapshotted every three events.
#[derive(Debug, Clone, Default, PartialEq)]
struct Counter {
    total: u64,
    events: u64,
}

impl Aggregate for Counter {
    const KIND: &'static str = "counter";
    const TOPIC: Option<&'static str> = Some("counters");
    const SNAPSHOTS: Option<Snapshots<Counter>> = Some(Snapshots {
        schema_version: 2,
        every: 3,
        encode: |c| pb::Product { available: c.total, reserved: c.events, ..pb::Product::default() }.encode_to_vec(),
        decode: |bytes| pb::Product::decode(bytes).map(|p| Counter { total: p.available, events: p.reserved }),
    });
    type Event = pb::ProductEvent;
    type Command = u64;
    type Context = ();
    type Error = DomainError;

    fn handle(&self, add: u64, _: &()) -> Result<Vec<pb::ProductEvent>, DomainError> {
        if add == 0 {
            return Err(DomainError::Invalid("nothing to add".into()));
        }
        let event =
            pb::product_event::Event::Restocked(pb::ProductRestocked { quantity: add, reference: String::new() });
        Ok(vec![pb::ProductEvent { occurred_at: None, event: Some(event) }])
    }

    fn apply(&mut self, event: &pb::ProductEvent) {
        self.events += 1;
        if let Some(pb::product_event::Event::Restocked(e)) = &event.event {
            self.total += e.quantity;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Decode(#[from] prost::DecodeError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl IsConflict for TestError {
    fn is_conflict(&self) -> bool {
        matches!(self, TestError::Store(e) if e.is_conflict())
    }
}

fn meta() -> EventMetadata {
    EventMetadata::new("corr-1", "tester")
}

fn load(conn: &mut DbConnection, id: &str) -> Result<Loaded<Counter>, TestError> {
    repository::load(conn, id)
}

fn add(conn: &mut DbConnection, id: &str, n: u64) -> Result<Loaded<Counter>, TestError> {
    let counter = load(conn, id)?;
    Ok(repository::execute::<Counter, TestError>(conn, counter, n, &(), &meta())?.loaded)
}

async fn both(test: impl AsyncFn(TestDatabase) -> anyhow::Result<()>) -> anyhow::Result<()> {
    test(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?).await?;
    test(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_tail_load_the_state_of_the_full_replay() -> anyhow::Result<()> {
    both(async |test| {
        let db = test.database();
        for n in 1..=10u64 {
            let counter = db.transaction(move |conn| add(conn, "c", n)).await?;
            let replayed: Loaded<Counter> = db.run(|conn| repository::replay::<Counter, TestError>(conn, "c")).await?;
            assert_eq!(counter, replayed, "after {n} events");
            assert_eq!(db.run(|conn| load(conn, "c")).await?, replayed, "loaded after {n} events");
        }
        let stream = StreamRef::new("counter", "c");
        let snapshot = db.run(move |conn| event_store::load_snapshot(conn, &stream)).await?.expect("a snapshot");
        assert_eq!((snapshot.version, snapshot.schema_version), (9, 2), "taken when the stream crossed 9");
        assert_eq!(load_state(db).await?, (Counter { total: 55, events: 10 }, 10));
        let queued = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
        assert_eq!(queued.len(), 10);
        assert!(queued.iter().all(|(row, event)| row.topic == "counters" && event.event_type == "ProductRestocked"));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_schema_or_unreadable_is_ignored() -> anyhow::Result<()> {
    both(async |test| {
        let db = test.database();
        for n in 1..=4u64 {
            db.transaction(move |conn| add(conn, "c", n)).await?;
        }
        // A snapshot in an older encoding, claiming a wrong state at the current version.
        let stale = pb::Product { available: 999, reserved: 4, ..pb::Product::default() }.encode_to_vec();
        let stream = StreamRef::new("counter", "c");
        let write = |schema: i32, state: Vec<u8>| {
            let stream = stream.clone();
            db.transaction(move |conn| event_store::save_snapshot(conn, &stream, 4, schema, &state))
        };
        write(1, stale).await?;
        assert_eq!(load_state(db).await?, (Counter { total: 10, events: 4 }, 4), "schema 1 is not read");
        write(2, b"\xff\xff not protobuf".to_vec()).await?;
        assert_eq!(load_state(db).await?, (Counter { total: 10, events: 4 }, 4), "garbage is not read");
        Ok(())
    })
    .await
}

/// On PostgreSQL only: SQLite has one writer at a time, so the racing append could not run
/// inside the transaction it races with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_retries_a_lost_race_on_a_fresh_load_only_when_told() -> anyhow::Result<()> {
    {
        let test = TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?;
        let db = test.database().clone();
        db.transaction(|conn| add(conn, "c", 1)).await?;
        // Each first run of `work` loses: another transaction appends between its load and
        // its save.
        let runs = Arc::new(AtomicUsize::new(0));
        let racing = |retries: Retries| {
            let (db2, runs) = (db.clone(), Arc::clone(&runs));
            repository::transact(&db, retries, move |conn| {
                let counter = load(conn, "c")?;
                if runs.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                    db2.transaction_blocking(|other| add(other, "c", 100))?;
                }
                let saved = repository::execute::<Counter, TestError>(conn, counter, 1, &(), &meta())?;
                Ok(saved.loaded)
            })
        };
        let counter = racing(Retries::UpTo(1)).await?;
        assert_eq!((counter.state.total, counter.version), (102, 3), "decided again after the race");
        assert_eq!(runs.swap(0, Ordering::SeqCst), 2);
        let lost: TestError = racing(Retries::None).await.expect_err("no retry");
        assert!(lost.is_conflict(), "{lost}");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        Ok(())
    }
}

async fn load_state(db: &fleuve_store::Database) -> anyhow::Result<(Counter, i64)> {
    let loaded = db.run(|conn| load(conn, "c")).await?;
    Ok((loaded.state, loaded.version))
}
