//! The order's single charge: a `payment.request` is decided once; a redelivery, a resend or a
//! late duplicate gets the first answer and changes nothing.
//!
//! Billing refuses on its own, without the provider, when the request is past its deadline,
//! the amount is not positive, the customer has no account, the currency differs or balance
//! plus credit limit is short. Otherwise the provider decides: approved (the account is
//! charged), declined, or timed out (nothing is taken and nothing is replied).

use chrono::{DateTime, Utc};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use pb::DeclineReason;
use pb::charge_event::Event;

use super::account::{Account, account_event};
use super::charge::Charge;
use super::provider::{Authorization, PaymentProvider, ProviderOutcome};
use super::{DomainError, instant, timestamp};

/// What a payment request decided: events for the order's charge stream and the customer's
/// account stream, and the reply to publish on `payment.result` (none after a provider timeout).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaymentDecision {
    pub charge_events: Vec<pb::ChargeEvent>,
    pub account_events: Vec<pb::AccountEvent>,
    pub reply: Option<pb::PaymentResult>,
}

/// The first half of a payment, before the provider is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Precheck {
    /// The order's charge is decided already: no events, the first reply again.
    Decided(PaymentDecision),
    /// Billing declines without asking the provider.
    Declined(PaymentDecision),
    /// Ask the provider (with the charge id as its idempotency key), then [`settle`].
    Authorize(Authorization),
}

/// Decides what a payment request needs. `charge` is the order's charge stream, `account` the
/// stream of the request's customer (default when there is none).
pub fn precheck(
    charge: &Charge,
    account: &Account,
    request: &pb::PaymentRequest,
    charge_id: &str,
    now: DateTime<Utc>,
) -> Result<Precheck, DomainError> {
    let step = fleuve_aggregate::saga_step(request.step.as_ref(), SagaStepKind::Payment)?;
    if charge.is_decided() {
        if charge.order_id != step.saga_id {
            return Err(DomainError::Precondition(format!(
                "charge of order {} cannot answer saga {}",
                charge.order_id, step.saga_id
            )));
        }
        return Ok(Precheck::Decided(PaymentDecision {
            reply: charge.result().map(|o| reply(&step, o, now)),
            ..Default::default()
        }));
    }
    if account.is_open() && account.customer_id != request.customer_id {
        return Err(DomainError::Precondition(format!(
            "account of {} cannot pay for {}",
            account.customer_id, request.customer_id
        )));
    }
    let authorization = Authorization {
        charge_id: charge_id.to_owned(),
        order_id: step.saga_id.clone(),
        customer_id: request.customer_id.clone(),
        amount: request.amount.clone().unwrap_or_default(),
        payment_token: request.payment_token.clone(),
    };
    let amount = &authorization.amount;
    let refusal = if request.deadline.as_ref().and_then(instant).is_some_and(|deadline| now > deadline) {
        Some((DeclineReason::DeadlinePassed, "the request arrived after its deadline".to_owned()))
    } else if amount.amount <= 0 {
        Some((DeclineReason::InvalidAmount, "amount must be positive".to_owned()))
    } else if !account.is_open() {
        Some((DeclineReason::UnknownAccount, format!("no account for customer {:?}", request.customer_id)))
    } else if amount.currency != account.currency {
        Some((
            DeclineReason::CurrencyMismatch,
            format!("amount is in {:?}, the account is in {}", amount.currency, account.currency),
        ))
    } else if account.available() < amount.amount {
        Some((
            DeclineReason::InsufficientFunds,
            format!("{} available, {} requested", account.available(), amount.amount),
        ))
    } else {
        None
    };
    Ok(match refusal {
        Some((reason, detail)) => {
            Precheck::Declined(settle(request, &authorization, ProviderOutcome::Declined { reason, detail }, now)?)
        }
        None => Precheck::Authorize(authorization),
    })
}

/// Records the provider's outcome (or billing's own refusal) for the authorised request.
pub fn settle(
    request: &pb::PaymentRequest,
    authorization: &Authorization,
    outcome: ProviderOutcome,
    now: DateTime<Utc>,
) -> Result<PaymentDecision, DomainError> {
    let step = fleuve_aggregate::saga_step(request.step.as_ref(), SagaStepKind::Payment)?;
    let Authorization { charge_id, order_id, customer_id, amount, .. } = authorization.clone();
    let at = Some(timestamp(now));
    let charge_event = |event| pb::ChargeEvent { occurred_at: at, event: Some(event) };
    Ok(match outcome {
        ProviderOutcome::Approved { reference } => {
            let charged = pb::account_event::Event::Charged(pb::AccountCharged {
                charge_id: charge_id.clone(),
                order_id: order_id.clone(),
                amount: Some(amount.clone()),
            });
            let approved = pb::PaymentApproved { charge_id: charge_id.clone(), amount: Some(amount.clone()) };
            PaymentDecision {
                charge_events: vec![charge_event(Event::Approved(pb::ChargeApproved {
                    charge_id,
                    order_id,
                    customer_id,
                    amount: Some(amount),
                    provider_reference: reference,
                }))],
                account_events: vec![account_event(charged, now)],
                reply: Some(reply(&step, pb::payment_result::Outcome::Approved(approved), now)),
            }
        }
        ProviderOutcome::Declined { reason, detail } => PaymentDecision {
            charge_events: vec![charge_event(Event::Declined(pb::ChargeDeclined {
                charge_id,
                order_id,
                customer_id,
                amount: Some(amount),
                reason: reason.into(),
                detail: detail.clone(),
            }))],
            account_events: Vec::new(),
            reply: Some(reply(
                &step,
                pb::payment_result::Outcome::Declined(pb::PaymentDeclined { reason: reason.into(), detail }),
                now,
            )),
        },
        ProviderOutcome::TimedOut => PaymentDecision {
            charge_events: vec![charge_event(Event::TimedOut(pb::ChargeTimedOut {
                charge_id,
                order_id,
                customer_id,
                amount: Some(amount),
            }))],
            account_events: Vec::new(),
            reply: None,
        },
    })
}

/// [`precheck`], the provider if needed, then [`settle`]: for providers that answer at once.
pub fn pay(
    charge: &Charge,
    account: &Account,
    request: &pb::PaymentRequest,
    charge_id: &str,
    provider: &impl PaymentProvider,
    now: DateTime<Utc>,
) -> Result<PaymentDecision, DomainError> {
    match precheck(charge, account, request, charge_id, now)? {
        Precheck::Decided(decision) | Precheck::Declined(decision) => Ok(decision),
        Precheck::Authorize(authorization) => {
            let outcome = provider.authorize(&authorization);
            settle(request, &authorization, outcome, now)
        }
    }
}

fn reply(step: &SagaStep, outcome: pb::payment_result::Outcome, now: DateTime<Utc>) -> pb::PaymentResult {
    pb::PaymentResult { occurred_at: Some(timestamp(now)), step: Some(step.clone()), outcome: Some(outcome) }
}
