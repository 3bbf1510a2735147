//! Shared helpers of the conformance suite: databases, sample events and row counts.

use diesel::prelude::*;
use fleuve_store::event_store::{
    self, AppendOutcome, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent, StreamRef,
};
use fleuve_store::schema::{events, streams};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Backend, Database, EVENT_STORE_MIGRATIONS, StoreError};

pub async fn sqlite() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS]).await?)
}

pub async fn postgres() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS]).await?)
}

/// A second pool on the test database, wide enough for `tasks` concurrent transactions on
/// PostgreSQL; SQLite writes one at a time anyway.
pub fn pool_for(test: &TestDatabase, tasks: u32) -> anyhow::Result<Database> {
    let size = match test.backend() {
        Backend::Postgres => tasks,
        Backend::Sqlite => 8,
    };
    Ok(Database::connect(test.url(), size)?)
}

pub fn stream(id: &str) -> StreamRef {
    StreamRef::new("account", id)
}

pub fn new_events(count: usize) -> Vec<NewEvent> {
    (0..count).map(|i| NewEvent::new(format!("Event{i}"), format!("payload-{i}").into_bytes())).collect()
}

pub fn meta() -> EventMetadata {
    EventMetadata::new("corr-1", "tester")
}

/// Appends `count` fresh events in a transaction of its own.
pub async fn append(
    db: &Database,
    stream: &StreamRef,
    expected: ExpectedVersion,
    count: usize,
    topic: Option<&'static str>,
) -> Result<AppendOutcome, StoreError> {
    let stream = stream.clone();
    db.transaction(move |conn| event_store::append(conn, &stream, expected, &new_events(count), &meta(), topic)).await
}

pub async fn read_stream(db: &Database, stream: &StreamRef) -> anyhow::Result<Vec<RecordedEvent>> {
    let stream = stream.clone();
    Ok(db.run(move |conn| event_store::read_stream(conn, &stream, 1)).await?)
}

/// Rows in (streams, events), and the events waiting for the relay (the log past the
/// checkpoint with a topic, and the retries).
pub async fn counts(db: &Database) -> anyhow::Result<(i64, i64, i64)> {
    Ok(db
        .run(|conn| -> Result<_, StoreError> {
            Ok((
                streams::table.count().get_result(conn)?,
                events::table.count().get_result(conn)?,
                event_store::outbox_backlog(conn)?.0,
            ))
        })
        .await?)
}

pub fn versions(events: &[RecordedEvent]) -> Vec<i64> {
    events.iter().map(|e| e.version).collect()
}
