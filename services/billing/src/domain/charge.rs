//! The charge aggregate (one per order): the order's single payment decision and its refunds,
//! never more than was charged.

use chrono::{DateTime, Utc};
use fleuve_aggregate::Aggregate;
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::{Money, SagaStepKind};
use pb::charge_event::Event;

use super::account::{Account, account_event};
use super::{CHARGE_AGGREGATE, DomainError, timestamp};

/// A refund as recorded on its charge.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRefund {
    pub refund_id: String,
    pub amount: i64,
    pub reason: String,
    pub refunded_at: Option<prost_types::Timestamp>,
}

/// A charge's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charge {
    /// Empty until the order's payment is decided.
    pub charge_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: Option<Money>,
    /// `Unspecified` while undecided.
    pub status: pb::ChargeStatus,
    pub decline_reason: pb::DeclineReason,
    pub decline_detail: String,
    pub provider_reference: String,
    /// Sum of the refunds, in minor units.
    pub refunded: i64,
    pub refunds: Vec<RecordedRefund>,
    pub charged_at: Option<prost_types::Timestamp>,
    pub version: i64,
}

/// What a refund decided: the events for the charge's stream and the account's stream.
/// A replayed refund decides no events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefundDecision {
    pub charge_events: Vec<pb::ChargeEvent>,
    pub account_events: Vec<pb::AccountEvent>,
}

/// A staff command on an order's charge (payments are decided by [`super::payment`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeCommand {
    Refund { refund_id: String, amount: Money, reason: String },
}

/// What a charge decides with: the paying customer's account, and the time.
#[derive(Debug, Clone, Default)]
pub struct ChargeContext {
    pub account: Account,
    pub now: DateTime<Utc>,
}

impl Aggregate for Charge {
    const KIND: &'static str = CHARGE_AGGREGATE;
    type Event = pb::ChargeEvent;
    type Command = ChargeCommand;
    type Context = ChargeContext;
    type Error = DomainError;

    /// The charge's part of [`refund`]; the caller records the account's events too.
    fn handle(&self, command: ChargeCommand, cx: &ChargeContext) -> Result<Vec<pb::ChargeEvent>, DomainError> {
        let ChargeCommand::Refund { refund_id, amount, reason } = command;
        Ok(refund(self, &cx.account, &refund_id, &amount, &reason, cx.now)?.charge_events)
    }

    /// Folds one event into the state.
    fn apply(&mut self, event: &pb::ChargeEvent) {
        self.version += 1;
        let Some(inner) = &event.event else { return };
        match inner {
            Event::Approved(e) => {
                self.decided(&e.charge_id, &e.order_id, &e.customer_id, &e.amount, event.occurred_at);
                self.status = pb::ChargeStatus::Approved;
                self.provider_reference.clone_from(&e.provider_reference);
            }
            Event::Declined(e) => {
                self.decided(&e.charge_id, &e.order_id, &e.customer_id, &e.amount, event.occurred_at);
                self.status = pb::ChargeStatus::Declined;
                self.decline_reason = e.reason();
                self.decline_detail.clone_from(&e.detail);
            }
            Event::TimedOut(e) => {
                self.decided(&e.charge_id, &e.order_id, &e.customer_id, &e.amount, event.occurred_at);
                self.status = pb::ChargeStatus::TimedOut;
            }
            Event::Refunded(e) => {
                let amount = e.amount.as_ref().map_or(0, |m| m.amount);
                self.refunded = self.refunded.saturating_add(amount);
                self.refunds.push(RecordedRefund {
                    refund_id: e.refund_id.clone(),
                    amount,
                    reason: e.reason.clone(),
                    refunded_at: event.occurred_at,
                });
                if self.refunded >= self.charged() {
                    self.status = pb::ChargeStatus::Refunded;
                }
            }
        }
    }
}

impl Charge {
    pub fn is_decided(&self) -> bool {
        self.status != pb::ChargeStatus::Unspecified
    }

    fn charged(&self) -> i64 {
        self.amount.as_ref().map_or(0, |m| m.amount)
    }

    /// The reply this charge gives on `payment.result`; none after a provider timeout.
    pub fn result(&self) -> Option<pb::payment_result::Outcome> {
        use pb::payment_result::Outcome;
        match self.status {
            pb::ChargeStatus::Approved | pb::ChargeStatus::Refunded => Some(Outcome::Approved(pb::PaymentApproved {
                charge_id: self.charge_id.clone(),
                amount: self.amount.clone(),
            })),
            pb::ChargeStatus::Declined => Some(Outcome::Declined(pb::PaymentDeclined {
                reason: self.decline_reason.into(),
                detail: self.decline_detail.clone(),
            })),
            pb::ChargeStatus::TimedOut | pb::ChargeStatus::Unspecified => None,
        }
    }

    fn decided(
        &mut self,
        charge_id: &str,
        order_id: &str,
        customer_id: &str,
        amount: &Option<Money>,
        at: Option<prost_types::Timestamp>,
    ) {
        self.charge_id = charge_id.to_owned();
        self.order_id = order_id.to_owned();
        self.customer_id = customer_id.to_owned();
        self.amount.clone_from(amount);
        self.charged_at = at;
    }
}

/// Gives back `amount` of an approved charge to the customer's account. Idempotent per
/// `refund_id`: the same refund again decides nothing; the same id for another amount is refused.
pub fn refund(
    charge: &Charge,
    account: &Account,
    refund_id: &str,
    amount: &Money,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<RefundDecision, DomainError> {
    let refund_id = refund_id.trim();
    if refund_id.is_empty() {
        return Err(DomainError::Invalid("refund id is missing".into()));
    }
    if !charge.is_decided() {
        return Err(DomainError::NotFound("no charge for this order".into()));
    }
    if let Some(done) = charge.refunds.iter().find(|r| r.refund_id == refund_id) {
        return if done.amount == amount.amount {
            Ok(RefundDecision::default())
        } else {
            Err(DomainError::Precondition(format!("refund {refund_id} was for {}, not {}", done.amount, amount.amount)))
        };
    }
    match charge.status {
        pb::ChargeStatus::Approved => {}
        pb::ChargeStatus::Refunded => {
            return Err(DomainError::Precondition("charge is already refunded in full".into()));
        }
        _ => return Err(DomainError::Precondition("only an approved charge can be refunded".into())),
    }
    let currency = charge.amount.as_ref().map_or("", |m| m.currency.as_str());
    let value = super::money::positive_in(Some(amount), currency)?;
    let left = charge.charged() - charge.refunded;
    if value > left {
        return Err(DomainError::Precondition(format!("refund of {value} exceeds the {left} left to refund")));
    }
    if account.customer_id != charge.customer_id {
        return Err(DomainError::Precondition(format!("account of {} did not pay this charge", account.customer_id)));
    }
    let reason = reason.trim().to_owned();
    let charge_event =
        Event::Refunded(pb::ChargeRefunded { refund_id: refund_id.into(), amount: Some(amount.clone()), reason });
    let account_event_ = pb::account_event::Event::Refunded(pb::AccountRefunded {
        refund_id: refund_id.into(),
        order_id: charge.order_id.clone(),
        amount: Some(amount.clone()),
    });
    Ok(RefundDecision {
        charge_events: vec![pb::ChargeEvent { occurred_at: Some(timestamp(now)), event: Some(charge_event) }],
        account_events: vec![account_event(account_event_, now)],
    })
}

/// Decides a `payment.refund` from the orchestrator: refunds what is left of the charge, up to
/// the requested amount. A charge that was never approved, or is refunded already, gets nothing.
pub fn refund_for_saga(
    charge: &Charge,
    account: &Account,
    request: &pb::PaymentRefund,
    now: DateTime<Utc>,
) -> Result<RefundDecision, DomainError> {
    let step = fleuve_aggregate::saga_step(request.step.as_ref(), SagaStepKind::PaymentRefund)?;
    if charge.is_decided() && charge.order_id != step.saga_id {
        return Err(DomainError::Precondition(format!(
            "charge of order {} cannot answer saga {}",
            charge.order_id, step.saga_id
        )));
    }
    if charge.refunds.iter().any(|r| r.refund_id == request.refund_id) || charge.status != pb::ChargeStatus::Approved {
        return Ok(RefundDecision::default());
    }
    let wanted = request.amount.as_ref().map_or(0, |m| m.amount);
    let amount = wanted.min(charge.charged() - charge.refunded);
    let currency = charge.amount.as_ref().map_or(String::new(), |m| m.currency.clone());
    refund(charge, account, &request.refund_id, &Money { currency, amount }, &request.reason, now)
}
