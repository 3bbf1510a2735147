//! The billing domain: the account and charge aggregates and the payment-provider port, free
//! of I/O.
//!
//! An account (one per customer) holds the balance, which may go down to minus the credit
//! limit. A charge (one per order) holds the single payment decision of the order and its
//! refunds. A payment or a refund writes both streams in one transaction; replaying a request
//! writes nothing and gives the first answer again.

mod account;
mod charge;
pub mod money;
pub mod payment;
pub mod provider;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use account::{Account, AccountCommand};
pub use charge::{Charge, ChargeCommand, ChargeContext, RefundDecision, refund, refund_for_saga};
pub use fleuve_aggregate::DomainError;
pub use payment::{PaymentDecision, Precheck, pay, precheck, settle};
pub use provider::{Authorization, PaymentProvider, ProviderOutcome, SimulatedProvider};

/// Aggregate type names in the event store.
pub const ACCOUNT_AGGREGATE: &str = "account";
pub const CHARGE_AGGREGATE: &str = "charge";

/// An instant as a protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    // Sub-second nanoseconds are below one billion, so they fit.
    prost_types::Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

/// The instant of a protobuf timestamp; `None` when out of range.
pub fn instant(at: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}
