//! The saga going forward: start, stock reserved, payment approved, and the messages sent.

use fleuve_proto::common::v1::SagaStepKind::{Payment, StockCheck};
use prost::Message;

use super::super::saga::{Deadline, Outgoing, topics};
use super::*;

#[test]
fn the_start_asks_stock_for_every_line_with_a_deadline() {
    let order = given(&[placed()]).when(SagaInput::Start, 0).then(&[stock_check_requested(0)]);
    assert_eq!(order.status, pb::OrderStatus::AwaitingStock);
    assert_eq!(order.deadline(), Some(Deadline { order_id: "o-1".into(), step: step(StockCheck, 1), at: t(30) }));
}

#[test]
fn a_second_start_sends_nothing() {
    given(&awaiting_stock()).when(SagaInput::Start, 2).then_nothing();
    given(&awaiting_payment()).when(SagaInput::Start, 2).then_nothing();
}

#[test]
fn reserved_stock_moves_on_to_the_payment() {
    let order = given(&awaiting_stock())
        .when(SagaInput::StockChecked(reserved_reply()), 1)
        .then(&[event(1, Event::StockChecked(reserved_reply())), payment_requested(1)]);
    assert_eq!(order.status, pb::OrderStatus::AwaitingPayment);
    assert!(order.stock_reserved && order.payment_requested);
    assert_eq!(order.deadline(), Some(Deadline { order_id: "o-1".into(), step: step(Payment, 1), at: t(61) }));
}

#[test]
fn an_approved_payment_confirms_the_order() {
    let order = given(&awaiting_payment()).when(SagaInput::PaymentResult(approved_reply()), 4).then(&[
        event(4, Event::PaymentResult(approved_reply())),
        event(
            4,
            Event::Confirmed(pb::OrderConfirmed {
                occurred_at: ts(4),
                order_id: "o-1".into(),
                customer_id: "c-1".into(),
                total: xaf(7_000),
                charge_id: "ch-o-1".into(),
            }),
        ),
    ]);
    assert_eq!(order.status, pb::OrderStatus::Confirmed);
    assert_eq!(order.charge_id, "ch-o-1");
    assert_eq!((order.deadline(), order.failure.clone()), (None, None));
    assert!(order.is_closed());
}

#[test]
fn insufficient_stock_fails_the_order_at_once_without_compensation() {
    let reply = stock_reply(
        StockCheck,
        1,
        stock::stock_checked::Outcome::Insufficient(stock::StockInsufficient {
            shortages: vec![
                stock::Shortage { product_id: "sku-1".into(), requested: 2, available: 1, unknown_product: false },
                stock::Shortage { product_id: "sku-2".into(), requested: 1, available: 0, unknown_product: true },
            ],
        }),
    );
    let failure = failure(
        pb::FailureCode::OutOfStock,
        "insufficient stock: sku-1 (requested 2, available 1), sku-2 (unknown product)",
        true,
    );
    let order = given(&awaiting_stock())
        .when(SagaInput::StockChecked(reply.clone()), 2)
        .then(&[event(2, Event::StockChecked(reply)), failed(2, failure.clone())]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
    assert_eq!(order.failure, Some(failure));
    assert_eq!(order.deadline(), None);
}

#[test]
fn each_event_sends_its_message_on_its_topic() {
    let mut history = awaiting_payment();
    history.push(event(4, Event::PaymentResult(approved_reply())));
    let sent: Vec<(&str, &str)> = Outgoing::all(&history).iter().map(|m| (m.topic(), m.event_type())).collect();
    assert_eq!(
        sent,
        [
            (topics::ORDER_PLACED, "OrderPlaced"),
            (topics::STOCK_CHECK_REQUEST, "StockCheckRequest"),
            (topics::PAYMENT_REQUEST, "PaymentRequest"),
        ]
    );
    let Some(Event::PaymentRequested(request)) = history[3].event.clone() else { panic!("not a payment request") };
    let payload = Outgoing::of(&history[3]).unwrap().encode();
    assert_eq!(billing::PaymentRequest::decode(payload.as_slice()).unwrap(), request);
    for (topic, message, _) in topics::PRODUCED {
        assert!(message.ends_with(topic_message(topic)), "{topic} carries {message}");
    }
}

/// The message each topic is documented to carry.
fn topic_message(topic: &str) -> &'static str {
    match topic {
        topics::ORDER_PLACED => "OrderPlaced",
        topics::STOCK_CHECK_REQUEST => "StockCheckRequest",
        topics::STOCK_RELEASE => "StockRelease",
        topics::PAYMENT_REQUEST => "PaymentRequest",
        topics::PAYMENT_REFUND => "PaymentRefund",
        topics::ORDER_CONFIRMED => "OrderConfirmed",
        topics::ORDER_FAILED => "OrderFailed",
        _ => "unknown",
    }
}

#[test]
fn a_restart_resumes_from_the_stream_with_its_deadline() {
    let history = awaiting_payment();
    let mut live = Order::default();
    for event in &history {
        live.apply(event);
    }
    let restarted = Order::replay(&history);
    assert_eq!(restarted, live);
    assert_eq!(restarted.deadline().map(|d| d.at), Some(t(61)));
    // The deadline fires on the restarted state as it would have on the live one.
    let decide = |order: &Order| {
        Orchestrator::default().decide(order, SagaInput::DeadlineExpired { step: step(Payment, 1) }, t(61)).unwrap()
    };
    assert_eq!(decide(&restarted), decide(&live));
    assert!(!decide(&restarted).is_empty());
}

#[test]
fn inputs_for_an_unknown_order_are_refused() {
    given(&[]).when(SagaInput::Start, 0).then_err(DomainError::NotFound("no such order".into()));
    given(&[])
        .when(SagaInput::Cancel { reason: String::new() }, 0)
        .then_err(DomainError::NotFound("no such order".into()));
}
