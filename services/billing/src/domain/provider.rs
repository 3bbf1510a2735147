//! The port to the payment provider, and the deterministic simulator used in development and
//! tests: the card token alone decides the outcome.

use fleuve_proto::billing::v1::DeclineReason;
use fleuve_proto::common::v1::Money;

/// What the provider is asked to authorise.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub charge_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: Money,
    pub payment_token: String,
}

/// The provider's answer. A timeout is not a decline: nobody knows the outcome, the order
/// saga gets no reply and fails at its payment deadline.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderOutcome {
    Approved { reference: String },
    Declined { reason: DeclineReason, detail: String },
    TimedOut,
}

/// A payment provider. Implementations doing network I/O are called by the application
/// layer between [`super::precheck`] and [`super::settle`]; [`super::pay`] chains the three
/// for providers that answer synchronously, such as the simulator.
pub trait PaymentProvider {
    fn authorize(&self, request: &Authorization) -> ProviderOutcome;
}

/// Token prefixes the simulator recognises.
pub const FLAGGED_PREFIX: &str = "tok_flagged";
pub const TIMEOUT_PREFIX: &str = "tok_timeout";
pub const INSUFFICIENT_FUNDS_PREFIX: &str = "tok_insufficient";

/// Decides by the card token: `tok_flagged*` is declined as flagged, `tok_insufficient*` as a
/// card without funds, `tok_timeout*` never answers, a blank token is invalid, and any other
/// token is approved with the reference `sim-<charge id>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimulatedProvider;

impl PaymentProvider for SimulatedProvider {
    fn authorize(&self, request: &Authorization) -> ProviderOutcome {
        let token = request.payment_token.trim();
        if token.is_empty() {
            ProviderOutcome::Declined { reason: DeclineReason::InvalidToken, detail: "payment token is empty".into() }
        } else if token.starts_with(FLAGGED_PREFIX) {
            ProviderOutcome::Declined {
                reason: DeclineReason::CardFlagged,
                detail: "card flagged by the provider".into(),
            }
        } else if token.starts_with(INSUFFICIENT_FUNDS_PREFIX) {
            ProviderOutcome::Declined {
                reason: DeclineReason::InsufficientFunds,
                detail: "card has insufficient funds".into(),
            }
        } else if token.starts_with(TIMEOUT_PREFIX) {
            ProviderOutcome::TimedOut
        } else {
            ProviderOutcome::Approved { reference: format!("sim-{}", request.charge_id) }
        }
    }
}
