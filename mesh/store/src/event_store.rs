//! The event store API: every function takes `&mut DbConnection`, so a service composes it with
//! its own reads and writes inside one `Database::transaction`.
//!
//! Functions that write several rows (`append`, `save_snapshot`, `next_sequence`) open their
//! own transaction when called outside one, so they are atomic either way.

mod append;
mod append_pg;
mod message;
mod outbox;
mod read;
mod rows;
mod sequence;
mod snapshot;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use uuid::Uuid;

pub use append::append;
pub use message::{OutgoingMessage, append_with_messages, enqueue_message};
pub use outbox::{
    OutboxEntry, OutboxProgress, OutboxRow, Watermark, outbox_backlog, outbox_checkpoint, outbox_log_after,
    outbox_pending, outbox_record, outbox_retries_after,
};
pub use read::{last_position, read_all, read_by_type, read_stream, stream_version};
pub use sequence::next_sequence;
pub use snapshot::{Snapshot, load_snapshot, load_snapshot_and_tail, save_snapshot};

/// Names the stream of one aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamRef {
    pub aggregate_type: String,
    pub aggregate_id: String,
}

impl StreamRef {
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: impl Into<String>) -> StreamRef {
        StreamRef { aggregate_type: aggregate_type.into(), aggregate_id: aggregate_id.into() }
    }

    /// `"{aggregate_type}-{aggregate_id}"`, the key of the stream in the tables.
    pub fn stream_id(&self) -> String {
        format!("{}-{}", self.aggregate_type, self.aggregate_id)
    }
}

/// The version the caller based its decision on. Version 0 means "no stream"; the first event
/// of a stream has version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    NoStream,
    Exact(i64),
    /// Append after whatever the current version is (still atomic with respect to others).
    Any,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// An event with a fresh time-ordered (v7) id.
    pub fn new(event_type: impl Into<String>, payload: Vec<u8>) -> NewEvent {
        NewEvent { event_id: Uuid::now_v7(), event_type: event_type.into(), payload }
    }
}

/// Metadata shared by all the events of one append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventMetadata {
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub actor: String,
    /// W3C `traceparent` (or any propagation string) of the request that caused the events.
    pub trace_context: Option<String>,
}

impl EventMetadata {
    pub fn new(correlation_id: impl Into<String>, actor: impl Into<String>) -> EventMetadata {
        EventMetadata { correlation_id: correlation_id.into(), actor: actor.into(), ..EventMetadata::default() }
    }

    pub fn with_causation_id(mut self, causation_id: impl Into<String>) -> EventMetadata {
        self.causation_id = Some(causation_id.into());
        self
    }

    pub fn with_trace_context(mut self, trace_context: impl Into<String>) -> EventMetadata {
        self.trace_context = Some(trace_context.into());
        self
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position: increases across all streams in insertion order.
    pub position: i64,
    pub stream_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub actor: String,
    pub trace_context: Option<String>,
    /// Microsecond precision, the finest both backends keep.
    pub recorded_at: DateTime<Utc>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Global position of the first appended event; `None` when no event was given.
    pub first_position: Option<i64>,
    /// Version of the stream after the append.
    pub last_version: i64,
}

/// The current time as stored: UTC, truncated to microseconds so that PostgreSQL (which keeps
/// microseconds) and SQLite (which would keep nanoseconds) return the same value.
pub(crate) fn now() -> NaiveDateTime {
    Utc::now().trunc_subsecs(6).naive_utc()
}
