//! The outbox: rows exist exactly when their events committed, and can be drained.

use fleuve_store::event_store::{self, ExpectedVersion};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{EVENT_STORE_MIGRATIONS, StoreError};

use crate::support::{append, counts, meta, new_events, stream};

pub async fn outbox_rows_follow_events(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    append(db, &stream("quiet"), ExpectedVersion::NoStream, 2, None).await?;
    assert_eq!(counts(db).await?, (1, 2, 0), "no topic, no outbox rows");

    let first = append(db, &stream("loud"), ExpectedVersion::NoStream, 3, Some("accounts")).await?;
    append(db, &stream("other"), ExpectedVersion::NoStream, 1, Some("audit")).await?;
    let pending = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    assert_eq!(pending.len(), 4);
    assert!(pending.windows(2).all(|w| w[0].0.position < w[1].0.position));
    for (i, (row, event)) in pending.iter().take(3).enumerate() {
        assert_eq!(row.topic, "accounts");
        assert_eq!(row.position, event.position);
        assert_eq!(event.position, first.first_position.unwrap() + i as i64);
        assert_eq!((event.stream_id.as_str(), event.version), ("account-loud", i as i64 + 1));
        assert_eq!((row.attempts, row.last_error.as_deref()), (0, None));
        assert_eq!(row.created_at, event.recorded_at);
    }
    assert_eq!(pending[3].0.topic, "audit");

    let first = pending[0].0.position;
    db.run(move |conn| event_store::outbox_record_failure(conn, first, "broker down")).await?;
    db.run(move |conn| event_store::outbox_record_failure(conn, first, "broker still down")).await?;
    let limited = db.run(|conn| event_store::outbox_pending(conn, 2)).await?;
    assert_eq!(limited.len(), 2);
    assert_eq!((limited[0].0.attempts, limited[0].0.last_error.as_deref()), (2, Some("broker still down")));

    let positions: Vec<i64> = pending.iter().take(3).map(|(row, _)| row.position).collect();
    let marked = db.transaction(move |conn| event_store::outbox_mark_published(conn, &positions)).await?;
    assert_eq!(marked, 3);
    let positions: Vec<i64> = pending.iter().map(|(row, _)| row.position).collect();
    let marked = db.run(move |conn| event_store::outbox_mark_published(conn, &positions)).await?;
    assert_eq!(marked, 1, "already published rows are left alone");
    assert!(db.run(|conn| event_store::outbox_pending(conn, 100)).await?.is_empty());
    assert_eq!(db.run(|conn| event_store::outbox_mark_published(conn, &[])).await?, 0);

    // An outbox row whose event was deleted by hand is reported, naming its position, not
    // skipped in silence (a batch of them would stall the relay with nothing logged).
    let broken = append(db, &stream("broken"), ExpectedVersion::NoStream, 2, Some("accounts")).await?;
    let lost = broken.first_position.unwrap();
    db.run(move |conn| -> anyhow::Result<()> {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("DELETE FROM events WHERE position = {lost}")).execute(conn)?;
        Ok(())
    })
    .await?;
    let read = db.run(|conn| event_store::outbox_pending(conn, 100)).await;
    assert!(
        matches!(&read, Err(StoreError::Corrupt(message)) if message.contains(&format!("position {lost} "))),
        "{read:?}"
    );
    Ok(())
}

pub async fn rolled_back_append_leaves_nothing(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let doomed = stream("doomed");
    let result: Result<(), StoreError> = db
        .transaction(move |conn| {
            let outcome = event_store::append(
                conn,
                &doomed,
                ExpectedVersion::NoStream,
                &new_events(3),
                &meta(),
                Some("accounts"),
            )?;
            assert_eq!(outcome.last_version, 3);
            assert_eq!(event_store::outbox_pending(conn, 10)?.len(), 3, "visible inside");
            Err(StoreError::Task("the service decided to fail".into()))
        })
        .await;
    assert!(matches!(result, Err(StoreError::Task(_))));
    assert_eq!(counts(db).await?, (0, 0, 0), "no stream, no events, no outbox rows");
    assert!(db.run(|conn| event_store::outbox_pending(conn, 10)).await?.is_empty());

    // The stream is still free for a real first append.
    append(db, &stream("doomed"), ExpectedVersion::NoStream, 1, Some("accounts")).await?;
    assert_eq!(counts(db).await?, (1, 1, 1));
    Ok(())
}

/// An append with a message: the events, then the message as the next event of its
/// (topic, key) stream with its outbox row, all or nothing.
pub async fn a_message_is_queued_with_its_append_or_not_at_all(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let send = |expected: ExpectedVersion, reply: &'static [u8]| {
        move |conn: &mut fleuve_store::DbConnection| {
            let message = event_store::OutgoingMessage {
                topic: "payment.request",
                key: "order-7",
                message_type: "PaymentRequest",
                payload: reply,
            };
            event_store::append_with_messages(
                conn,
                &stream("seven"),
                expected,
                &new_events(2),
                &meta(),
                None,
                &[message],
            )
            .map(|(outcome, positions)| (outcome, positions[0]))
        }
    };
    let (outcome, position) = db.transaction(send(ExpectedVersion::NoStream, b"first")).await?;
    assert_eq!(outcome.last_version, 2);
    let (_, second_position) = db.transaction(send(ExpectedVersion::Exact(2), b"second")).await?;
    assert!(second_position > position);
    assert_eq!(counts(db).await?, (2, 6, 2), "the account and message streams; 4 + 2 events; 2 outbox rows");

    let pending = db.run(|conn| event_store::outbox_pending(conn, 10)).await?;
    let sent: Vec<_> = pending
        .iter()
        .map(|(row, event)| (row.topic.as_str(), event.stream_id.as_str(), event.version, event.payload.as_slice()))
        .collect();
    assert_eq!(
        sent,
        [
            ("payment.request", "payment.request-order-7", 1, &b"first"[..]),
            ("payment.request", "payment.request-order-7", 2, &b"second"[..])
        ]
    );
    assert_eq!(pending[0].0.position, position);
    let message = &pending[1].1;
    assert_eq!((message.aggregate_type.as_str(), message.aggregate_id.as_str()), ("payment.request", "order-7"));
    assert_eq!(
        (message.event_type.as_str(), message.correlation_id.as_str()),
        ("PaymentRequest", meta().correlation_id.as_str())
    );

    // A stale expected version: a conflict, and no message, even if the caller commits anyway.
    let stale = send(ExpectedVersion::Exact(2), b"third");
    let refused = db.transaction(move |conn| Ok::<_, StoreError>(stale(conn))).await?;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert_eq!(counts(db).await?, (2, 6, 2), "nothing written");

    // One event (PostgreSQL binds it as scalars, not arrays) with its own outbox row and the
    // message, then the same append again: a conflict, nothing written.
    let single = |conn: &mut fleuve_store::DbConnection| {
        let message = event_store::OutgoingMessage {
            topic: "payment.request",
            key: "order-7",
            message_type: "PaymentRequest",
            payload: b"third",
        };
        event_store::append_with_messages(
            conn,
            &stream("seven"),
            ExpectedVersion::Exact(4),
            &new_events(1),
            &meta(),
            Some("accounts"),
            &[message],
        )
    };
    let (outcome, positions) = db.transaction(single).await?;
    assert_eq!(outcome.last_version, 5);
    assert!(positions[0] > second_position);
    assert_eq!(counts(db).await?, (2, 8, 4), "one event and one message, each with its outbox row");
    let pending = db.run(|conn| event_store::outbox_pending(conn, 10)).await?;
    let queued: Vec<_> = pending[2..]
        .iter()
        .map(|(row, event)| (row.position, row.topic.as_str(), event.stream_id.as_str(), event.version))
        .collect();
    let (event_position, message_position) = (outcome.first_position.unwrap(), positions[0]);
    let mut expected = vec![
        (event_position, "accounts", "account-seven", 5),
        (message_position, "payment.request", "payment.request-order-7", 3),
    ];
    expected.sort();
    assert_eq!(queued, expected);
    let refused = db.transaction(move |conn| Ok::<_, StoreError>(single(conn))).await?;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert_eq!(counts(db).await?, (2, 8, 4), "nothing written");
    Ok(())
}

/// Migration 103 (the outbox keyed by its event's position, no index by aggregate type) over
/// existing rows, down and up again: every queued row stays queued with its failures, and
/// appends work under both shapes.
pub async fn outbox_rows_survive_the_move_to_position_keys(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let first = append(db, &stream("before"), ExpectedVersion::NoStream, 2, Some("accounts")).await?;
    let failed = first.first_position.unwrap();
    db.run(move |conn| event_store::outbox_record_failure(conn, failed, "broker down")).await?;
    let before = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;

    let reverting = db.clone();
    let reverted =
        tokio::task::spawn_blocking(move || reverting.revert_migrations_through(&EVENT_STORE_MIGRATIONS, "103"))
            .await??;
    assert!(reverted.last().is_some_and(|v| v.ends_with("103")), "{reverted:?}");
    append(db, &stream("between"), ExpectedVersion::NoStream, 1, Some("audit")).await?;
    let migrating = db.clone();
    tokio::task::spawn_blocking(move || migrating.migrate(&[EVENT_STORE_MIGRATIONS])).await??;
    append(db, &stream("after"), ExpectedVersion::NoStream, 1, Some("accounts")).await?;

    let after = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    assert_eq!(after[..2], before[..], "rows queued before the migration, failures included");
    assert_eq!((after[0].0.attempts, after[0].0.last_error.as_deref()), (1, Some("broker down")));
    let rest: Vec<_> = after[2..].iter().map(|(row, event)| (row.topic.as_str(), event.stream_id.as_str())).collect();
    assert_eq!(rest, [("audit", "account-between"), ("accounts", "account-after")]);
    assert!(after.iter().all(|(row, event)| row.position == event.position));
    Ok(())
}
