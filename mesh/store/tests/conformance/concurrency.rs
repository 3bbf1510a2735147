//! Many appenders racing on one stream, each in its own transaction on its own connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleuve_store::event_store::{self, AppendOutcome, ExpectedVersion, RecordedEvent};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, StoreError};
use tokio::sync::Barrier;

use crate::support::{append, meta, new_events, pool_for, read_stream, stream, versions};

const RACERS: usize = 50;

/// Starts `tasks` appends of `count` events at once and returns their results.
async fn race(
    db: &Database,
    name: &str,
    tasks: usize,
    expected: ExpectedVersion,
    count: usize,
) -> anyhow::Result<Vec<Result<AppendOutcome, StoreError>>> {
    let barrier = Arc::new(Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (db, barrier, stream) = (db.clone(), barrier.clone(), stream(name));
            tokio::spawn(async move {
                barrier.wait().await;
                append(&db, &stream, expected, count, Some("accounts")).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks);
    for handle in handles {
        results.push(handle.await?);
    }
    Ok(results)
}

fn tally(results: &[Result<AppendOutcome, StoreError>]) -> (usize, usize) {
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results.iter().filter(|r| matches!(r, Err(e) if e.is_conflict())).count();
    for result in results {
        if let Err(error) = result
            && !error.is_conflict()
        {
            panic!("unexpected error: {error}");
        }
    }
    (won, conflicts)
}

fn assert_contiguous(events: &[RecordedEvent], last: i64) {
    assert_eq!(versions(events), (1..=last).collect::<Vec<_>>());
}

pub async fn concurrent_appends_at_same_version(test: TestDatabase) -> anyhow::Result<()> {
    let db = pool_for(&test, RACERS as u32)?;
    let seeded = stream("race");
    append(&db, &seeded, ExpectedVersion::NoStream, 1, None).await?;

    let results = race(&db, "race", RACERS, ExpectedVersion::Exact(1), 2).await?;
    assert_eq!(tally(&results), (1, RACERS - 1));
    for result in &results {
        if let Err(StoreError::Conflict { expected, actual, .. }) = result {
            assert_eq!((*expected, *actual), (1, 3));
        }
    }
    assert_contiguous(&read_stream(&db, &seeded).await?, 3);
    Ok(())
}

pub async fn concurrent_first_appends(test: TestDatabase) -> anyhow::Result<()> {
    let db = pool_for(&test, RACERS as u32)?;
    let results = race(&db, "first", RACERS, ExpectedVersion::NoStream, 2).await?;
    assert_eq!(tally(&results), (1, RACERS - 1));
    assert_contiguous(&read_stream(&db, &stream("first")).await?, 2);
    Ok(())
}

pub async fn concurrent_any_appends_stay_contiguous(test: TestDatabase) -> anyhow::Result<()> {
    const TASKS: usize = 20;
    let db = pool_for(&test, TASKS as u32)?;
    let results = race(&db, "any", TASKS, ExpectedVersion::Any, 2).await?;
    assert_eq!(tally(&results), (TASKS, 0));
    let mut last_versions: Vec<i64> = results.iter().map(|r| r.as_ref().unwrap().last_version).collect();
    last_versions.sort();
    assert_eq!(last_versions, (1..=TASKS as i64).map(|i| i * 2).collect::<Vec<_>>());
    let events = read_stream(&db, &stream("any")).await?;
    assert_contiguous(&events, 2 * TASKS as i64);
    // Appends do not interleave: every pair of versions holds one append's two events.
    for pair in events.chunks(2) {
        assert_eq!((pair[0].event_type.as_str(), pair[1].event_type.as_str()), ("Event0", "Event1"));
    }
    Ok(())
}

/// Runs `first` in a transaction that stays open for a while after `first` returns, and starts
/// `second` in another transaction while it is open; returns `second`'s result and how long it
/// took. Uses the blocking API from plain threads.
fn overlap<A, B>(
    db: &Database,
    first: impl FnOnce(&mut fleuve_store::DbConnection) -> Result<A, StoreError> + Send + 'static,
    first_commits: bool,
    second: impl FnOnce(&mut fleuve_store::DbConnection) -> Result<B, StoreError> + Send + 'static,
) -> (Result<B, StoreError>, Duration)
where
    A: Send + 'static,
    B: Send + 'static,
{
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            let _ = db.transaction_blocking(|conn| {
                first(conn)?;
                started_tx.send(()).expect("the test waits");
                std::thread::sleep(HOLD);
                if first_commits { Ok(()) } else { Err(StoreError::Task("roll back".into())) }
            });
        })
    };
    started_rx.recv().expect("the holder started");
    let started = Instant::now();
    let result = db.transaction_blocking(second);
    let waited = started.elapsed();
    holder.join().expect("the holder did not panic");
    (result, waited)
}

const HOLD: Duration = Duration::from_millis(300);

pub async fn blocked_appender_sees_winner_commit(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database().clone();
    append(&db, &stream("held"), ExpectedVersion::NoStream, 1, None).await?;
    let (result, waited) = tokio::task::spawn_blocking(move || {
        overlap(
            &db,
            |conn| event_store::append(conn, &stream("held"), ExpectedVersion::Exact(1), &new_events(1), &meta(), None),
            true,
            |conn| event_store::append(conn, &stream("held"), ExpectedVersion::Exact(1), &new_events(1), &meta(), None),
        )
    })
    .await?;
    // The second appender queued behind the first (row lock or SQLite writer lock) and then
    // saw its commit, instead of failing early or overwriting it.
    assert!(waited >= HOLD / 2, "did not wait: {waited:?}");
    match result {
        Err(StoreError::Conflict { expected: 1, actual: 2, .. }) => {}
        other => panic!("expected a conflict at version 2, got {other:?}"),
    }
    assert_contiguous(&read_stream(test.database(), &stream("held")).await?, 2);
    Ok(())
}

pub async fn sequence_creation_race_waits_for_creator(test: TestDatabase) -> anyhow::Result<()> {
    for (creator_commits, expected) in [(true, 2), (false, 1)] {
        let db = test.database().clone();
        let name = format!("race-{creator_commits}");
        let (first_name, second_name) = (name.clone(), name.clone());
        let (result, _) = tokio::task::spawn_blocking(move || {
            overlap(
                &db,
                move |conn| event_store::next_sequence(conn, &first_name),
                creator_commits,
                move |conn| event_store::next_sequence(conn, &second_name),
            )
        })
        .await?;
        assert_eq!(result?, expected, "creator committed: {creator_commits}");
    }
    Ok(())
}

/// Two pools on one database stand in for two processes: on SQLite they do not share the
/// in-process writer queue, so only `BEGIN IMMEDIATE` and the busy timeout keep their
/// read-then-write transactions from failing with "database is locked".
pub async fn two_pools_read_then_write(test: TestDatabase) -> anyhow::Result<()> {
    const PER_POOL: usize = 10;
    let pools = [pool_for(&test, PER_POOL as u32)?, pool_for(&test, PER_POOL as u32)?];
    let barrier = Arc::new(Barrier::new(2 * PER_POOL));
    let mut handles = Vec::new();
    for db in &pools {
        for _ in 0..PER_POOL {
            let (db, barrier) = (db.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                loop {
                    let attempt = db
                        .transaction(|conn| {
                            let version = event_store::stream_version(conn, &stream("shared"))?;
                            let number = event_store::next_sequence(conn, "shared")?;
                            let outcome = event_store::append(
                                conn,
                                &stream("shared"),
                                ExpectedVersion::Exact(version),
                                &new_events(1),
                                &meta(),
                                None,
                            )?;
                            Ok::<_, StoreError>((number, outcome.last_version))
                        })
                        .await;
                    match attempt {
                        Err(error) if error.is_conflict() => continue,
                        other => break other,
                    }
                }
            }));
        }
    }
    for handle in handles {
        handle.await??;
    }
    assert_contiguous(&read_stream(&pools[0], &stream("shared")).await?, 2 * PER_POOL as i64);
    Ok(())
}
