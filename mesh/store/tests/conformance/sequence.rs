//! Gapless sequences: concurrent transactions get 1..=n, a rollback returns its number.

use std::sync::Arc;

use fleuve_store::StoreError;
use fleuve_store::event_store;
use fleuve_store::testing::TestDatabase;
use tokio::sync::Barrier;

use crate::support::pool_for;

pub async fn sequence_is_gapless_under_concurrency(test: TestDatabase) -> anyhow::Result<()> {
    const TASKS: usize = 20;
    let db = pool_for(&test, TASKS as u32)?;
    let barrier = Arc::new(Barrier::new(TASKS));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let (db, barrier) = (db.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                // The name is new, so the first callers also race to create the counter.
                db.transaction(|conn| event_store::next_sequence(conn, "invoice")).await
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for handle in handles {
        numbers.push(handle.await??);
    }
    numbers.sort();
    assert_eq!(numbers, (1..=TASKS as i64).collect::<Vec<_>>());

    let other = db.transaction(|conn| event_store::next_sequence(conn, "dossier")).await?;
    assert_eq!(other, 1, "counters are independent");
    Ok(())
}

pub async fn rolled_back_sequence_is_given_back(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let next = || db.transaction(|conn| event_store::next_sequence(conn, "receipt"));
    assert_eq!(next().await?, 1);

    let rolled_back: Result<i64, StoreError> = db
        .transaction(|conn| {
            let taken = event_store::next_sequence(conn, "receipt")?;
            assert_eq!(taken, 2);
            Err(StoreError::Task(format!("gave {taken} back")))
        })
        .await;
    assert!(rolled_back.is_err());
    assert_eq!(next().await?, 2, "the rolled back number is handed out again");

    // A counter created by a rolled back transaction disappears with it.
    let created: Result<i64, StoreError> = db
        .transaction(|conn| {
            event_store::next_sequence(conn, "fresh")?;
            Err(StoreError::Task("no".into()))
        })
        .await;
    assert!(created.is_err());
    assert_eq!(db.transaction(|conn| event_store::next_sequence(conn, "fresh")).await?, 1);

    // Several numbers in one transaction are consecutive.
    let pair = db
        .transaction(|conn| {
            Ok::<_, StoreError>((
                event_store::next_sequence(conn, "receipt")?,
                event_store::next_sequence(conn, "receipt")?,
            ))
        })
        .await?;
    assert_eq!(pair, (3, 4));
    Ok(())
}
