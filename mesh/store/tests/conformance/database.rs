//! `Database` itself: migrations, panics inside transactions, atomicity without a transaction.

use fleuve_store::event_store::{self, ExpectedVersion};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{EVENT_STORE_MIGRATIONS, StoreError};

use crate::support::{append, counts, meta, new_events, pool_for, stream};

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

/// `execute_prepared` reports the rows an UPDATE or INSERT changed (none, one, several) on both
/// backends, and on PostgreSQL the statement stays prepared on the connection: run again, it is
/// not prepared anew (one entry in `pg_prepared_statements` for its text).
pub async fn prepared_statements_count_rows_and_stay_prepared(test: TestDatabase) -> anyhow::Result<()> {
    use diesel::prelude::*;
    use fleuve_store::schema::sequences;
    use fleuve_store::{DbConnection, execute_prepared};
    // One connection, so that what it keeps prepared can be read back on it.
    let db = pool_for(&test, 1)?;
    db.run(|conn| -> anyhow::Result<()> {
        for name in ["a", "b"] {
            let insert = diesel::insert_into(sequences::table).values((sequences::name.eq(name), sequences::value.eq(1_i64)));
            assert_eq!(execute_prepared(conn, insert)?, 1);
        }
        let bump = |conn: &mut DbConnection, name: &str| {
            execute_prepared(conn, diesel::update(sequences::table.find(name)).set(sequences::value.eq(sequences::value + 1)))
        };
        assert_eq!(bump(conn, "a")?, 1);
        assert_eq!(bump(conn, "a")?, 1);
        assert_eq!(bump(conn, "missing")?, 0);
        let all = diesel::update(sequences::table.filter(sequences::name.eq_any(["a", "b"])))
            .set(sequences::value.eq(sequences::value + 10));
        assert_eq!(execute_prepared(conn, all)?, 2);
        let values: Vec<(String, i64)> =
            sequences::table.filter(sequences::name.eq_any(["a", "b"])).order(sequences::name).load(conn)?;
        assert_eq!(values, [("a".to_owned(), 13), ("b".to_owned(), 11)]);
        if let DbConnection::Pg(pg) = conn {
            #[derive(QueryableByName)]
            struct Kept {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let kept = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_prepared_statements \
                 WHERE statement LIKE 'WITH changed AS (UPDATE \"sequences\" SET \"value\" = (\"sequences\".\"value\" + $1) WHERE (\"sequences\".\"name\" = $2)%'",
            )
            .get_result::<Kept>(pg)?;
            assert_eq!(kept.n, 1, "the update is prepared once and kept");
        }
        Ok(())
    })
    .await
}
