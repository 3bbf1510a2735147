//! The order service: orders and the orchestrator of the commerce saga (stock reservation,
//! payment, compensation). `domain` decides, free of I/O; the event store, Kafka and gRPC
//! adapters come on top of it. `SAGA.md` describes the state machine and the topics.

#![forbid(unsafe_code)]

pub mod domain;

pub use domain::saga::topics;
