//! The outbox (the log past the relay's checkpoint, and its retries): events wait exactly
//! when they committed with a topic, in order, and leave as the relay records them.

use diesel::RunQueryDsl;
use fleuve_store::event_store::{self, ExpectedVersion};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{EVENT_STORE_MIGRATIONS, StoreError};

use crate::support::{append, counts, meta, new_events, stream};

pub async fn outbox_rows_follow_events(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    append(db, &stream("quiet"), ExpectedVersion::NoStream, 2, None).await?;
    assert_eq!(counts(db).await?, (1, 2, 0), "no topic, nothing to publish");

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
        assert_eq!((row.attempts, row.last_error.as_deref(), row.retry), (0, None, false));
        assert_eq!(row.created_at, event.recorded_at);
    }
    assert_eq!(pending[3].0.topic, "audit");
    let positions: Vec<i64> = pending.iter().map(|(row, _)| row.position).collect();

    // The relay handled the first three: the first failed (twice), the second was held back
    // behind it, the third delivered. The checkpoint moves past all three; the first two wait
    // in the retries, ahead of the log.
    let progress = event_store::OutboxProgress {
        through: Some(positions[2]),
        failed: vec![(positions[0], "broker down".into())],
        held_back: vec![positions[1]],
        ..Default::default()
    };
    let again = event_store::OutboxProgress {
        failed: vec![(positions[0], "broker still down".into())],
        held_back: vec![positions[1]],
        ..Default::default()
    };
    db.transaction(move |conn| {
        event_store::outbox_record(conn, &progress)?;
        event_store::outbox_record(conn, &again)
    })
    .await?;
    assert_eq!(db.run(event_store::outbox_checkpoint).await?, positions[2]);
    let after = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    let rows: Vec<_> =
        after.iter().map(|(row, _)| (row.position, row.attempts, row.last_error.as_deref(), row.retry)).collect();
    assert_eq!(
        rows,
        [
            (positions[0], 2, Some("broker still down"), true),
            (positions[1], 0, None, true),
            (positions[3], 0, None, false)
        ]
    );
    assert_eq!(after[0].1.event_id, pending[0].1.event_id, "a retry comes with its event");
    let limited = db.run(|conn| event_store::outbox_pending(conn, 2)).await?;
    assert_eq!(limited.len(), 2, "the retries first");

    // Delivered at last: the retries empty; the checkpoint never moves back.
    let delivered = event_store::OutboxProgress {
        through: Some(positions[0]),
        delivered_retries: vec![positions[0], positions[1]],
        ..Default::default()
    };
    db.transaction(move |conn| event_store::outbox_record(conn, &delivered)).await?;
    assert_eq!(db.run(event_store::outbox_checkpoint).await?, positions[2]);
    let through = event_store::OutboxProgress { through: Some(positions[3]), ..Default::default() };
    db.transaction(move |conn| event_store::outbox_record(conn, &through)).await?;
    assert!(db.run(|conn| event_store::outbox_pending(conn, 100)).await?.is_empty());
    assert_eq!(counts(db).await?.2, 0);

    // A retry whose event was deleted by hand is reported, naming its position, not skipped
    // in silence (it would hold its key back with nothing logged).
    let broken = append(db, &stream("broken"), ExpectedVersion::NoStream, 2, Some("accounts")).await?;
    let lost = broken.first_position.unwrap();
    let failed = event_store::OutboxProgress {
        through: Some(lost + 1),
        failed: vec![(lost, "broker down".into())],
        ..Default::default()
    };
    db.transaction(move |conn| event_store::outbox_record(conn, &failed)).await?;
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

/// The relay reads the log in windows of positions: a stretch of events without a topic longer
/// than a window is crossed, and on PostgreSQL a read planned as a bitmap scan sorted for its
/// first rows (what the planner picks for a log it has no statistics for) fetches one window's
/// rows, not the whole backlog (all 7 503 here when one statement read the whole range).
pub async fn the_log_is_read_in_bounded_windows(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    for i in 0..10 {
        append(db, &stream(&format!("busy-{i}")), ExpectedVersion::NoStream, 500, Some("accounts")).await?;
    }
    for i in 0..5 {
        append(db, &stream(&format!("quiet-{i}")), ExpectedVersion::NoStream, 500, None).await?;
    }
    let late = append(db, &stream("late"), ExpectedVersion::NoStream, 3, Some("audit")).await?;
    let newest = late.first_position.unwrap() + 2;

    if test.backend() == fleuve_store::Backend::Postgres {
        // The table's rows fetched by this transaction's first batch, read with the plan a
        // log without statistics gets: a bitmap scan of the range, then a sort (forced here,
        // as autovacuum may analyze the table first).
        let (batch, fetched) = db
            .transaction(move |conn| -> Result<_, StoreError> {
                diesel::sql_query("SET LOCAL enable_indexscan = off").execute(conn)?;
                diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn)?;
                let batch = event_store::outbox_log_after(conn, 0, newest, 1_000)?;
                let fetched = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT COALESCE(idx_tup_fetch, 0) + COALESCE(seq_tup_read, 0) FROM pg_stat_xact_user_tables \
                     WHERE relname = 'events')",
                ))
                .get_result::<i64>(conn)?;
                Ok((batch, fetched))
            })
            .await?;
        assert_eq!(batch.len(), 1_000);
        assert!(fetched <= 1_000, "the first batch of 1 000 fetched {fetched} rows of the log");
    }

    let all = db.run(|conn| event_store::outbox_pending(conn, 10_000)).await?;
    assert_eq!(all.len(), 5_003);
    assert!(all.windows(2).all(|w| w[0].0.position < w[1].0.position));
    let tail: Vec<(&str, i64)> = all[5_000..].iter().map(|(row, _)| (row.topic.as_str(), row.position)).collect();
    assert_eq!(tail, [("audit", newest - 2), ("audit", newest - 1), ("audit", newest)]);

    let first_two = db.run(move |conn| event_store::outbox_log_after(conn, 0, newest, 2)).await?;
    assert_eq!(
        first_two.iter().map(|(row, _)| row.position).collect::<Vec<_>>(),
        [all[0].0.position, all[1].0.position]
    );
    let after_busy = all[4_999].0.position;
    let crossed = db.run(move |conn| event_store::outbox_log_after(conn, after_busy, newest, 10)).await?;
    assert_eq!(crossed.len(), 3, "the 2 500 events without a topic are crossed in one call");
    let beyond = db.run(move |conn| event_store::outbox_log_after(conn, after_busy, i64::MAX, 10)).await?;
    assert_eq!(beyond.len(), 3);
    assert!(db.run(move |conn| event_store::outbox_log_after(conn, newest, i64::MAX, 10)).await?.is_empty());
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

/// Migration 105 (the log is the outbox) over the rows of the outbox before it, down and up
/// again: what was queued stays queued, in order, failures with their counts; what was
/// published is not published again; appends work after.
pub async fn outbox_rows_survive_the_move_to_the_log(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    // Five events to publish: the first published already, the second failed once, the
    // third to fifth queued; and one without a topic.
    let events = append(db, &stream("before"), ExpectedVersion::NoStream, 5, Some("accounts")).await?;
    append(db, &stream("quiet"), ExpectedVersion::NoStream, 1, None).await?;
    let p = events.first_position.unwrap();
    let first_try = event_store::OutboxProgress {
        through: Some(p + 1),
        failed: vec![(p + 1, "broker down".into())],
        ..Default::default()
    };
    db.transaction(move |conn| event_store::outbox_record(conn, &first_try)).await?;
    let before = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    assert_eq!(before.iter().map(|(row, _)| row.position).collect::<Vec<_>>(), [p + 1, p + 2, p + 3, p + 4]);

    let reverting = db.clone();
    let reverted =
        tokio::task::spawn_blocking(move || reverting.revert_migrations_through(&EVENT_STORE_MIGRATIONS, "105"))
            .await??;
    assert!(reverted.last().is_some_and(|v| v.ends_with("105")), "{reverted:?}");
    let old_rows: Vec<(i64, i32, Option<String>)> = db
        .run(|conn| -> anyhow::Result<_> {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                position: i64,
                #[diesel(sql_type = diesel::sql_types::Integer)]
                attempts: i32,
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                last_error: Option<String>,
            }
            let rows: Vec<Row> =
                diesel::sql_query("SELECT position, attempts, last_error FROM outbox ORDER BY position").load(conn)?;
            Ok(rows.into_iter().map(|r| (r.position, r.attempts, r.last_error)).collect())
        })
        .await?;
    assert_eq!(
        old_rows,
        [(p + 1, 1, Some("broker down".into())), (p + 2, 0, None), (p + 3, 0, None), (p + 4, 0, None)],
        "down: the outbox rows of what waited"
    );
    // One more row queued the old way (the code of before wrote it): an event and its row.
    let blob = match db.backend() {
        fleuve_store::Backend::Postgres => "decode('00', 'hex')",
        fleuve_store::Backend::Sqlite => "X'00'",
    };
    db.run(move |conn| -> anyhow::Result<()> {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, event_type, payload, \
             correlation_id, causation_id, actor, trace_context, recorded_at) VALUES ('account-old', 'account', \
             'old', 1, '6f1c2b3a-0000-4000-8000-000000000001', 'Event0', {blob}, 'corr-1', NULL, 'tester', NULL, \
             '2026-12-06 10:00:00')"
        ))
        .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO outbox (position, topic, created_at) SELECT position, 'audit', recorded_at FROM events \
             WHERE stream_id = 'account-old'",
        )
        .execute(conn)?;
        Ok(())
    })
    .await?;
    let migrating = db.clone();
    tokio::task::spawn_blocking(move || migrating.migrate(&[EVENT_STORE_MIGRATIONS])).await??;
    append(db, &stream("after"), ExpectedVersion::NoStream, 1, Some("accounts")).await?;

    let after = db.run(|conn| event_store::outbox_pending(conn, 100)).await?;
    let rows: Vec<_> = after
        .iter()
        .map(|(row, event)| (row.topic.as_str(), event.stream_id.as_str(), event.version, row.attempts))
        .collect();
    assert_eq!(
        rows,
        [
            ("accounts", "account-before", 2, 1),
            ("accounts", "account-before", 3, 0),
            ("accounts", "account-before", 4, 0),
            ("accounts", "account-before", 5, 0),
            ("audit", "account-old", 1, 0),
            ("accounts", "account-after", 1, 0),
        ]
    );
    assert_eq!(after[0].0.last_error.as_deref(), Some("broker down"));
    assert!(after.iter().all(|(row, event)| row.position == event.position));
    assert_eq!(counts(db).await?.2, 6);
    Ok(())
}

/// The relay's reading of the log, as `OutboxRelay::drain` does it without a broker: the
/// watermark advanced, the log past the checkpoint up to it, the checkpoint moved.
struct Tail {
    watermark: event_store::Watermark,
    /// (position, stream, version) of every event read, in reading order.
    seen: Vec<(i64, String, i64)>,
}

impl Tail {
    fn new() -> Tail {
        Tail { watermark: event_store::Watermark::new(), seen: Vec::new() }
    }

    /// One poll; returns how many events it read.
    async fn step(&mut self, db: &fleuve_store::Database) -> anyhow::Result<usize> {
        let watermark = std::mem::take(&mut self.watermark);
        let (watermark, batch) = db
            .run(move |conn| -> Result<_, StoreError> {
                let mut watermark = watermark;
                let up_to = watermark.advance(conn)?;
                let checkpoint = event_store::outbox_checkpoint(conn)?;
                Ok((watermark, event_store::outbox_log_after(conn, checkpoint, up_to, 64)?))
            })
            .await?;
        self.watermark = watermark;
        let Some((last, _)) = batch.last() else { return Ok(0) };
        let progress = event_store::OutboxProgress { through: Some(last.position), ..Default::default() };
        db.transaction(move |conn| event_store::outbox_record(conn, &progress)).await?;
        self.seen.extend(batch.iter().map(|(row, event)| (row.position, event.stream_id.clone(), event.version)));
        Ok(batch.len())
    }

    fn positions(&self) -> Vec<i64> {
        self.seen.iter().map(|(position, _, _)| *position).collect()
    }
}

/// 50 writers append to 25 streams and commit out of position order (each sleeps inside its
/// transaction after its append, a different time each round), while the relay's reading
/// tails the log. Every event is read once, in position order, and each stream's versions in
/// order. Beside it a reader without the watermark tails the log too: on PostgreSQL it must
/// miss events (else the writers did not commit out of order and the test proved nothing); on
/// SQLite, which commits in position order, it must miss none.
pub async fn writers_committing_out_of_order_are_never_skipped(test: TestDatabase) -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};
    const WRITERS: usize = 50;
    const ROUNDS: usize = 4;
    let db = test.database().clone();
    let writers_db = crate::support::pool_for(&test, WRITERS as u32)?;
    let committed = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (db, committed) = (writers_db.clone(), committed.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let pause = std::time::Duration::from_millis(((writer * 7 + round * 13) % 17) as u64);
                let stream = stream(&format!("w{}", writer % 25));
                let outcome = db
                    .transaction(move |conn| {
                        let outcome = event_store::append(
                            conn,
                            &stream,
                            ExpectedVersion::Any,
                            &new_events(1),
                            &meta(),
                            Some("accounts"),
                        )?;
                        std::thread::sleep(pause);
                        Ok::<_, StoreError>(outcome)
                    })
                    .await?;
                committed.lock().unwrap().push(outcome.first_position.unwrap());
            }
            Ok::<_, StoreError>(())
        }));
    }
    let (mut tail, mut naive) = (Tail::new(), (0_i64, 0_usize));
    let all_written = async {
        for writer in writers {
            writer.await??;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::pin!(all_written);
    let mut written = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        // The naive reader: everything visible past its cursor, the cursor to the last read.
        let after = naive.0;
        let read = db.run(move |conn| event_store::outbox_log_after(conn, after, i64::MAX, 10_000)).await?;
        if let Some((last, _)) = read.last() {
            naive = (last.position, naive.1 + read.len());
        }
        let got = tail.step(&db).await?;
        if written && got == 0 && db.run(|conn| event_store::outbox_backlog(conn)).await?.0 == 0 {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the tail did not catch up: {} read", tail.seen.len());
        if !written {
            tokio::select! {
                result = &mut all_written => { result?; written = true; }
                () = tokio::time::sleep(std::time::Duration::from_millis(2)) => {}
            }
        }
    }

    let positions = tail.positions();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "read once each, in position order: {positions:?}");
    let mut stored: Vec<i64> = committed.lock().unwrap().clone();
    let commit_order = stored.clone();
    stored.sort_unstable();
    assert_eq!(positions, stored, "every committed event read");
    let mut last_version = std::collections::HashMap::new();
    for (position, stream, version) in &tail.seen {
        let previous = last_version.insert(stream.clone(), *version).unwrap_or(0);
        assert_eq!(*version, previous + 1, "{stream} at position {position}: version {version} after {previous}");
    }
    let out_of_order = commit_order.windows(2).filter(|w| w[0] > w[1]).count();
    println!(
        "{} events; commits out of position order {out_of_order} times; a reader without the watermark read {} \
         ({} skipped)",
        positions.len(),
        naive.1,
        positions.len().saturating_sub(naive.1)
    );
    if db.backend() == fleuve_store::Backend::Postgres {
        // The hazard was there: tailing without the watermark lost events.
        assert!(naive.1 < positions.len(), "a reader without the watermark missed nothing: the test exercised nothing");
    } else {
        assert_eq!(naive.1, positions.len(), "SQLite commits in position order");
    }
    Ok(())
}

/// A transaction that drew a position and stays open holds the watermark below it: events
/// committed after it wait (the backlog shows them), and all go out in position order once it
/// commits. (On SQLite the open transaction holds the write lock: nothing else is written
/// meanwhile, and its own event is invisible until it commits.)
pub async fn a_long_transaction_holds_the_watermark_back(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database().clone();
    let writers = crate::support::pool_for(&test, 4)?;
    append(&db, &stream("early"), ExpectedVersion::NoStream, 1, Some("accounts")).await?;
    let mut tail = Tail::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tail.step(&db).await? > 0 || tail.seen.is_empty() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the first event was never read");
    }
    assert_eq!(tail.seen.len(), 1);

    let (appended_tx, appended) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slow = tokio::spawn(async move {
        writers
            .transaction(move |conn| {
                let outcome = event_store::append(
                    conn,
                    &stream("slow"),
                    ExpectedVersion::NoStream,
                    &new_events(1),
                    &meta(),
                    Some("accounts"),
                )?;
                let _ = appended_tx.send(outcome.first_position.unwrap());
                released.recv().map_err(|e| StoreError::Task(e.to_string()))?;
                Ok::<_, StoreError>(())
            })
            .await
    });
    let slow_position = appended.await?;
    let postgres = db.backend() == fleuve_store::Backend::Postgres;
    if postgres {
        append(&db, &stream("fast"), ExpectedVersion::NoStream, 2, Some("accounts")).await?;
    }
    for _ in 0..5 {
        assert_eq!(tail.step(&db).await?, 0, "nothing passes the open transaction");
    }
    assert!(tail.watermark.value() < slow_position || !postgres, "watermark {}", tail.watermark.value());
    let (waiting, oldest) = db.run(|conn| event_store::outbox_backlog(conn)).await?;
    assert_eq!(waiting, if postgres { 2 } else { 0 }, "the events committed after it wait, visibly");
    assert_eq!(oldest.is_some(), postgres);

    release.send(())?;
    slow.await??;
    if !postgres {
        append(&db, &stream("fast"), ExpectedVersion::NoStream, 2, Some("accounts")).await?;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tail.seen.len() < 4 {
        tail.step(&db).await?;
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "read after the commit: {:?}", tail.seen);
    }
    let read: Vec<(&str, i64)> =
        tail.seen[1..].iter().map(|(_, stream, version)| (stream.as_str(), *version)).collect();
    assert_eq!(read, [("account-slow", 1), ("account-fast", 1), ("account-fast", 2)]);
    assert_eq!(tail.seen[1].0, slow_position);
    Ok(())
}
