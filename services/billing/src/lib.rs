//! The billing service: customer accounts (balance and credit limit), the single charge of
//! each order, refunds, and the port to the payment provider with its deterministic simulator.
//! `domain` decides, free of I/O; the event store, Kafka and gRPC adapters come on top of it.

#![forbid(unsafe_code)]

pub mod domain;

/// The billing service's topics in the order saga.
pub mod topics {
    /// Consumed: the orchestrator asks for the order's charge.
    pub const PAYMENT_REQUEST: &str = "payment.request";
    /// Consumed: the orchestrator refunds a payment approved after it gave up.
    pub const PAYMENT_REFUND: &str = "payment.refund";
    /// Produced: the outcome of the charge.
    pub const PAYMENT_RESULT: &str = "payment.result";
    /// Each produced topic with the protobuf message its values carry and the file defining it.
    pub const PRODUCED: [(&str, &str, &str); 1] =
        [(PAYMENT_RESULT, "fleuve.billing.v1.PaymentResult", "fleuve/billing/v1/saga.proto")];
}
