//! Errors of the event bus.

use std::net::SocketAddr;
use std::time::Duration;

/// Errors raised while starting the embedded broker or creating bus clients.
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
    /// The broker did not accept a TCP connection in time.
    #[error("embedded broker on {addr} did not accept connections within {timeout:?}")]
    StartupTimeout { addr: SocketAddr, timeout: Duration },
    /// librdkafka refused a configuration or an operation.
    #[error("kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}
