//! The order aggregate: what the customer ordered, and where its saga stands.

use chrono::{DateTime, Utc};
use fleuve_aggregate::Aggregate;
use fleuve_proto::common::v1::{Money, SagaStep};
use fleuve_proto::order::v1 as pb;
use pb::order_event::Event;

use super::{DomainError, ORDER_AGGREGATE, Orchestrator, SagaInput, instant, timestamp};

pub const MAX_LINES: usize = 100;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The step the saga waits on, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Awaiting {
    pub step: SagaStep,
    pub deadline: DateTime<Utc>,
}

/// An order's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order {
    /// Empty until the order is placed.
    pub id: String,
    pub customer_id: String,
    pub idempotency_key: String,
    pub lines: Vec<pb::OrderLine>,
    pub total: Option<Money>,
    pub payment_token: String,
    /// `Unspecified` until the order is placed.
    pub status: pb::OrderStatus,
    /// The step the saga waits on; `None` when it waits on nothing.
    pub awaiting: Option<Awaiting>,
    /// The stock service answered that every line is held (and no release confirmed since).
    pub stock_reserved: bool,
    /// The payment request was sent: a payment approved from now on takes money.
    pub payment_requested: bool,
    pub charge_id: String,
    /// Why the order fails (set when compensation starts) or failed.
    pub failure: Option<pb::Failure>,
    /// A payment approved after the saga gave up on it was refunded.
    pub late_payment_refunded: bool,
    pub placed_at: Option<prost_types::Timestamp>,
    pub updated_at: Option<prost_types::Timestamp>,
    pub version: i64,
}

/// A customer's order, as the edge parsed it. The order id is allocated by the caller, once
/// per (customer, idempotency key).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    pub order_id: String,
    pub customer_id: String,
    pub idempotency_key: String,
    pub lines: Vec<pb::OrderLine>,
    pub currency: String,
    pub payment_token: String,
}

/// What drives an order: the customer placing it, or an input of its saga (its start, a
/// reply, a missed deadline, a cancellation).
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    Place(PlaceOrder),
    Saga(SagaInput),
}

/// What an order decides with: the saga's rules and timeouts, and the time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderContext {
    pub orchestrator: Orchestrator,
    pub now: DateTime<Utc>,
}

impl Aggregate for Order {
    const KIND: &'static str = ORDER_AGGREGATE;
    type Event = pb::OrderEvent;
    type Command = OrderCommand;
    type Context = OrderContext;
    type Error = DomainError;

    /// Placing an order, or one step of its saga ([`Orchestrator::decide`]).
    fn handle(&self, command: OrderCommand, cx: &OrderContext) -> Result<Vec<pb::OrderEvent>, DomainError> {
        match command {
            OrderCommand::Place(place) => {
                let mut events = self.place(place, cx.now)?;
                if !events.is_empty() {
                    // Placing an order starts its saga: the stock check goes out in the same
                    // transaction as the order, not after `order.placed` has made a round trip
                    // through Kafka back to this service.
                    let mut placed = self.clone();
                    events.iter().for_each(|event| placed.apply(event));
                    events.extend(cx.orchestrator.decide(&placed, SagaInput::Start, cx.now)?);
                }
                Ok(events)
            }
            OrderCommand::Saga(input) => cx.orchestrator.decide(self, input, cx.now),
        }
    }

    /// Folds one event into the state. No rule is checked here: the event already happened.
    fn apply(&mut self, event: &pb::OrderEvent) {
        self.version += 1;
        self.updated_at = event.occurred_at;
        let Some(inner) = &event.event else { return };
        match inner {
            Event::Placed(e) => {
                self.id.clone_from(&e.order_id);
                self.customer_id.clone_from(&e.customer_id);
                self.idempotency_key.clone_from(&e.idempotency_key);
                self.lines.clone_from(&e.lines);
                self.total.clone_from(&e.total);
                self.payment_token.clone_from(&e.payment_token);
                self.status = pb::OrderStatus::Pending;
                self.placed_at = event.occurred_at;
            }
            Event::StockCheckRequested(e) => {
                self.status = pb::OrderStatus::AwaitingStock;
                self.awaiting = awaiting(e.step.as_ref(), e.deadline.as_ref());
            }
            Event::StockChecked(e) => {
                use fleuve_proto::stock::v1::stock_checked::Outcome;
                self.awaiting = None;
                match e.outcome {
                    Some(Outcome::Reserved(_)) => self.stock_reserved = true,
                    Some(Outcome::Released(_)) => self.stock_reserved = false,
                    Some(Outcome::Insufficient(_)) | None => {}
                }
            }
            Event::PaymentRequested(e) => {
                self.status = pb::OrderStatus::AwaitingPayment;
                self.payment_requested = true;
                self.awaiting = awaiting(e.step.as_ref(), e.deadline.as_ref());
            }
            Event::PaymentResult(e) => {
                use fleuve_proto::billing::v1::payment_result::Outcome;
                self.awaiting = None;
                if let Some(Outcome::Approved(approved)) = &e.outcome {
                    self.charge_id.clone_from(&approved.charge_id);
                }
            }
            Event::StockReleaseRequested(e) => {
                self.status = pb::OrderStatus::Compensating;
                self.awaiting = awaiting(e.step.as_ref(), e.deadline.as_ref());
            }
            Event::PaymentRefundRequested(_) => self.late_payment_refunded = true,
            Event::DeadlineMissed(_) => self.awaiting = None,
            Event::CompensationStarted(e) => {
                self.status = pb::OrderStatus::Compensating;
                self.failure.clone_from(&e.failure);
            }
            Event::Confirmed(e) => {
                self.status = pb::OrderStatus::Confirmed;
                self.charge_id.clone_from(&e.charge_id);
                self.awaiting = None;
            }
            Event::Failed(e) => {
                let cancelled = e.failure.as_ref().is_some_and(|f| f.code() == pb::FailureCode::Cancelled);
                self.status = if cancelled { pb::OrderStatus::Cancelled } else { pb::OrderStatus::Failed };
                self.failure.clone_from(&e.failure);
                self.awaiting = None;
            }
        }
    }
}

impl Order {
    pub fn exists(&self) -> bool {
        !self.id.is_empty()
    }

    /// The saga is over: confirmed, failed or cancelled.
    pub fn is_closed(&self) -> bool {
        matches!(self.status, pb::OrderStatus::Confirmed | pb::OrderStatus::Failed | pb::OrderStatus::Cancelled)
    }

    /// Decides a placement. Placing an order that exists with the same content is a retry and
    /// decides nothing; the same id with another content is refused.
    fn place(&self, place: PlaceOrder, now: DateTime<Utc>) -> Result<Vec<pb::OrderEvent>, DomainError> {
        let placed = validate(place, now)?;
        if self.exists() {
            return if self.same_order(&placed) {
                Ok(Vec::new())
            } else if self.idempotency_key == placed.idempotency_key {
                Err(DomainError::Precondition(format!(
                    "idempotency key {:?} was used for another order",
                    placed.idempotency_key
                )))
            } else {
                Err(DomainError::Precondition(format!("order {} already exists", self.id)))
            };
        }
        Ok(vec![event_at(Event::Placed(placed), now)])
    }

    fn same_order(&self, placed: &pb::OrderPlaced) -> bool {
        self.id == placed.order_id
            && self.customer_id == placed.customer_id
            && self.idempotency_key == placed.idempotency_key
            && self.lines == placed.lines
            && self.total == placed.total
            && self.payment_token == placed.payment_token
    }
}

fn awaiting(step: Option<&SagaStep>, deadline: Option<&prost_types::Timestamp>) -> Option<Awaiting> {
    Some(Awaiting { step: step?.clone(), deadline: instant(deadline?)? })
}

/// The `order.placed` message of a valid order: trimmed, with its total.
fn validate(place: PlaceOrder, now: DateTime<Utc>) -> Result<pb::OrderPlaced, DomainError> {
    let invalid = |message: &str| Err(DomainError::Invalid(message.into()));
    let order_id = place.order_id.trim();
    let customer_id = place.customer_id.trim();
    let key = place.idempotency_key.trim();
    let currency = place.currency.trim();
    let payment_token = place.payment_token.trim();
    if order_id.is_empty() {
        return invalid("order id is missing");
    }
    if customer_id.is_empty() {
        return invalid("customer id is missing");
    }
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN {
        return invalid("idempotency key must have 1 to 128 characters");
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(DomainError::Invalid(format!("currency {currency:?} is not an ISO 4217 code")));
    }
    if payment_token.is_empty() {
        return invalid("payment token is missing");
    }
    if place.lines.is_empty() || place.lines.len() > MAX_LINES {
        return invalid("an order needs 1 to 100 lines");
    }
    let mut lines = Vec::with_capacity(place.lines.len());
    let mut total: i64 = 0;
    for line in place.lines {
        let product_id = line.product_id.trim();
        if product_id.is_empty() {
            return invalid("a line has no product id");
        }
        if lines.iter().any(|l: &pb::OrderLine| l.product_id == product_id) {
            return Err(DomainError::Invalid(format!("product {product_id} appears on two lines")));
        }
        if line.quantity == 0 {
            return Err(DomainError::Invalid(format!("the quantity of {product_id} must be positive")));
        }
        if line.unit_price < 0 {
            return Err(DomainError::Invalid(format!("the unit price of {product_id} cannot be negative")));
        }
        total = line
            .unit_price
            .checked_mul(i64::from(line.quantity))
            .and_then(|amount| total.checked_add(amount))
            .ok_or_else(|| DomainError::Invalid("order total is too large".into()))?;
        lines.push(pb::OrderLine { product_id: product_id.into(), ..line });
    }
    Ok(pb::OrderPlaced {
        occurred_at: Some(timestamp(now)),
        order_id: order_id.into(),
        customer_id: customer_id.into(),
        lines,
        total: Some(Money { currency: currency.into(), amount: total }),
        payment_token: payment_token.into(),
        idempotency_key: key.into(),
    })
}

pub(super) fn event_at(event: Event, now: DateTime<Utc>) -> pb::OrderEvent {
    pb::OrderEvent { occurred_at: Some(timestamp(now)), event: Some(event) }
}
