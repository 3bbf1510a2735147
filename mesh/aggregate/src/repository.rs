//! Loading and saving aggregates through the event store, in the caller's transaction, and the
//! bounded retry of a transaction that lost a race on a stream.
//!
//! `load` and `save` take `&mut DbConnection`, so one transaction can load several aggregates,
//! decide, save each of them and write the service's own rows (read models, sequences)
//! beside them: all of it commits, or none of it.

use std::sync::Arc;

use fleuve_proto::EventType;
use fleuve_store::event_store::{
    self, AppendOutcome, EventMetadata, ExpectedVersion, NewEvent, OutgoingMessage, StreamRef,
};
use fleuve_store::{Database, DbConnection, StoreError};
use prost::Message;

use crate::{Aggregate, IsConflict};

/// An aggregate as its stream has it: its id, its state and the stream's version (0 when the
/// stream does not exist yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    pub id: String,
    pub state: A,
    pub version: i64,
}

impl<A: Aggregate> Loaded<A> {
    /// An aggregate without events: what `load` gives for a stream that does not exist.
    pub fn new(id: impl Into<String>) -> Loaded<A> {
        Loaded { id: id.into(), state: A::default(), version: 0 }
    }

    /// True once the stream has events.
    pub fn exists(&self) -> bool {
        self.version > 0
    }

    pub fn stream(&self) -> StreamRef {
        StreamRef::new(A::KIND, &self.id)
    }

    /// The version an append of a decision taken on this state must find.
    pub fn expected(&self) -> ExpectedVersion {
        if self.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(self.version) }
    }

    /// Refuses with `ABORTED` when the caller based its command on another version than the
    /// one loaded; `expected` 0 means "whatever the current version".
    pub fn check_expected(&self, expected: i64) -> Result<(), StoreError> {
        if expected == 0 || expected == self.version {
            return Ok(());
        }
        Err(StoreError::Conflict { stream_id: self.stream().stream_id(), expected, actual: self.version })
    }

    /// Folds `events` into the state, moving the version on.
    pub fn apply_all(&mut self, events: &[A::Event]) {
        for event in events {
            self.state.apply(event);
        }
        self.version += i64::try_from(events.len()).expect("fewer than 2^63 events");
    }
}

/// What a save did: the aggregate after its events, and the append's outcome (positions).
#[derive(Debug, Clone)]
pub struct Saved<A> {
    pub loaded: Loaded<A>,
    /// `None` when there were no events to append.
    pub outcome: Option<AppendOutcome>,
    /// The stored events, in order, with their ids (the causation of what they cause).
    pub events: Vec<NewEvent>,
}

/// The aggregate `id` of kind `A`: from its snapshot and the events after it when `A` has a
/// snapshot policy and a usable snapshot exists, else by replaying its whole stream.
pub fn load<A, E>(conn: &mut DbConnection, id: &str) -> Result<Loaded<A>, E>
where
    A: Aggregate,
    E: From<StoreError> + From<prost::DecodeError>,
{
    let mut loaded = Loaded::<A>::new(id);
    let Some(policy) = &A::SNAPSHOTS else {
        fold_stream::<A, E>(conn, &mut loaded)?;
        return Ok(loaded);
    };
    // One statement: the snapshot of this schema (a snapshot of another is not read) and the
    // events after it.
    let stream = loaded.stream();
    let (snapshot, tail) = event_store::load_snapshot_and_tail(conn, &stream, policy.schema_version)?;
    if let Some(snapshot) = snapshot {
        match (policy.decode)(&snapshot.state) {
            Ok(state) => {
                loaded.state = state;
                loaded.version = snapshot.version;
            }
            Err(error) => {
                tracing::warn!(stream = %stream.stream_id(), %error, "snapshot unreadable, replaying");
                fold_stream::<A, E>(conn, &mut loaded)?;
                return Ok(loaded);
            }
        }
    }
    fold::<A, E>(&mut loaded, tail)?;
    Ok(loaded)
}

/// The aggregate `id` folded from every event of its stream, whatever its snapshot says (for
/// checks that a snapshot, a read model or a load agrees with the stream).
pub fn replay<A, E>(conn: &mut DbConnection, id: &str) -> Result<Loaded<A>, E>
where
    A: Aggregate,
    E: From<StoreError> + From<prost::DecodeError>,
{
    let mut loaded = Loaded::<A>::new(id);
    fold_stream::<A, E>(conn, &mut loaded)?;
    Ok(loaded)
}

fn fold_stream<A, E>(conn: &mut DbConnection, loaded: &mut Loaded<A>) -> Result<(), E>
where
    A: Aggregate,
    E: From<StoreError> + From<prost::DecodeError>,
{
    let events = event_store::read_stream(conn, &loaded.stream(), loaded.version + 1)?;
    fold::<A, E>(loaded, events)
}

fn fold<A, E>(loaded: &mut Loaded<A>, events: Vec<event_store::RecordedEvent>) -> Result<(), E>
where
    A: Aggregate,
    E: From<prost::DecodeError>,
{
    for recorded in events {
        let event = A::Event::decode(recorded.payload.as_slice())?;
        loaded.state.apply(&event);
        loaded.version = recorded.version;
    }
    Ok(())
}

/// Appends `events` to the aggregate's stream at the version it was loaded at, each with the
/// topic `A::TOPIC` (the relay publishes them from the log), and `messages` queued in the same
/// write; saves a snapshot when one
/// falls due. With no events only the messages are queued (a replayed request answered
/// again). A stream that moved since the load is `StoreError::Conflict`.
pub fn save<A, E>(
    conn: &mut DbConnection,
    loaded: Loaded<A>,
    events: &[A::Event],
    meta: &EventMetadata,
    messages: &[OutgoingMessage<'_>],
) -> Result<Saved<A>, E>
where
    A: Aggregate,
    E: From<StoreError>,
{
    if events.is_empty() {
        for m in messages {
            event_store::enqueue_message(conn, m.topic, m.key, m.message_type, m.payload.to_vec(), meta)?;
        }
        return Ok(Saved { loaded, outcome: None, events: Vec::new() });
    }
    let stream = loaded.stream();
    let new_events: Vec<NewEvent> = events.iter().map(|e| NewEvent::new(e.event_type(), e.encode_to_vec())).collect();
    let (outcome, _) =
        event_store::append_with_messages(conn, &stream, loaded.expected(), &new_events, meta, A::TOPIC, messages)?;
    let before = loaded.version;
    let mut next = loaded;
    next.apply_all(events);
    if let Some(policy) = &A::SNAPSHOTS
        && policy.due(before, next.version)
    {
        event_store::save_snapshot(conn, &stream, next.version, policy.schema_version, &(policy.encode)(&next.state))?;
    }
    Ok(Saved { loaded: next, outcome: Some(outcome), events: new_events })
}

/// `handle` then [`save`]: decides `command` on the loaded state and records the events.
pub fn execute<A, E>(
    conn: &mut DbConnection,
    loaded: Loaded<A>,
    command: A::Command,
    cx: &A::Context,
    meta: &EventMetadata,
) -> Result<Saved<A>, E>
where
    A: Aggregate,
    E: From<StoreError> + From<A::Error>,
{
    let events = loaded.state.handle(command, cx)?;
    save(conn, loaded, &events, meta, &[])
}

/// How often [`transact`] runs a transaction again after a version conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retries {
    /// The caller named the version it decided on: a conflict is its answer (`ABORTED`).
    None,
    /// The caller takes whatever the current state is: reload and decide again, this many
    /// times at most.
    UpTo(usize),
}

impl Retries {
    /// The usual policy of a command: retry unless the caller named a version (`expected` ≠ 0).
    pub fn unless_expected(expected: i64) -> Retries {
        if expected == 0 { Retries::DEFAULT } else { Retries::None }
    }

    /// Three more runs on fresh loads after the first: enough for a stream a few writers
    /// share; a hotter stream should not be written by a retrying command.
    pub const DEFAULT: Retries = Retries::UpTo(3);
}

/// Runs `work` in one transaction of `db`, and again on a fresh transaction when it fails with
/// a version conflict, as `retries` allows. `work` loads what it decides on, so each run
/// decides on the state as it is then.
pub async fn transact<T, E, F>(db: &Database, retries: Retries, work: F) -> Result<T, E>
where
    F: Fn(&mut DbConnection) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: From<StoreError> + From<diesel::result::Error> + IsConflict + Send + 'static,
{
    let limit = match retries {
        Retries::None => 0,
        Retries::UpTo(n) => n,
    };
    let work = Arc::new(work);
    let mut attempt = 0;
    loop {
        let run = Arc::clone(&work);
        match db.transaction(move |conn| run(conn)).await {
            Err(error) if error.is_conflict() && attempt < limit => {
                attempt += 1;
                tracing::debug!(attempt, "concurrent change of a stream, retrying on a fresh load");
            }
            other => return other,
        }
    }
}
