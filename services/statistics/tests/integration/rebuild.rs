//! The rebuild: replay into the shadow table, swap it in, and let the live consumer catch up.

use diesel::{QueryableByName, RunQueryDsl, sql_types::BigInt};
use std::sync::Arc;

use fleuve_handler::{BatchError, ConsumedEvent, HandlerError, Projection, Rebuild};
use fleuve_statistics::{DossierStats, StatisticsProjection, Target};
use fleuve_store::event_store::{EventMetadata, ExpectedVersion, NewEvent, StreamRef, append};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Backend, Database, DbConnection, StoreError};

use crate::support::{events, feed, scenario};

on_both_backends!(
    a_rebuild_swaps_in_what_the_live_table_would_hold,
    the_shadow_is_cleared,
    a_batch_leaves_the_rows_one_event_at_a_time_would,
    a_batch_with_a_missing_event_names_it_and_writes_nothing,
    the_rebuild_replays_the_store_and_catches_up_in_the_swap
);

async fn rows(db: &Database, target: Target) -> anyhow::Result<Vec<DossierStats>> {
    let projection = StatisticsProjection::new(target);
    Ok(db.run(move |conn| projection.rows(conn)).await?)
}

#[test]
fn it_replays_the_dossier_streams_of_the_producer() {
    let rebuild = fleuve_statistics::rebuild();
    assert_eq!(rebuild.name(), "statistics");
    assert_eq!(rebuild.live().name(), "statistics");
    assert_ne!(rebuild.shadow().name(), rebuild.live().name());
    let sources = rebuild.sources();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].aggregate_type, fleuve_homologation::app::DOSSIER_AGGREGATE);
    let (topic, message, file) = fleuve_homologation::app::EVENT_TOPICS[0];
    assert_eq!(topic, fleuve_homologation::app::DOSSIER_TOPIC);
    assert_eq!((sources[0].schema.topic.as_str(), sources[0].schema.message.as_str()), (topic, message));
    assert_eq!(sources[0].schema.file, file);
    assert_eq!(rebuild.live().topics(), vec![sources[0].schema.clone()]);
}

/// The consumer lags (live has the first half of the events, plus a row that should not be
/// there); the rebuild replays everything into the shadow, swaps, and the consumer then
/// delivers the rest, which the live rows already reflect.
async fn a_rebuild_swaps_in_what_the_live_table_would_hold(db: TestDatabase) -> anyhow::Result<()> {
    let db = db.database().clone();
    let all = events(&scenario());
    let (first, rest) = all.split_at(all.len() / 2);
    let rebuild = fleuve_statistics::rebuild();

    let r = rebuild.clone();
    feed(&db, first, move |conn, e| r.live().apply(conn, e)).await?;
    let mut stray = all[0].clone();
    stray.aggregate_id = "stray".into();
    stray.payload = {
        use prost::Message;
        let mut envelope = fleuve_proto::homologation::v1::DossierEvent::decode(stray.payload.as_slice())?;
        if let Some(fleuve_proto::homologation::v1::dossier_event::Event::Created(c)) = &mut envelope.event {
            c.dossier_id = "stray".into();
        }
        envelope.encode_to_vec()
    };
    let r = rebuild.clone();
    feed(&db, &[stray], move |conn, e| r.live().apply(conn, e)).await?;
    assert!(rows(&db, Target::Live).await?.iter().any(|row| row.dossier_id == "stray"));

    let r = rebuild.clone();
    db.transaction(move |conn| r.clear_shadow(conn)).await?;
    let r = rebuild.clone();
    feed(&db, &all, move |conn, e| r.shadow().apply(conn, e)).await?;
    let shadow = rows(&db, Target::Shadow).await?;
    assert_eq!(shadow.len(), 10);

    let r = rebuild.clone();
    db.transaction(move |conn| {
        r.lock_live(conn)?;
        r.copy_shadow_to_live(conn)
    })
    .await?;
    assert_eq!(rows(&db, Target::Live).await?, shadow);

    let r = rebuild.clone();
    feed(&db, rest, move |conn, e| r.live().apply(conn, e)).await?;
    let live = rows(&db, Target::Live).await?;
    assert_eq!(live, shadow);

    // And that is what a live table fed from the start holds.
    let other = match db.backend() {
        Backend::Sqlite => TestDatabase::sqlite(&[fleuve_statistics::MIGRATIONS]).await?,
        Backend::Postgres => TestDatabase::postgres(&[fleuve_statistics::MIGRATIONS]).await?,
    };
    let p = fleuve_statistics::projection();
    feed(other.database(), &all, move |conn, e| p.apply(conn, e)).await?;
    assert_eq!(rows(other.database(), Target::Live).await?, live);
    Ok(())
}

async fn the_shadow_is_cleared(db: TestDatabase) -> anyhow::Result<()> {
    let db = db.database().clone();
    let rebuild = fleuve_statistics::rebuild();
    let r = rebuild.clone();
    feed(&db, &events(&scenario()), move |conn, e| r.shadow().apply(conn, e)).await?;
    assert_eq!(rows(&db, Target::Shadow).await?.len(), 10);
    assert!(rows(&db, Target::Live).await?.is_empty());
    let r = rebuild.clone();
    db.transaction(move |conn| r.clear_shadow(conn)).await?;
    assert!(rows(&db, Target::Shadow).await?.is_empty());
    Ok(())
}

/// The same events, one at a time into the live table and in batches into the shadow: the
/// batches are of 7 events, so they cut the dossiers' lives and fold into rows written by
/// earlier batches, and the second pass delivers every event again (rows already reflect them).
async fn a_batch_leaves_the_rows_one_event_at_a_time_would(db: TestDatabase) -> anyhow::Result<()> {
    let db = db.database().clone();
    let all = events(&scenario());
    let rebuild = fleuve_statistics::rebuild();
    let r = rebuild.clone();
    feed(&db, &all, move |conn, e| r.live().apply(conn, e)).await?;
    for _pass in 0..2 {
        for chunk in all.chunks(7) {
            let (r, chunk) = (rebuild.clone(), chunk.to_vec());
            db.transaction(move |conn| r.shadow().apply_batch(conn, &chunk)).await?;
        }
    }
    let live = rows(&db, Target::Live).await?;
    assert_eq!(live.len(), 10);
    assert_eq!(rows(&db, Target::Shadow).await?, live);
    Ok(())
}

/// A batch holding a dossier's third event without its second: the error names that event, and
/// nothing is written (the fold of the whole batch comes before any write).
async fn a_batch_with_a_missing_event_names_it_and_writes_nothing(db: TestDatabase) -> anyhow::Result<()> {
    let db = db.database().clone();
    let all = events(&scenario());
    let first = &all[0];
    let own: Vec<_> = all.iter().filter(|e| e.aggregate_id == first.aggregate_id).cloned().collect();
    let others: Vec<_> = all.iter().filter(|e| e.aggregate_id != first.aggregate_id).take(3).cloned().collect();
    let mut batch = others.clone();
    batch.push(own[0].clone());
    batch.push(own[2].clone());
    let projection = fleuve_statistics::projection();
    let failed = db.transaction(move |conn| projection.apply_batch(conn, &batch)).await;
    match failed {
        Err(BatchError { index: Some(4), error: HandlerError::Permanent(reason) }) => {
            assert!(reason.contains("an earlier event is missing"), "{reason}");
        }
        other => panic!("expected the fifth event to be at fault, got {other:?}"),
    }
    assert!(rows(&db, Target::Live).await?.is_empty());
    Ok(())
}

/// The runtime's rebuild over a real event store: the events stored before it are replayed in
/// batches into the shadow; the ones recorded after the replay (here, inside the swap's
/// transaction, before the lock) are folded into the live rows and recorded in the live
/// consumer's inbox. The live rows end as a table fed every event one at a time.
async fn the_rebuild_replays_the_store_and_catches_up_in_the_swap(harness: TestDatabase) -> anyhow::Result<()> {
    // The event store's tables beside the read model's, as a node deploys them.
    let sets = [fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_statistics::MIGRATIONS];
    let test = match harness.database().backend() {
        Backend::Sqlite => TestDatabase::sqlite(&sets).await?,
        Backend::Postgres => TestDatabase::postgres(&sets).await?,
    };
    let db = test.database().clone();
    let all = events(&scenario());
    let (early, late) = all.split_at(all.len() - 6);
    let stored = early.to_vec();
    db.transaction(move |conn| store_events(conn, &stored)).await?;
    let model = Arc::new(LateEvents { inner: fleuve_statistics::rebuild(), late: late.to_vec() });
    let report = fleuve_bus::rebuild::rebuild(&db, model).await?;
    assert_eq!((report.replayed, report.caught_up), (early.len() as i64, late.len() as i64));

    let other = match db.backend() {
        Backend::Sqlite => TestDatabase::sqlite(&[fleuve_statistics::MIGRATIONS]).await?,
        Backend::Postgres => TestDatabase::postgres(&[fleuve_statistics::MIGRATIONS]).await?,
    };
    let p = fleuve_statistics::projection();
    feed(other.database(), &all, move |conn, e| p.apply(conn, e)).await?;
    assert_eq!(rows(&db, Target::Live).await?, rows(other.database(), Target::Live).await?);
    let recorded = db.run(|conn| fleuve_store::consumer::inbox_count(conn, fleuve_statistics::NAME)).await?;
    assert_eq!(recorded, late.len() as i64, "the caught-up events are in the live consumer's inbox");
    Ok(())
}

/// Appends `events` to their dossiers' streams, as the homologation service records them.
fn store_events(conn: &mut DbConnection, events: &[ConsumedEvent]) -> Result<(), StoreError> {
    for event in events {
        let stream = StreamRef::new(fleuve_statistics::DOSSIER_AGGREGATE, event.aggregate_id.clone());
        let expected = ExpectedVersion::Exact(event.aggregate_version - 1);
        let new = NewEvent::new(event.event_type.clone(), event.payload.clone());
        append(conn, &stream, expected, &[new], &EventMetadata::new("rebuild-test", "test"), None)?;
    }
    Ok(())
}

/// The statistics rebuild, with `late` recorded in the swap's transaction before it locks the
/// live table: events the replay did not see.
struct LateEvents {
    inner: fleuve_statistics::StatisticsRebuild,
    late: Vec<ConsumedEvent>,
}

impl Rebuild for LateEvents {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn sources(&self) -> Vec<fleuve_handler::ReplaySource> {
        self.inner.sources()
    }
    fn live(&self) -> &dyn Projection {
        self.inner.live()
    }
    fn shadow(&self) -> &dyn Projection {
        self.inner.shadow()
    }
    fn clear_shadow(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.inner.clear_shadow(conn)
    }
    fn lock_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        store_events(conn, &self.late)?;
        self.inner.lock_live(conn)
    }
    fn copy_shadow_to_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.inner.copy_shadow_to_live(conn)
    }
    fn replay_batch(&self) -> i64 {
        // Several batches even for a few events.
        7
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// On PostgreSQL the swap holds an EXCLUSIVE lock on the live table until it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_live_takes_an_exclusive_lock() -> anyhow::Result<()> {
    let test = crate::support::postgres().await?;
    let rebuild = fleuve_statistics::rebuild();
    let held = test
        .database()
        .transaction(move |conn| {
            rebuild.lock_live(conn)?;
            let count: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = 'stats_dossiers' AND l.mode = 'ExclusiveLock' AND l.pid = pg_backend_pid()",
            )
            .get_result(conn)?;
            Ok::<_, StoreError>(count.n)
        })
        .await?;
    assert_eq!(held, 1);
    Ok(())
}
