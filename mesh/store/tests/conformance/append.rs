//! Appending: round trip of data and metadata, optimistic concurrency, empty and duplicate appends.

use chrono::{SubsecRound, Utc};
use fleuve_store::StoreError;
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent};
use fleuve_store::testing::TestDatabase;

use crate::support::{self, append, counts, read_stream, stream, versions};

pub async fn new_stream_round_trip(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let stream = stream("round-trip");
    let events = vec![
        NewEvent::new("AccountOpened", b"{\"owner\":\"ada\"}".to_vec()),
        NewEvent::new("FundsDeposited", vec![0, 159, 146, 150, 255]),
    ];
    let meta = EventMetadata::new("corr-42", "ada@example.org")
        .with_causation_id("cmd-7")
        .with_trace_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let before = Utc::now().trunc_subsecs(6);
    let outcome = {
        let (stream, events, meta) = (stream.clone(), events.clone(), meta.clone());
        db.transaction(move |conn| event_store::append(conn, &stream, ExpectedVersion::NoStream, &events, &meta, None))
            .await?
    };
    let after = Utc::now();
    assert_eq!(outcome.last_version, 2);

    let read = read_stream(db, &stream).await?;
    assert_eq!(read.len(), 2);
    assert_eq!(Some(read[0].position), outcome.first_position);
    assert!(read[0].position < read[1].position);
    for (i, (recorded, sent)) in read.iter().zip(&events).enumerate() {
        assert_eq!(recorded.stream_id, "account-round-trip");
        assert_eq!(recorded.aggregate_type, "account");
        assert_eq!(recorded.aggregate_id, "round-trip");
        assert_eq!(recorded.version, i as i64 + 1);
        assert_eq!(recorded.event_id, sent.event_id);
        assert_eq!(recorded.event_type, sent.event_type);
        assert_eq!(recorded.payload, sent.payload);
        assert_eq!(recorded.correlation_id, "corr-42");
        assert_eq!(recorded.causation_id.as_deref(), Some("cmd-7"));
        assert_eq!(recorded.actor, "ada@example.org");
        assert_eq!(recorded.trace_context, meta.trace_context);
        assert!(before <= recorded.recorded_at && recorded.recorded_at <= after);
    }
    assert_eq!(read[0].recorded_at, read[1].recorded_at, "one append, one timestamp");

    // Metadata left out stays out.
    let bare = support::stream("bare");
    append(db, &bare, ExpectedVersion::NoStream, 1, None).await?;
    let read = read_stream(db, &bare).await?;
    assert_eq!((read[0].causation_id.as_deref(), read[0].trace_context.as_deref()), (None, None));

    let from_two = {
        let stream = stream.clone();
        db.run(move |conn| event_store::read_stream(conn, &stream, 2)).await?
    };
    assert_eq!(versions(&from_two), [2]);
    let version = {
        let stream = stream.clone();
        db.run(move |conn| event_store::stream_version(conn, &stream)).await?
    };
    assert_eq!(version, 2);
    Ok(())
}

pub async fn wrong_expected_version_conflicts(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let stream = stream("conflicts");
    append(db, &stream, ExpectedVersion::NoStream, 1, Some("accounts")).await?;
    let before = counts(db).await?;

    for (expected, wanted) in [
        (ExpectedVersion::NoStream, 0),
        (ExpectedVersion::Exact(0), 0),
        (ExpectedVersion::Exact(2), 2),
        (ExpectedVersion::Exact(-1), -1),
    ] {
        let error = append(db, &stream, expected, 2, Some("accounts")).await.unwrap_err();
        assert!(error.is_conflict(), "{expected:?}: {error}");
        match error {
            StoreError::Conflict { stream_id, expected, actual } => {
                assert_eq!((stream_id.as_str(), expected, actual), ("account-conflicts", wanted, 1));
            }
            other => panic!("not a conflict: {other}"),
        }
    }
    assert_eq!(counts(db).await?, before, "a conflict writes nothing");

    // Expecting a version of a stream that does not exist creates nothing either.
    let missing = support::stream("missing");
    let error = append(db, &missing, ExpectedVersion::Exact(3), 1, Some("accounts")).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { expected: 3, actual: 0, .. }), "{error}");
    assert_eq!(counts(db).await?, before);

    append(db, &stream, ExpectedVersion::Exact(1), 2, None).await?;
    assert_eq!(versions(&read_stream(db, &stream).await?), [1, 2, 3]);
    Ok(())
}

pub async fn empty_append_writes_nothing(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let fresh = stream("empty");
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Any, ExpectedVersion::Exact(0)] {
        let outcome = append(db, &fresh, expected, 0, Some("accounts")).await?;
        assert_eq!((outcome.first_position, outcome.last_version), (None, 0));
    }
    assert_eq!(counts(db).await?, (0, 0, 0), "no stream row, no events, no outbox rows");

    let existing = stream("existing");
    append(db, &existing, ExpectedVersion::NoStream, 2, None).await?;
    let before = counts(db).await?;
    let outcome = append(db, &existing, ExpectedVersion::Exact(2), 0, Some("accounts")).await?;
    assert_eq!((outcome.first_position, outcome.last_version), (None, 2));
    let outcome = append(db, &existing, ExpectedVersion::Any, 0, None).await?;
    assert_eq!(outcome.last_version, 2);
    // The expected version is still checked, so an empty append can detect a stale decision.
    let error = append(db, &existing, ExpectedVersion::Exact(1), 0, None).await.unwrap_err();
    assert!(error.is_conflict());
    assert_eq!(counts(db).await?, before);
    Ok(())
}

pub async fn duplicate_event_id_is_rejected(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let event = NewEvent::new("AccountOpened", b"once".to_vec());
    for (id, outcome) in [("first", true), ("second", false)] {
        let (stream, events) = (stream(id), vec![NewEvent::new("Other", vec![]), event.clone()]);
        let result = db
            .transaction(move |conn| {
                event_store::append(conn, &stream, ExpectedVersion::NoStream, &events, &support::meta(), Some("t"))
            })
            .await;
        match (outcome, result) {
            (true, result) => assert_eq!(result?.last_version, 2),
            (false, Err(StoreError::DuplicateEvent { event_id })) => {
                assert_eq!(event_id, event.event_id.to_string());
            }
            (false, other) => panic!("expected a duplicate event, got {other:?}"),
        }
    }
    assert_eq!(counts(db).await?, (1, 2, 2), "the rejected append left nothing behind");
    Ok(())
}

pub async fn any_appends_after_current_version(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let stream = stream("any");
    assert_eq!(append(db, &stream, ExpectedVersion::Any, 2, None).await?.last_version, 2);
    assert_eq!(append(db, &stream, ExpectedVersion::Any, 3, None).await?.last_version, 5);
    assert_eq!(append(db, &stream, ExpectedVersion::Exact(5), 1, None).await?.last_version, 6);
    assert_eq!(versions(&read_stream(db, &stream).await?), [1, 2, 3, 4, 5, 6]);
    Ok(())
}
