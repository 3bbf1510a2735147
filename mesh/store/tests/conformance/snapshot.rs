//! Snapshots: one per stream, replaced by newer ones, never moved backwards.

use fleuve_store::event_store::{self, ExpectedVersion, RecordedEvent, Snapshot};
use fleuve_store::testing::TestDatabase;

use crate::support::{append, read_stream, stream};

pub async fn snapshots_save_replace_load(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let load = |name: &'static str| db.run(move |conn| event_store::load_snapshot(conn, &stream(name)));
    assert_eq!(load("snap").await?, None);

    let save = |name: &'static str, version: i64, state: &'static [u8]| {
        db.transaction(move |conn| event_store::save_snapshot(conn, &stream(name), version, 1, state))
    };
    save("snap", 3, b"three").await?;
    assert_eq!(load("snap").await?, Some(Snapshot { version: 3, schema_version: 1, state: b"three".to_vec() }));
    save("snap", 5, &[0, 1, 2, 255]).await?;
    assert_eq!(load("snap").await?, Some(Snapshot { version: 5, schema_version: 1, state: vec![0, 1, 2, 255] }));
    save("snap", 5, b"five again").await?;
    assert_eq!(load("snap").await?, Some(Snapshot { version: 5, schema_version: 1, state: b"five again".to_vec() }));
    save("snap", 4, b"stale").await?;
    assert_eq!(load("snap").await?.map(|s| s.version), Some(5), "an older snapshot is ignored");

    save("other", 1, b"").await?;
    assert_eq!(load("other").await?, Some(Snapshot { version: 1, schema_version: 1, state: vec![] }));
    assert_eq!(load("snap").await?.map(|s| s.version), Some(5));

    // A new encoding of the state replaces the snapshot at the same version with its schema.
    db.transaction(move |conn| event_store::save_snapshot(conn, &stream("snap"), 5, 2, b"five, schema 2")).await?;
    assert_eq!(
        load("snap").await?,
        Some(Snapshot { version: 5, schema_version: 2, state: b"five, schema 2".to_vec() })
    );
    Ok(())
}

/// The snapshot of a schema and the events after it, in one statement: all the events without
/// a snapshot (or with one of another schema), none after a snapshot at the head.
pub async fn snapshot_and_tail_load_in_one_statement(test: TestDatabase) -> anyhow::Result<()> {
    let db = test.database();
    let load = |schema: i32| db.run(move |conn| event_store::load_snapshot_and_tail(conn, &stream("tail"), schema));
    let versions = |events: &[RecordedEvent]| events.iter().map(|e| e.version).collect::<Vec<_>>();

    assert_eq!(load(1).await?, (None, vec![]), "no stream, no snapshot");
    append(db, &stream("tail"), ExpectedVersion::NoStream, 5, None).await?;
    let (snapshot, events) = load(1).await?;
    assert_eq!((snapshot, versions(&events)), (None, vec![1, 2, 3, 4, 5]));
    assert_eq!(events, read_stream(db, &stream("tail")).await?, "the same rows as a plain read");

    db.transaction(|conn| event_store::save_snapshot(conn, &stream("tail"), 3, 1, b"three")).await?;
    let (snapshot, events) = load(1).await?;
    assert_eq!(snapshot, Some(Snapshot { version: 3, schema_version: 1, state: b"three".to_vec() }));
    assert_eq!(versions(&events), [4, 5]);
    let (other, all) = load(2).await?;
    assert_eq!((other, versions(&all)), (None, vec![1, 2, 3, 4, 5]), "a snapshot of another schema is not read");

    db.transaction(|conn| event_store::save_snapshot(conn, &stream("tail"), 5, 1, b"five")).await?;
    let (snapshot, events) = load(1).await?;
    assert_eq!((snapshot.map(|s| s.version), events.len()), (Some(5), 0), "a snapshot at the head, no tail");
    Ok(())
}
