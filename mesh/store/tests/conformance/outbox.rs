//! The outbox: rows exist exactly when their events committed, and can be drained.

use fleuve_store::StoreError;
use fleuve_store::event_store::{self, ExpectedVersion};
use fleuve_store::testing::TestDatabase;

use crate::support::{append, counts, meta, new_events, stream};

pub async fn outbox_rows_follow_events(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    append(db, &stream("quiet"), ExpectedVersion::NoStream, 2, None).await?;
    assert_eq!(counts(db).await?, (1, 2, 0), "no topic, no outbox rows");

    let first = append(db, &stream("loud"), ExpectedVersion::NoStream, 3, Some("accounts")).await?;
    append(db, &stream("other"), ExpectedVersion::NoStream, 1, Some("audit")).await?;
    let pending = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    assert_eq!(pending.len(), 4);
    assert!(pending.windows(2).all(|w| w[0].0.id < w[1].0.id));
    for (i, (row, event)) in pending.iter().take(3).enumerate() {
        assert_eq!(row.topic, "accounts");
        assert_eq!(row.position, event.position);
        assert_eq!(event.position, first.first_position.unwrap() + i as i64);
        assert_eq!((event.stream_id.as_str(), event.version), ("account-loud", i as i64 + 1));
        assert_eq!((row.attempts, row.last_error.as_deref()), (0, None));
        assert_eq!(row.created_at, event.recorded_at);
    }
    assert_eq!(pending[3].0.topic, "audit");

    let first_id = pending[0].0.id;
    db.run(move |conn| event_store::outbox_record_failure(conn, first_id, "broker down")).await?;
    db.run(move |conn| event_store::outbox_record_failure(conn, first_id, "broker still down")).await?;
    let limited = db.run(|conn| event_store::outbox_pending(conn, 2)).await?;
    assert_eq!(limited.len(), 2);
    assert_eq!((limited[0].0.attempts, limited[0].0.last_error.as_deref()), (2, Some("broker still down")));

    let ids: Vec<i64> = pending.iter().take(3).map(|(row, _)| row.id).collect();
    let marked = db.transaction(move |conn| event_store::outbox_mark_published(conn, &ids)).await?;
    assert_eq!(marked, 3);
    let ids: Vec<i64> = pending.iter().map(|(row, _)| row.id).collect();
    let marked = db.run(move |conn| event_store::outbox_mark_published(conn, &ids)).await?;
    assert_eq!(marked, 1, "already published rows are left alone");
    assert!(db.run(|conn| event_store::outbox_pending(conn, 100)).await?.is_empty());
    assert_eq!(db.run(|conn| event_store::outbox_mark_published(conn, &[])).await?, 0);
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
    Ok(())
}
