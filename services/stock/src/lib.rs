//! The stock service: products with their quantities and the reservation each order holds,
//! taken all lines or none. `domain` decides, free of I/O; the event store, Kafka and gRPC
//! adapters come on top of it.

#![forbid(unsafe_code)]

pub mod domain;

/// The stock service's topics in the order saga.
pub mod topics {
    /// Consumed: the orchestrator asks for a reservation.
    pub const STOCK_CHECK_REQUEST: &str = "stock.check.request";
    /// Consumed: the orchestrator's compensation.
    pub const STOCK_RELEASE: &str = "stock.release";
    /// Produced: every reply to the orchestrator.
    pub const STOCK_CHECKED: &str = "stock.checked";
    /// Each produced topic with the protobuf message its values carry and the file defining it.
    pub const PRODUCED: [(&str, &str, &str); 1] =
        [(STOCK_CHECKED, "fleuve.stock.v1.StockChecked", "fleuve/stock/v1/saga.proto")];
}
