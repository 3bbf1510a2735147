//! Failing forward steps and compensating: declined payment, missed deadlines, the release and
//! its retries, cancellation, and a payment approved too late.

use fleuve_proto::common::v1::SagaStepKind::{Payment, PaymentRefund, StockCheck, StockRelease};

use super::super::saga::{Deadline, Outgoing, topics};
use super::*;

const DECLINED: &str = "payment declined: card flagged by the provider";

#[test]
fn a_declined_payment_releases_the_stock_then_fails_the_order() {
    let failure = failure(pb::FailureCode::PaymentDeclined, DECLINED, true);
    let order = given(&awaiting_payment()).when(SagaInput::PaymentResult(declined_reply()), 3).then(&[
        event(3, Event::PaymentResult(declined_reply())),
        compensation_started(3, &failure),
        release_requested(3, 1, DECLINED),
    ]);
    assert_eq!(order.status, pb::OrderStatus::Compensating);
    assert_eq!(order.failure, Some(failure.clone()));
    assert_eq!(order.deadline(), Some(Deadline { order_id: "o-1".into(), step: step(StockRelease, 1), at: t(33) }));

    let order = given(&compensating_after_decline())
        .when(SagaInput::StockChecked(released_reply(1)), 5)
        .then(&[event(5, Event::StockChecked(released_reply(1))), failed(5, failure.clone())]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
    assert!(!order.stock_reserved);
    assert_eq!(order.failure, Some(failure));
    assert_eq!(order.deadline(), None);
}

#[test]
fn the_compensation_sends_the_release_before_the_failure() {
    let mut history = compensating_after_decline();
    history.extend(given(&history).when(SagaInput::StockChecked(released_reply(1)), 5).into_events());
    let topics: Vec<&str> = Outgoing::all(&history[4..]).iter().map(Outgoing::topic).collect();
    assert_eq!(topics, [topics::STOCK_RELEASE, topics::ORDER_FAILED]);
}

#[test]
fn a_missed_stock_deadline_releases_whatever_may_have_been_reserved() {
    let reason = "no stock reply before the deadline";
    let failure = failure(pb::FailureCode::StockCheckTimedOut, reason, true);
    let order = given(&awaiting_stock()).when(SagaInput::DeadlineExpired { step: step(StockCheck, 1) }, 31).then(&[
        deadline_missed(31, StockCheck, 1, 30),
        compensation_started(31, &failure),
        release_requested(31, 1, reason),
    ]);
    assert_eq!(order.status, pb::OrderStatus::Compensating);
    let mut history = awaiting_stock();
    history.extend(given(&history).when(SagaInput::DeadlineExpired { step: step(StockCheck, 1) }, 31).into_events());
    // The reservation arriving late changes nothing: the release is on its way.
    given(&history).when(SagaInput::StockChecked(reserved_reply()), 32).then_nothing();
    let order = given(&history)
        .when(SagaInput::StockChecked(released_reply(1)), 33)
        .then(&[event(33, Event::StockChecked(released_reply(1))), failed(33, failure)]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
}

#[test]
fn a_missed_payment_deadline_releases_the_stock_and_fails() {
    let reason = "no payment reply before the deadline";
    let failure = failure(pb::FailureCode::PaymentTimedOut, reason, true);
    given(&awaiting_payment()).when(SagaInput::DeadlineExpired { step: step(Payment, 1) }, 60).then_nothing();
    let order = given(&awaiting_payment()).when(SagaInput::DeadlineExpired { step: step(Payment, 1) }, 61).then(&[
        deadline_missed(61, Payment, 1, 61),
        compensation_started(61, &failure),
        release_requested(61, 1, reason),
    ]);
    assert_eq!((order.status, order.failure), (pb::OrderStatus::Compensating, Some(failure)));
}

fn timed_out_payment() -> Vec<pb::OrderEvent> {
    let mut history = awaiting_payment();
    history.extend(given(&history).when(SagaInput::DeadlineExpired { step: step(Payment, 1) }, 61).into_events());
    history
}

fn refund_requested(at: i64) -> pb::OrderEvent {
    event(
        at,
        Event::PaymentRefundRequested(billing::PaymentRefund {
            occurred_at: ts(at),
            step: Some(step(PaymentRefund, 1)),
            customer_id: "c-1".into(),
            charge_id: "ch-o-1".into(),
            amount: xaf(7_000),
            refund_id: "o-1/late-payment".into(),
            reason: "payment approved after the order failed".into(),
        }),
    )
}

#[test]
fn a_payment_approved_after_its_deadline_is_refunded_once_and_the_order_still_fails() {
    let order =
        given(&timed_out_payment()).when(SagaInput::PaymentResult(approved_reply()), 70).then(&[refund_requested(70)]);
    assert_eq!(order.status, pb::OrderStatus::Compensating);
    assert_eq!(order.charge_id, "");
    let mut history = timed_out_payment();
    history.push(refund_requested(70));
    given(&history).when(SagaInput::PaymentResult(approved_reply()), 71).then_nothing();
    assert_eq!(Outgoing::of(&refund_requested(70)).unwrap().topic(), topics::PAYMENT_REFUND);
    // Once failed, a first late approval is refunded too.
    let mut failed_history = timed_out_payment();
    failed_history.extend(given(&failed_history).when(SagaInput::StockChecked(released_reply(1)), 65).into_events());
    let order =
        given(&failed_history).when(SagaInput::PaymentResult(approved_reply()), 80).then(&[refund_requested(80)]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
    // A late decline needs nothing.
    given(&timed_out_payment()).when(SagaInput::PaymentResult(declined_reply()), 70).then_nothing();
}

#[test]
fn an_unconfirmed_release_is_sent_again_then_given_up_with_the_failure_recorded() {
    let mut history = compensating_after_decline();
    // Attempts 2..=5, each when the previous one's deadline passes.
    let mut deadline = 33;
    for attempt in 1..5 {
        let events = given(&history)
            .when(SagaInput::DeadlineExpired { step: step(StockRelease, attempt) }, deadline)
            .into_events();
        assert_eq!(
            events,
            [
                deadline_missed(deadline, StockRelease, attempt, deadline),
                release_requested(deadline, attempt + 1, DECLINED)
            ]
        );
        history.extend(events);
        deadline += 30;
    }
    let order = given(&history).when(SagaInput::DeadlineExpired { step: step(StockRelease, 5) }, deadline).then(&[
        deadline_missed(deadline, StockRelease, 5, deadline),
        failed(
            deadline,
            failure(
                pb::FailureCode::PaymentDeclined,
                "payment declined: card flagged by the provider; stock release unconfirmed after 5 attempts",
                false,
            ),
        ),
    ]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
    assert!(!order.failure.unwrap().compensation_confirmed);
}

#[test]
fn the_confirmation_of_an_earlier_release_attempt_ends_the_compensation() {
    let mut history = compensating_after_decline();
    history.extend(given(&history).when(SagaInput::DeadlineExpired { step: step(StockRelease, 1) }, 33).into_events());
    let order = given(&history).when(SagaInput::StockChecked(released_reply(1)), 34).then(&[
        event(34, Event::StockChecked(released_reply(1))),
        failed(34, failure(pb::FailureCode::PaymentDeclined, DECLINED, true)),
    ]);
    assert_eq!(order.status, pb::OrderStatus::Failed);
    // The confirmation of the second attempt then changes nothing.
    let mut done = history.clone();
    done.extend(given(&history).when(SagaInput::StockChecked(released_reply(1)), 34).into_events());
    given(&done).when(SagaInput::StockChecked(released_reply(2)), 35).then_nothing();
}

#[test]
fn a_pending_order_is_cancelled_at_once() {
    let failure = failure(pb::FailureCode::Cancelled, "cancelled by the customer: changed my mind", true);
    let order = given(&[placed()])
        .when(SagaInput::Cancel { reason: " changed my mind ".into() }, 1)
        .then(&[failed(1, failure.clone())]);
    assert_eq!((order.status, order.failure), (pb::OrderStatus::Cancelled, Some(failure)));
}

#[test]
fn cancelling_while_stock_is_checked_releases_it_then_cancels() {
    let reason = "cancelled by the customer";
    let failure = failure(pb::FailureCode::Cancelled, reason, true);
    let order = given(&awaiting_stock())
        .when(SagaInput::Cancel { reason: String::new() }, 2)
        .then(&[compensation_started(2, &failure), release_requested(2, 1, reason)]);
    assert_eq!(order.status, pb::OrderStatus::Compensating);
    let mut history = awaiting_stock();
    history.extend(given(&history).when(SagaInput::Cancel { reason: String::new() }, 2).into_events());
    // Cancelling again is a retry.
    given(&history).when(SagaInput::Cancel { reason: "again".into() }, 3).then_nothing();
    let order = given(&history)
        .when(SagaInput::StockChecked(released_reply(1)), 4)
        .then(&[event(4, Event::StockChecked(released_reply(1))), failed(4, failure)]);
    assert_eq!(order.status, pb::OrderStatus::Cancelled);
    let mut cancelled = history.clone();
    cancelled.extend(given(&history).when(SagaInput::StockChecked(released_reply(1)), 4).into_events());
    given(&cancelled).when(SagaInput::Cancel { reason: String::new() }, 5).then_nothing();
}

#[test]
fn cancelling_after_the_payment_request_is_refused() {
    let precondition = |m: &str| DomainError::Precondition(m.into());
    given(&awaiting_payment())
        .when(SagaInput::Cancel { reason: String::new() }, 2)
        .then_err(precondition("the payment was already requested; the order can no longer be cancelled"));
    given(&compensating_after_decline())
        .when(SagaInput::Cancel { reason: String::new() }, 4)
        .then_err(precondition("the order has failed"));
    let mut confirmed = awaiting_payment();
    confirmed.extend(given(&confirmed).when(SagaInput::PaymentResult(approved_reply()), 4).into_events());
    given(&confirmed)
        .when(SagaInput::Cancel { reason: String::new() }, 5)
        .then_err(precondition("the order is confirmed"));
    let mut failed_history = compensating_after_decline();
    failed_history.extend(given(&failed_history).when(SagaInput::StockChecked(released_reply(1)), 5).into_events());
    given(&failed_history)
        .when(SagaInput::Cancel { reason: String::new() }, 6)
        .then_err(precondition("the order has failed"));
}
