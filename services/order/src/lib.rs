//! The order service: orders and the orchestrator of the commerce saga (stock reservation,
//! payment, compensation). `domain` decides, free of I/O; `app` runs each decision as one
//! transaction on the event store (order stream, saga messages through the outbox, deadline,
//! read model); `participant` feeds the saga's replies to it from Kafka; `adapters` speak
//! gRPC. `SAGA.md` describes the state machine and the topics.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod app;
pub mod domain;
pub mod participant;
mod schema;

use diesel_migrations::embed_migrations;
use fleuve_store::MigrationSet;

pub use adapters::grpc::{OrderGrpc, OrderServiceServer, server};
pub use app::{AppError, Caller, NewOrder, OrderConfig, Orders, Placed, Settings};
pub use domain::saga::topics;
pub use participant::OrderSaga;

/// The orchestrator's consumer group, inbox consumer and dead-letter owner.
pub const NAME: &str = "order-saga";

/// The read model (`order_view`), which also holds each open saga's deadline.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "order",
    postgres: Some(embed_migrations!("migrations/postgres")),
    sqlite: Some(embed_migrations!("migrations/sqlite")),
    common: None,
};
