//! `Database` itself: migrations, panics inside transactions, atomicity without a transaction.

use fleuve_store::event_store::{self, ExpectedVersion};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{EVENT_STORE_MIGRATIONS, StoreError};

use crate::support::{append, counts, meta, new_events, stream};

pub async fn migrate_is_idempotent(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database().clone();
    tokio::task::spawn_blocking(move || db.migrate(&[EVENT_STORE_MIGRATIONS])).await??;
    append(test.database(), &stream("after"), ExpectedVersion::NoStream, 1, None).await?;
    assert_eq!(counts(test.database()).await?, (1, 1, 0));
    Ok(())
}

pub async fn panic_rolls_back_and_pool_recovers(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database().clone();
    let panicked = tokio::spawn(async move {
        db.transaction(|conn| -> Result<(), StoreError> {
            event_store::append(conn, &stream("panic"), ExpectedVersion::NoStream, &new_events(1), &meta(), Some("t"))?;
            panic!("service bug");
        })
        .await
    })
    .await;
    assert!(panicked.unwrap_err().is_panic(), "the panic reaches the caller");

    let db = test.database();
    assert_eq!(counts(db).await?, (0, 0, 0), "the panicking transaction was rolled back");
    // Every pooled connection still works (none is stuck inside the aborted transaction).
    for _ in 0..10 {
        let version = db.transaction(|conn| event_store::stream_version(conn, &stream("panic"))).await?;
        assert_eq!(version, 0);
    }
    append(db, &stream("panic"), ExpectedVersion::NoStream, 1, None).await?;
    Ok(())
}

pub async fn append_outside_transaction_is_atomic(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    // A duplicate id in the second event fails the append after its first event was inserted.
    let mut events = new_events(2);
    events[1].event_id = events[0].event_id;
    let result = db
        .run(move |conn| {
            event_store::append(conn, &stream("solo"), ExpectedVersion::NoStream, &events, &meta(), Some("t"))
        })
        .await;
    assert!(matches!(result, Err(StoreError::DuplicateEvent { .. })), "{result:?}");
    assert_eq!(counts(db).await?, (0, 0, 0), "append rolled back its own transaction");

    let outcome = db
        .run(|conn| {
            event_store::append(conn, &stream("solo"), ExpectedVersion::NoStream, &new_events(2), &meta(), None)
        })
        .await?;
    assert_eq!(outcome.last_version, 2);
    Ok(())
}
