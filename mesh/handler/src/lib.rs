//! fleuve-handler: what a service implements to consume events from the bus and to take part
//! in sagas, apart from the Kafka client and the embedded broker (`fleuve-bus` runs these
//! handlers), so that a service crate builds without librdkafka or tansu.
//!
//! A [`Projection`] keeps a read model (or a notification log) from events; a
//! [`SagaParticipant`] answers a saga's requests. Either applies one event inside the consumer
//! runtime's transaction: the runtime decodes the record, opens ONE transaction holding the
//! inbox row and whatever the handler writes, commits, and only then stores the offset. A
//! [`Rebuild`] lets a read model be replayed from the event store into a shadow table and
//! swapped in.

pub mod saga;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use fleuve_store::consumer::{InboxEntry, inbox_record};
use fleuve_store::event_store::RecordedEvent;
use fleuve_store::{DbConnection, StoreError};

pub use saga::SagaParticipant;

/// Which protobuf message travels on a topic, and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSchema {
    /// Kafka topic, e.g. `homologation.dossier.v1`; its value subject is `<topic>-value`.
    pub topic: String,
    /// Full message name, e.g. `fleuve.homologation.v1.DossierEvent`.
    pub message: String,
    /// Import path of the `.proto` defining the message, e.g. `fleuve/homologation/v1/events.proto`.
    pub file: String,
}

impl TopicSchema {
    pub fn new(topic: impl Into<String>, message: impl Into<String>, file: impl Into<String>) -> TopicSchema {
        TopicSchema { topic: topic.into(), message: message.into(), file: file.into() }
    }

    /// The subject of the topic's record values (Confluent's TopicNameStrategy).
    pub fn value_subject(&self) -> String {
        format!("{}-value", self.topic)
    }
}

/// A boxed future of the after-commit hook.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One event as a consumer sees it: the protobuf payload (frame removed, message resolved by
/// schema id) and the metadata the outbox relay put into the record headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedEvent {
    pub topic: String,
    /// Kafka partition and offset; for events replayed from the store, partition -1 and the
    /// event's global position as offset.
    pub partition: i32,
    pub offset: i64,
    /// Record key: the aggregate id.
    pub key: Option<String>,
    /// Full protobuf message name the schema id resolved to, e.g. `fleuve.homologation.v1.DossierEvent`.
    pub message: String,
    /// Protobuf-encoded envelope (without the Confluent frame).
    pub payload: Vec<u8>,
    pub event_id: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: i64,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub actor: String,
    pub traceparent: Option<String>,
    /// When the event was recorded (record timestamp, or the store's `recorded_at`).
    pub recorded_at: DateTime<Utc>,
}

impl ConsumedEvent {
    /// An event read back from the event store (replays and rebuilds), as it would arrive on `topic`.
    pub fn from_recorded(event: &RecordedEvent, topic: &str, message: &str) -> ConsumedEvent {
        ConsumedEvent {
            topic: topic.to_owned(),
            partition: -1,
            offset: event.position,
            key: Some(event.aggregate_id.clone()),
            message: message.to_owned(),
            payload: event.payload.clone(),
            event_id: event.event_id.to_string(),
            event_type: event.event_type.clone(),
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            aggregate_version: event.version,
            correlation_id: event.correlation_id.clone(),
            causation_id: event.causation_id.clone(),
            actor: event.actor.clone(),
            traceparent: event.trace_context.clone(),
            recorded_at: event.recorded_at,
        }
    }

    /// The inbox row that records `consumer` applying this event.
    pub fn inbox_entry<'a>(&'a self, consumer: &'a str) -> InboxEntry<'a> {
        InboxEntry {
            consumer,
            event_id: &self.event_id,
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
        }
    }

    /// Decodes the payload as `M`; a payload that does not decode is a permanent failure.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, HandlerError> {
        M::decode(self.payload.as_slice())
            .map_err(|e| HandlerError::Permanent(format!("cannot decode {} as {}: {e}", self.event_type, self.message)))
    }
}

/// Why a projection could not apply an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying as is (database busy, a peer down): retried with backoff, then parked.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help (unknown event, invariant broken): parked at once.
    #[error("permanent: {0}")]
    Permanent(String),
    /// A concurrent change of a shared stream (an expected-version conflict): retried at
    /// once on fresh state, and not counted as a failed attempt until it keeps recurring.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached (down, restarting, no connection free in time): the
    /// record is not at fault, so it is retried with backoff for as long as the outage lasts,
    /// never counted as a failed attempt and never parked.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl HandlerError {
    /// The error of a store operation: a conflict, or else transient.
    pub fn from_store(error: &StoreError, context: impl std::fmt::Display) -> HandlerError {
        Self::of_store(error, format!("{context}: {error}"))
    }

    /// The error of a diesel statement: the database unreachable, or else transient.
    pub fn from_diesel(error: &diesel::result::Error, context: impl std::fmt::Display) -> HandlerError {
        let reason = format!("{context}: {error}");
        if fleuve_store::is_connection_lost(error) {
            HandlerError::Unavailable(reason)
        } else {
            HandlerError::Transient(reason)
        }
    }

    fn of_store(error: &StoreError, reason: String) -> HandlerError {
        if error.is_conflict() {
            HandlerError::Conflict(reason)
        } else if error.is_unavailable() {
            HandlerError::Unavailable(reason)
        } else {
            HandlerError::Transient(reason)
        }
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> HandlerError {
        HandlerError::of_store(&error, error.to_string())
    }
}

impl From<diesel::result::Error> for HandlerError {
    fn from(error: diesel::result::Error) -> HandlerError {
        if fleuve_store::is_connection_lost(&error) {
            HandlerError::Unavailable(error.to_string())
        } else {
            HandlerError::Transient(error.to_string())
        }
    }
}

/// Why [`Projection::apply_batch`] failed; the batch's writes are rolled back with its
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct BatchError {
    /// The index in the batch of the event at fault; `None` when no one event is (a read of
    /// the whole batch's rows failed).
    pub index: Option<usize>,
    pub error: HandlerError,
}

impl BatchError {
    /// A failure of the whole batch.
    pub fn of_batch(error: impl Into<HandlerError>) -> BatchError {
        BatchError { index: None, error: error.into() }
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> BatchError {
        BatchError::of_batch(error)
    }
}

impl From<diesel::result::Error> for BatchError {
    fn from(error: diesel::result::Error) -> BatchError {
        BatchError::of_batch(error)
    }
}

/// A consumer of events that keeps state in the database (a read model, a notification log).
///
/// `apply` must be deterministic in the event and the database state: it runs inside the
/// runtime's transaction, may be retried after a rollback, and must not perform side effects
/// outside the database (do those from [`Projection::applied`] or a worker fed by a table).
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the Kafka consumer group, the inbox consumer and the dead-letter owner.
    fn name(&self) -> &str;

    /// The topics consumed and the message expected on each. A record whose schema id
    /// resolves to another message is parked.
    fn topics(&self) -> Vec<TopicSchema>;

    /// Applies one event inside the runtime's transaction (the inbox row is already written).
    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError>;

    /// Applies `events` in order inside one transaction, leaving the same rows as
    /// [`Projection::apply`] called on each in turn. A rebuild replays the event store through
    /// it. The default does exactly that; a projection overrides it to read and write a
    /// batch's rows with a few statements instead of a few per event.
    fn apply_batch(&self, conn: &mut DbConnection, events: &[ConsumedEvent]) -> Result<(), BatchError> {
        for (index, event) in events.iter().enumerate() {
            self.apply(conn, event).map_err(|error| BatchError { index: Some(index), error })?;
        }
        Ok(())
    }

    /// How many records of different keys the runtime may apply at once (records of one key
    /// are always applied in order, one at a time). More than 1 only when applying events of
    /// different keys never writes the same rows, or when such clashes are retried (an
    /// expected-version conflict); rows shared by every key (counters) would serialize on
    /// their locks or deadlock.
    fn concurrency(&self) -> usize {
        1
    }

    /// Runs after the transaction of `event` committed: cache invalidation, waking watchers.
    /// Must not fail the event; best effort.
    fn applied<'a>(&'a self, event: &'a ConsumedEvent) -> HookFuture<'a> {
        let _ = event;
        Box::pin(async {})
    }
}

/// An event-store stream type replayed by a rebuild, and the topic its events travel on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySource {
    /// `aggregate_type` of the stored events, e.g. `dossier`.
    pub aggregate_type: String,
    /// The topic and message the events would arrive with.
    pub schema: TopicSchema,
}

/// A read model that can be rebuilt from the event store while it keeps answering queries.
///
/// The rebuild (`fleuve_bus::rebuild`) clears the shadow table, replays every stored event
/// of [`Rebuild::sources`] into it through [`Rebuild::shadow`], then in ONE transaction
/// locks the live table against writers (readers go on), replaces its rows by the shadow's
/// and applies the events recorded since the replay through [`Rebuild::live`]. Live rows must
/// therefore ignore an event whose aggregate version they already reflect.
pub trait Rebuild: Send + Sync + 'static {
    /// The name operators use (`fleuve projections rebuild <name>`).
    fn name(&self) -> &str;
    /// Streams replayed, in global order.
    fn sources(&self) -> Vec<ReplaySource>;
    /// The projection writing the live table (the one the consumer runs).
    fn live(&self) -> &dyn Projection;
    /// The same projection writing the shadow table.
    fn shadow(&self) -> &dyn Projection;
    /// Empties the shadow table.
    fn clear_shadow(&self, conn: &mut DbConnection) -> Result<(), StoreError>;
    /// Blocks writers of the live table until the transaction ends (PostgreSQL: `LOCK TABLE
    /// ... IN EXCLUSIVE MODE`, which readers pass; SQLite: a no-op, its write transaction
    /// already excludes writers).
    fn lock_live(&self, conn: &mut DbConnection) -> Result<(), StoreError>;
    /// Replaces the live rows by the shadow rows.
    fn copy_shadow_to_live(&self, conn: &mut DbConnection) -> Result<(), StoreError>;
    /// Events read and applied per transaction of the replay. A model whose projections fold
    /// a batch at once ([`Projection::apply_batch`]) writes each row once per batch and gains
    /// from larger ones; one applying event by event only holds its transaction (on SQLite,
    /// the database's one writer lock) longer.
    fn replay_batch(&self) -> i64 {
        500
    }
    /// After the swap committed (e.g. flush a cache).
    fn swapped(&self) -> HookFuture<'_> {
        Box::pin(async {})
    }
}

/// Inside the caller's transaction: the inbox row, then the handler's writes, unless the
/// handler applied this event before. Returns whether it was applied now. This is the consumer
/// runtime's transaction body without the dead-letter check (redrives check it themselves);
/// tests use it to deliver an event as the runtime would.
pub fn apply_once(
    conn: &mut DbConnection,
    projection: &dyn Projection,
    event: &ConsumedEvent,
) -> Result<bool, HandlerError> {
    if !inbox_record(conn, &event.inbox_entry(projection.name()))? {
        return Ok(false);
    }
    projection.apply(conn, event)?;
    Ok(true)
}
