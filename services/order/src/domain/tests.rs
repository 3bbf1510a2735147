//! Given/when/then tests of the order domain: given the order's past events, when a command
//! or a saga input, then these events (compared in full) or nothing, or this refusal.

mod place;
mod saga_compensation;
mod saga_forward;
mod saga_idempotence;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::common::v1::{Money, SagaStep, SagaStepKind};
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use pb::order_event::Event;

use fleuve_aggregate::Aggregate as _;
use fleuve_aggregate::testing::{self, Then};

use super::{DomainError, Orchestrator, Order, OrderCommand, OrderContext, PlaceOrder, SagaInput, timestamp};

/// The fixed clock: the order is placed at `t(0)`; `t(s)` is `s` seconds later.
pub fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 30, 0).unwrap() + Duration::seconds(seconds)
}

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(timestamp(t(seconds)))
}

pub fn xaf(amount: i64) -> Option<Money> {
    Some(Money { currency: "XAF".into(), amount })
}

pub fn event(at: i64, event: Event) -> pb::OrderEvent {
    pb::OrderEvent { occurred_at: ts(at), event: Some(event) }
}

pub fn step(kind: SagaStepKind, attempt: u32) -> SagaStep {
    SagaStep { saga_id: "o-1".into(), kind: kind.into(), attempt }
}

pub fn order_line(product_id: &str, quantity: u32, unit_price: i64) -> pb::OrderLine {
    pb::OrderLine { product_id: product_id.into(), quantity, unit_price }
}

pub fn place() -> PlaceOrder {
    PlaceOrder {
        order_id: "o-1".into(),
        customer_id: "c-1".into(),
        idempotency_key: "k-1".into(),
        lines: vec![order_line("sku-1", 2, 1_500), order_line("sku-2", 1, 4_000)],
        currency: "XAF".into(),
        payment_token: "tok_visa".into(),
    }
}

// ---- the events of the saga, at a given second ----

pub fn placed() -> pb::OrderEvent {
    event(
        0,
        Event::Placed(pb::OrderPlaced {
            occurred_at: ts(0),
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            lines: place().lines,
            total: xaf(7_000),
            payment_token: "tok_visa".into(),
            idempotency_key: "k-1".into(),
        }),
    )
}

pub fn stock_check_requested(at: i64) -> pb::OrderEvent {
    event(
        at,
        Event::StockCheckRequested(stock::StockCheckRequest {
            occurred_at: ts(at),
            step: Some(step(SagaStepKind::StockCheck, 1)),
            lines: vec![
                stock::StockLine { product_id: "sku-1".into(), quantity: 2 },
                stock::StockLine { product_id: "sku-2".into(), quantity: 1 },
            ],
            deadline: ts(at + 30),
        }),
    )
}

pub fn stock_reply(kind: SagaStepKind, attempt: u32, outcome: stock::stock_checked::Outcome) -> stock::StockChecked {
    stock::StockChecked { occurred_at: ts(1), step: Some(step(kind, attempt)), outcome: Some(outcome) }
}

pub fn reserved_reply() -> stock::StockChecked {
    stock_reply(
        SagaStepKind::StockCheck,
        1,
        stock::stock_checked::Outcome::Reserved(stock::StockReserved {
            lines: vec![stock::StockLine { product_id: "sku-1".into(), quantity: 2 }],
        }),
    )
}

pub fn released_reply(attempt: u32) -> stock::StockChecked {
    stock_reply(
        SagaStepKind::StockRelease,
        attempt,
        stock::stock_checked::Outcome::Released(stock::StockReleased::default()),
    )
}

pub fn payment_requested(at: i64) -> pb::OrderEvent {
    event(
        at,
        Event::PaymentRequested(billing::PaymentRequest {
            occurred_at: ts(at),
            step: Some(step(SagaStepKind::Payment, 1)),
            customer_id: "c-1".into(),
            amount: xaf(7_000),
            payment_token: "tok_visa".into(),
            deadline: ts(at + 60),
        }),
    )
}

pub fn approved_reply() -> billing::PaymentResult {
    billing::PaymentResult {
        occurred_at: ts(3),
        step: Some(step(SagaStepKind::Payment, 1)),
        outcome: Some(billing::payment_result::Outcome::Approved(billing::PaymentApproved {
            charge_id: "ch-o-1".into(),
            amount: xaf(7_000),
        })),
    }
}

pub fn declined_reply() -> billing::PaymentResult {
    billing::PaymentResult {
        occurred_at: ts(3),
        step: Some(step(SagaStepKind::Payment, 1)),
        outcome: Some(billing::payment_result::Outcome::Declined(billing::PaymentDeclined {
            reason: billing::DeclineReason::CardFlagged.into(),
            detail: "card flagged by the provider".into(),
        })),
    }
}

pub fn failure(code: pb::FailureCode, reason: &str, compensation_confirmed: bool) -> pb::Failure {
    pb::Failure { code: code.into(), reason: reason.into(), compensation_confirmed }
}

pub fn compensation_started(at: i64, failure: &pb::Failure) -> pb::OrderEvent {
    event(at, Event::CompensationStarted(pb::CompensationStarted { failure: Some(failure.clone()) }))
}

pub fn release_requested(at: i64, attempt: u32, reason: &str) -> pb::OrderEvent {
    event(
        at,
        Event::StockReleaseRequested(stock::StockRelease {
            occurred_at: ts(at),
            step: Some(step(SagaStepKind::StockRelease, attempt)),
            reason: reason.into(),
            deadline: ts(at + 30),
        }),
    )
}

pub fn deadline_missed(at: i64, kind: SagaStepKind, attempt: u32, deadline: i64) -> pb::OrderEvent {
    event(at, Event::DeadlineMissed(pb::DeadlineMissed { step: Some(step(kind, attempt)), deadline: ts(deadline) }))
}

pub fn failed(at: i64, failure: pb::Failure) -> pb::OrderEvent {
    event(
        at,
        Event::Failed(pb::OrderFailed {
            occurred_at: ts(at),
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            failure: Some(failure),
        }),
    )
}

/// A way to spoil a valid value, and the refusal it must cause.
pub type Spoil<T> = (fn(&mut T), &'static str);

// ---- the harness ----

/// The order `events` lead to, ready for an input.
pub struct Given(testing::Given<Order>);

pub fn given(events: &[pb::OrderEvent]) -> Given {
    Given(testing::given(events))
}

impl Given {
    pub fn when(self, input: SagaInput, at: i64) -> Then<Order> {
        self.0.when(OrderCommand::Saga(input), &cx(at))
    }

    pub fn when_placed(self, command: PlaceOrder, at: i64) -> Then<Order> {
        self.0.when(OrderCommand::Place(command), &cx(at))
    }
}

/// The default rules at `t(at)`.
pub fn cx(at: i64) -> OrderContext {
    OrderContext { orchestrator: Orchestrator::default(), now: t(at) }
}

/// The history of an order up to a point of its saga.
pub fn awaiting_stock() -> Vec<pb::OrderEvent> {
    vec![placed(), stock_check_requested(0)]
}

pub fn awaiting_payment() -> Vec<pb::OrderEvent> {
    let mut events = awaiting_stock();
    events.push(event(1, Event::StockChecked(reserved_reply())));
    events.push(payment_requested(1));
    events
}

/// Payment declined at t(3), release attempt 1 sent with deadline t(33).
pub fn compensating_after_decline() -> Vec<pb::OrderEvent> {
    let mut events = awaiting_payment();
    let failure = failure(pb::FailureCode::PaymentDeclined, "payment declined: card flagged by the provider", true);
    events.push(event(3, Event::PaymentResult(declined_reply())));
    events.push(compensation_started(3, &failure));
    events.push(release_requested(3, 1, &failure.reason));
    events
}
