//! Errors of the event bus.

use std::net::SocketAddr;
use std::time::Duration;

/// Errors of the embedded broker, bus clients, schema registration and the outbox relay.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// tansu rejected its configuration or failed while serving.
    #[error("embedded broker failed: {0}")]
    Broker(#[from] tansu_broker::Error),
    /// The listener address could not be turned into the URL tansu expects.
    #[error("invalid broker listener url: {0}")]
    ListenerUrl(#[from] url::ParseError),
    /// A free port could not be reserved for an ephemeral listener.
    #[error("cannot reserve a port on {addr}: {source}")]
    ReservePort {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The broker task ended (or panicked) before it accepted connections.
    #[error("embedded broker on {addr} stopped during startup: {reason}")]
    Stopped { addr: SocketAddr, reason: String },
    /// The embedded broker's directory or journal could not be used.
    #[error("embedded broker storage: {0}")]
    Storage(String),
    /// The broker did not accept a TCP connection in time.
    #[error("embedded broker on {addr} did not accept connections within {timeout:?}")]
    StartupTimeout { addr: SocketAddr, timeout: Duration },
    /// librdkafka refused a configuration or an operation.
    #[error("kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A topic could not be created or did not appear in the broker's metadata.
    #[error("topic error: {0}")]
    Topic(String),
    /// A value is not in the Confluent protobuf wire format.
    #[error("invalid confluent frame: {0}")]
    WireFormat(String),
    /// A topic's schema cannot be found in the compiled contracts.
    #[error("schema error: {0}")]
    Schema(String),
    /// The schema registry refused a request or could not be reached.
    #[error("schema registry error: {0}")]
    Registry(String),
    /// The event store failed.
    #[error("event store error: {0}")]
    Store(#[from] fleuve_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    /// Some events of a batch were not delivered (queued in the outbox's retries, published
    /// again later).
    #[error("{failed} events not delivered, first: {first}")]
    Delivery { failed: usize, first: String },
    /// `drain` or `run_once` published what the watermark had passed (`published` events, up
    /// to position `watermark`) but not every event committed before the call (up to
    /// `position`): a write transaction of the database, running at the readings that would
    /// pass them, stayed open past the relay's drain wait (the watermark cannot pass a position
    /// such a transaction may still commit below).
    #[error(
        "events up to position {position} were committed before the drain, which published {published} up to \
         position {watermark}: after {waited:?} a write transaction of this database left open still holds the \
         outbox watermark there"
    )]
    WatermarkHeld { position: i64, watermark: i64, waited: Duration, published: usize },
    /// A background task of the bus panicked or was cancelled.
    #[error("{0}")]
    Task(String),
    /// A read model could not be rebuilt.
    #[error("rebuild failed: {0}")]
    Rebuild(String),
}
