//! fleuve-bus: the Fleuve event bus — librdkafka (rdkafka) client configuration, an embedded, in-process Kafka-API broker (tansu) for `fleuve dev` and tests, and the outbox relay that publishes stored events in the Confluent wire format.
//!
//! The same rdkafka code runs against Apache Kafka in production and against [`EmbeddedBroker`]
//! locally; only [`BusConfig`] differs (bootstrap servers plus extra librdkafka properties such
//! as `security.protocol` or `sasl.*`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), fleuve_bus::BusError> {
//! use rdkafka::producer::FutureProducer;
//!
//! let broker = fleuve_bus::EmbeddedBroker::start("127.0.0.1:0".parse().unwrap()).await?;
//! let producer: FutureProducer = broker.bus_config().producer_config().create()?;
//! # drop(producer);
//! broker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Runtime note: librdkafka calls that block (synchronous commits, `flush`, consumer close on
//! drop, metadata fetches) wait for the broker. With the embedded broker the broker runs on the
//! caller's tokio runtime, so use a multi-thread runtime and wrap blocking calls in
//! [`tokio::task::block_in_place`] (or `spawn_blocking`); on a current-thread runtime they
//! would deadlock against the broker.
//!
//! The embedded broker is tansu's, except for Produce and Fetch: it indexes every produced batch
//! in a record log and serves fetches from it, answering a waiting fetch as soon as a record
//! arrives. tansu 0.6.0's own fetch sleeps out `fetch.wait.max.ms` even when it found records,
//! lists every batch ever written to the partition, and skips the rest of a batch a consumer
//! resumed in the middle of (see `broker/routes.rs`).
//!
//! Known problem (tansu 0.6.0 with librdkafka 2.12.1 / rdkafka 0.39; whether broker or client is
//! at fault is not established): after `Consumer::committed()` on a subscribed consumer, closing
//! that consumer (its drop) never completes although librdkafka logs the group as left and
//! terminated. Avoid `committed()` on long-lived consumers; check positions by resuming a member.

pub mod admin;
mod broker;
mod config;
pub mod consumer;
mod error;
pub mod failpoints;
pub mod ops;
pub mod projection;
pub mod rebuild;
pub mod relay;
pub mod saga;
pub mod schema;

pub use admin::{BrokerProbe, ensure_topics};
pub use broker::{BrokerStorage, CLUSTER_ID, EmbeddedBroker, NODE_ID};
pub use config::BusConfig;
pub use consumer::{ConsumerSettings, ConsumerStats, Disposition, ProjectionConsumer, RawRecord, RedriveOutcome};
pub use error::BusError;
pub use projection::{BatchError, ConsumedEvent, HandlerError, Projection, Rebuild, ReplaySource};
pub use relay::{OutboxEntry, OutboxRelay, PublishReport};
pub use schema::{
    RegisteredSchema, RegistryAccess, ResolveError, SchemaRegistryClient, SchemaResolver, TopicSchema,
    decode_confluent, encode_confluent,
};
