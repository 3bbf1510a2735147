//! The billing service: customer accounts (balance and credit limit), the single charge of
//! each order, refunds, and the port to the payment provider with its deterministic simulator.
//!
//! `domain` decides, free of I/O; `app` runs staff commands and queries in transactions over
//! the event store and the read models; `participant` answers the order saga on the bus;
//! `adapters` speak gRPC.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod app;
pub mod domain;
pub mod participant;
mod schema;

use fleuve_store::MigrationSet;

pub use adapters::grpc::{BillingGrpc, BillingServiceServer, server};
pub use app::{AppError, Billing, Caller, Page, PageRequest};
pub use participant::BillingParticipant;

/// The saga participant's name: its Kafka consumer group, inbox consumer and dead-letter owner.
pub const NAME: &str = "billing";

/// The read models: `billing_accounts`, `billing_charges` and `billing_refunds` (the event
/// store has its own set).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "billing",
    postgres: None,
    sqlite: None,
    common: Some(diesel_migrations::embed_migrations!("migrations/common")),
};

/// The billing service's topics in the order saga.
pub mod topics {
    /// Consumed: the orchestrator's payment requests and late refunds; produced: the outcome
    /// of the charge.
    pub use fleuve_proto::topics::{PAYMENT_REFUND, PAYMENT_REQUEST, PAYMENT_RESULT};
    /// Each produced topic with the protobuf message its values carry and the file defining it.
    pub const PRODUCED: [(&str, &str, &str); 1] =
        [(PAYMENT_RESULT, "fleuve.billing.v1.PaymentResult", "fleuve/billing/v1/saga.proto")];
    /// Each consumed topic with the message the participant expects on it.
    pub const CONSUMED: [(&str, &str, &str); 2] = [
        (PAYMENT_REQUEST, "fleuve.billing.v1.PaymentRequest", "fleuve/billing/v1/saga.proto"),
        (PAYMENT_REFUND, "fleuve.billing.v1.PaymentRefund", "fleuve/billing/v1/saga.proto"),
    ];
}
