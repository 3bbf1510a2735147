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

pub use account::{Account, AccountCommand};
pub use charge::{Charge, ChargeCommand, ChargeContext, RefundDecision, refund, refund_for_saga};
pub use fleuve_aggregate::DomainError;
pub use payment::{PaymentDecision, Precheck, pay, precheck, settle};
pub use provider::{Authorization, PaymentProvider, ProviderOutcome, SimulatedProvider};

/// Aggregate type names in the event store.
pub const ACCOUNT_AGGREGATE: &str = "account";
pub const CHARGE_AGGREGATE: &str = "charge";

pub use fleuve_proto::time::{instant, timestamp};
