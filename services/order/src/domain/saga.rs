//! The saga orchestrator as a pure state machine: from an order's state and one input, the
//! events to append. `SAGA.md` holds the full table.
//!
//! A reply is accepted only for the step the saga waits on (any attempt sent so far); a late,
//! duplicate or stray reply decides nothing, and so does a deadline of a step no longer
//! awaited or not yet due. A missed deadline fails the step and compensates: the stock is
//! released (the reservation may exist even when its reply was lost), then the order fails.
//! The release itself is retried on its deadline, a bounded number of times.

mod outgoing;
pub mod topics;

use chrono::{DateTime, Duration, Utc};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use pb::order_event::Event;

use super::order::{Order, event_at};
use super::{DomainError, timestamp};

pub use outgoing::Outgoing;

/// How long each step may wait for its reply, and how often a release is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaTimeouts {
    pub stock_check: Duration,
    pub payment: Duration,
    pub stock_release: Duration,
    /// Releases sent before the order fails with its compensation unconfirmed.
    pub max_release_attempts: u32,
}

impl Default for SagaTimeouts {
    fn default() -> Self {
        SagaTimeouts {
            stock_check: Duration::seconds(30),
            payment: Duration::seconds(60),
            stock_release: Duration::seconds(30),
            max_release_attempts: 5,
        }
    }
}

/// What drives an order's saga.
#[derive(Debug, Clone, PartialEq)]
pub enum SagaInput {
    /// `order.placed` was seen: send the stock check.
    Start,
    /// A reply on `stock.checked`.
    StockChecked(stock::StockChecked),
    /// A reply on `payment.result`.
    PaymentResult(billing::PaymentResult),
    /// The deadline of `step` passed, as recorded by [`Order::deadline`].
    DeadlineExpired { step: SagaStep },
    /// The customer cancels (allowed until payment is requested).
    Cancel { reason: String },
}

/// A step's deadline: when it passes, feed [`SagaInput::DeadlineExpired`] with the step.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadline {
    pub order_id: String,
    pub step: SagaStep,
    pub at: DateTime<Utc>,
}

impl Order {
    /// The deadline the saga waits on, to persist (replacing the order's previous one) after
    /// each append; `None` once the saga waits on nothing.
    pub fn deadline(&self) -> Option<Deadline> {
        self.awaiting.as_ref().map(|a| Deadline { order_id: self.id.clone(), step: a.step.clone(), at: a.deadline })
    }
}

/// The orchestrator: the saga's rules with their timeouts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Orchestrator {
    pub timeouts: SagaTimeouts,
}

impl Orchestrator {
    pub fn new(timeouts: SagaTimeouts) -> Orchestrator {
        Orchestrator { timeouts }
    }

    /// Decides one input: the events to append to the order's stream, often none. Errors are
    /// a cancellation the order's state refuses, or a message that cannot belong to this order.
    pub fn decide(
        &self,
        order: &Order,
        input: SagaInput,
        now: DateTime<Utc>,
    ) -> Result<Vec<pb::OrderEvent>, DomainError> {
        if !order.exists() {
            return Err(DomainError::NotFound("no such order".into()));
        }
        let events = match input {
            SagaInput::Start => self.start(order, now),
            SagaInput::StockChecked(reply) => self.stock_checked(order, reply, now)?,
            SagaInput::PaymentResult(reply) => self.payment_result(order, reply, now)?,
            SagaInput::DeadlineExpired { step } => self.deadline_expired(order, &step, now),
            SagaInput::Cancel { reason } => self.cancel(order, &reason, now)?,
        };
        Ok(events.into_iter().map(|event| event_at(event, now)).collect())
    }

    fn start(&self, order: &Order, now: DateTime<Utc>) -> Vec<Event> {
        if order.status != pb::OrderStatus::Pending {
            return Vec::new();
        }
        let lines = order
            .lines
            .iter()
            .map(|l| stock::StockLine { product_id: l.product_id.clone(), quantity: l.quantity })
            .collect();
        vec![Event::StockCheckRequested(stock::StockCheckRequest {
            occurred_at: Some(timestamp(now)),
            step: Some(step(order, SagaStepKind::StockCheck, 1)),
            lines,
            deadline: Some(timestamp(now + self.timeouts.stock_check)),
        })]
    }

    fn stock_checked(
        &self,
        order: &Order,
        reply: stock::StockChecked,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        use stock::stock_checked::Outcome;
        let step = reply_step(order, reply.step.as_ref())?;
        let Some(outcome) = reply.outcome.clone() else {
            return Err(DomainError::Invalid("stock reply has no outcome".into()));
        };
        if !awaits(order, &step) {
            return Ok(Vec::new());
        }
        let accepted = Event::StockChecked(reply);
        Ok(match (step.kind(), outcome) {
            (SagaStepKind::StockCheck, Outcome::Reserved(_)) => {
                vec![accepted, self.payment_request(order, now)]
            }
            (SagaStepKind::StockCheck, Outcome::Insufficient(insufficient)) => {
                let failure = failure(pb::FailureCode::OutOfStock, shortage_reason(&insufficient.shortages), true);
                vec![accepted, failed(order, failure, now)]
            }
            (SagaStepKind::StockRelease, Outcome::Released(_)) => {
                vec![accepted, failed(order, pending_failure(order, true), now)]
            }
            // A release answering a check, or a reservation answering a release: not the
            // answer the step waits for (the stock service saw a release first).
            _ => Vec::new(),
        })
    }

    fn payment_result(
        &self,
        order: &Order,
        reply: billing::PaymentResult,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, DomainError> {
        use billing::payment_result::Outcome;
        let step = reply_step(order, reply.step.as_ref())?;
        let Some(outcome) = reply.outcome.clone() else {
            return Err(DomainError::Invalid("payment reply has no outcome".into()));
        };
        if step.kind() != SagaStepKind::Payment {
            return Ok(Vec::new());
        }
        if !awaits(order, &step) {
            // Money taken after the saga gave up on the payment goes back, once.
            return Ok(match outcome {
                Outcome::Approved(approved)
                    if order.payment_requested
                        && !order.late_payment_refunded
                        && order.status != pb::OrderStatus::Confirmed =>
                {
                    vec![self.refund(order, approved, now)]
                }
                _ => Vec::new(),
            });
        }
        let accepted = Event::PaymentResult(reply);
        Ok(match outcome {
            Outcome::Approved(approved) => vec![
                accepted,
                Event::Confirmed(pb::OrderConfirmed {
                    occurred_at: Some(timestamp(now)),
                    order_id: order.id.clone(),
                    customer_id: order.customer_id.clone(),
                    total: order.total.clone(),
                    charge_id: approved.charge_id,
                }),
            ],
            Outcome::Declined(declined) => {
                let detail = if declined.detail.is_empty() {
                    declined.reason().as_str_name().to_owned()
                } else {
                    declined.detail.clone()
                };
                let failure = failure(pb::FailureCode::PaymentDeclined, format!("payment declined: {detail}"), true);
                let mut events = vec![accepted];
                events.extend(self.compensate(order, failure, now));
                events
            }
        })
    }

    fn deadline_expired(&self, order: &Order, step: &SagaStep, now: DateTime<Utc>) -> Vec<Event> {
        let Some(awaiting) = &order.awaiting else { return Vec::new() };
        if awaiting.step != *step || now < awaiting.deadline {
            return Vec::new();
        }
        let missed = Event::DeadlineMissed(pb::DeadlineMissed {
            step: Some(step.clone()),
            deadline: Some(timestamp(awaiting.deadline)),
        });
        let mut events = vec![missed];
        match step.kind() {
            SagaStepKind::StockCheck => events.extend(self.compensate(
                order,
                failure(pb::FailureCode::StockCheckTimedOut, "no stock reply before the deadline".into(), true),
                now,
            )),
            SagaStepKind::Payment => events.extend(self.compensate(
                order,
                failure(pb::FailureCode::PaymentTimedOut, "no payment reply before the deadline".into(), true),
                now,
            )),
            SagaStepKind::StockRelease if step.attempt < self.timeouts.max_release_attempts => {
                let reason = order.failure.as_ref().map(|f| f.reason.as_str()).unwrap_or_default();
                events.push(self.release(order, step.attempt + 1, reason, now));
            }
            SagaStepKind::StockRelease => {
                let mut failure = pending_failure(order, false);
                failure.reason = format!(
                    "{}; stock release unconfirmed after {} attempts",
                    failure.reason, self.timeouts.max_release_attempts
                );
                events.push(failed(order, failure, now));
            }
            SagaStepKind::PaymentRefund | SagaStepKind::Unspecified => return Vec::new(),
        }
        events
    }

    fn cancel(&self, order: &Order, reason: &str, now: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        let reason = reason.trim();
        let failure = failure(
            pb::FailureCode::Cancelled,
            if reason.is_empty() {
                "cancelled by the customer".into()
            } else {
                format!("cancelled by the customer: {reason}")
            },
            true,
        );
        let cancelling = order.failure.as_ref().is_some_and(|f| f.code() == pb::FailureCode::Cancelled);
        match order.status {
            pb::OrderStatus::Pending => Ok(vec![failed(order, failure, now)]),
            pb::OrderStatus::AwaitingStock => Ok(self.compensate(order, failure, now)),
            pb::OrderStatus::Cancelled => Ok(Vec::new()),
            pb::OrderStatus::Compensating if cancelling => Ok(Vec::new()),
            pb::OrderStatus::AwaitingPayment => Err(DomainError::Precondition(
                "the payment was already requested; the order can no longer be cancelled".into(),
            )),
            pb::OrderStatus::Compensating | pb::OrderStatus::Failed => {
                Err(DomainError::Precondition("the order has failed".into()))
            }
            pb::OrderStatus::Confirmed => Err(DomainError::Precondition("the order is confirmed".into())),
            pb::OrderStatus::Unspecified => Err(DomainError::NotFound("no such order".into())),
        }
    }

    /// Gives up going forward: release the stock, then fail once the release is confirmed.
    fn compensate(&self, order: &Order, failure: pb::Failure, now: DateTime<Utc>) -> Vec<Event> {
        let release = self.release(order, 1, &failure.reason, now);
        vec![Event::CompensationStarted(pb::CompensationStarted { failure: Some(failure) }), release]
    }

    fn release(&self, order: &Order, attempt: u32, reason: &str, now: DateTime<Utc>) -> Event {
        Event::StockReleaseRequested(stock::StockRelease {
            occurred_at: Some(timestamp(now)),
            step: Some(step(order, SagaStepKind::StockRelease, attempt)),
            reason: reason.to_owned(),
            deadline: Some(timestamp(now + self.timeouts.stock_release)),
        })
    }

    fn payment_request(&self, order: &Order, now: DateTime<Utc>) -> Event {
        Event::PaymentRequested(billing::PaymentRequest {
            occurred_at: Some(timestamp(now)),
            step: Some(step(order, SagaStepKind::Payment, 1)),
            customer_id: order.customer_id.clone(),
            amount: order.total.clone(),
            payment_token: order.payment_token.clone(),
            deadline: Some(timestamp(now + self.timeouts.payment)),
        })
    }

    fn refund(&self, order: &Order, approved: billing::PaymentApproved, now: DateTime<Utc>) -> Event {
        Event::PaymentRefundRequested(billing::PaymentRefund {
            occurred_at: Some(timestamp(now)),
            step: Some(step(order, SagaStepKind::PaymentRefund, 1)),
            customer_id: order.customer_id.clone(),
            charge_id: approved.charge_id,
            amount: approved.amount,
            refund_id: format!("{}/late-payment", order.id),
            reason: "payment approved after the order failed".into(),
        })
    }
}

fn step(order: &Order, kind: SagaStepKind, attempt: u32) -> SagaStep {
    SagaStep { saga_id: order.id.clone(), kind: kind.into(), attempt }
}

/// The reply's step, which must name this order's saga.
fn reply_step(order: &Order, step: Option<&SagaStep>) -> Result<SagaStep, DomainError> {
    let step = step.ok_or_else(|| DomainError::Invalid("reply has no saga step".into()))?;
    if step.saga_id != order.id {
        return Err(DomainError::Invalid(format!("reply for saga {:?} reached order {}", step.saga_id, order.id)));
    }
    Ok(step.clone())
}

/// The saga waits on this step, and this attempt was sent.
fn awaits(order: &Order, step: &SagaStep) -> bool {
    order
        .awaiting
        .as_ref()
        .is_some_and(|a| a.step.kind == step.kind && step.attempt >= 1 && step.attempt <= a.step.attempt)
}

fn failure(code: pb::FailureCode, reason: String, compensation_confirmed: bool) -> pb::Failure {
    pb::Failure { code: code.into(), reason, compensation_confirmed }
}

/// The failure recorded when compensation started.
fn pending_failure(order: &Order, compensation_confirmed: bool) -> pb::Failure {
    let mut failure = order.failure.clone().unwrap_or_default();
    failure.compensation_confirmed = compensation_confirmed;
    failure
}

fn failed(order: &Order, failure: pb::Failure, now: DateTime<Utc>) -> Event {
    Event::Failed(pb::OrderFailed {
        occurred_at: Some(timestamp(now)),
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        failure: Some(failure),
    })
}

fn shortage_reason(shortages: &[stock::Shortage]) -> String {
    let items: Vec<String> = shortages
        .iter()
        .map(|s| {
            if s.unknown_product {
                format!("{} (unknown product)", s.product_id)
            } else {
                format!("{} (requested {}, available {})", s.product_id, s.requested, s.available)
            }
        })
        .collect();
    format!("insufficient stock: {}", items.join(", "))
}
