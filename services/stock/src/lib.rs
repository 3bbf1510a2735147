//! The stock service: products with their quantities and the reservation each order holds,
//! taken all lines or none. `domain` decides, free of I/O; `app` runs commands, queries and
//! the saga's requests in transactions over the event store; `participant` consumes the order
//! saga's requests; `adapters` speak gRPC.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod app;
pub mod domain;
pub mod participant;
mod schema;

use fleuve_store::MigrationSet;

pub use adapters::grpc::{StockGrpc, StockServiceServer, server};
pub use app::{AppError, Caller, Page, PageRequest, ReservationFilter, Stock};
pub use participant::StockParticipant;

/// The saga consumer's name: its Kafka consumer group, inbox consumer and dead-letter owner;
/// also the actor of the events and replies it writes.
pub const NAME: &str = "stock";

/// The read-model tables: `stock_products`, `stock_reservations` and their lines (the event
/// store has its own set).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "stock",
    postgres: None,
    sqlite: None,
    common: Some(diesel_migrations::embed_migrations!("migrations/common")),
};

/// The stock service's topics in the order saga.
pub mod topics {
    /// Consumed: the orchestrator's reservation requests and compensations; produced: every
    /// reply to the orchestrator.
    pub use fleuve_proto::topics::{STOCK_CHECK_REQUEST, STOCK_CHECKED, STOCK_RELEASE};
    /// Each produced topic with the protobuf message its values carry and the file defining it.
    pub const PRODUCED: [(&str, &str, &str); 1] =
        [(STOCK_CHECKED, "fleuve.stock.v1.StockChecked", "fleuve/stock/v1/saga.proto")];
    /// Each consumed topic with the message expected on it and the file defining it.
    pub const CONSUMED: [(&str, &str, &str); 2] = [
        (STOCK_CHECK_REQUEST, "fleuve.stock.v1.StockCheckRequest", "fleuve/stock/v1/saga.proto"),
        (STOCK_RELEASE, "fleuve.stock.v1.StockRelease", "fleuve/stock/v1/saga.proto"),
    ];
}
