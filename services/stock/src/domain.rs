//! The stock domain: the product and reservation aggregates, free of I/O.
//!
//! A product counts units available and units held by reservations. A reservation belongs to
//! one order and is decided across every product of the order at once: all lines or none, so
//! no quantity ever goes below zero. The caller loads the reservation and the products of its
//! lines in one transaction, applies the decision and publishes the reply.

pub mod product;
pub mod reservation;

#[cfg(test)]
mod tests;

pub use fleuve_aggregate::DomainError;
pub use product::{Product, ProductCommand};
pub use reservation::{Reservation, ReservationCommand, ReservationContext, StockDecision, check, release};

/// Aggregate type names in the event store.
pub const PRODUCT_AGGREGATE: &str = "product";
pub const RESERVATION_AGGREGATE: &str = "reservation";

pub use fleuve_proto::time::timestamp;
