//! Late, duplicate, stray and misrouted inputs: they change nothing (or are refused when they
//! cannot belong to the order).

use fleuve_proto::common::v1::SagaStepKind::{Payment, StockCheck, StockRelease};

use super::*;

#[test]
fn a_duplicate_stock_reply_changes_nothing() {
    given(&awaiting_payment()).when(SagaInput::StockChecked(reserved_reply()), 2).then_nothing();
}

#[test]
fn a_duplicate_payment_reply_changes_nothing() {
    let mut history = awaiting_payment();
    history.extend(given(&history).when(SagaInput::PaymentResult(approved_reply()), 4).into_events());
    let order = given(&history).when(SagaInput::PaymentResult(approved_reply()), 5).then_nothing();
    assert_eq!(order.status, pb::OrderStatus::Confirmed);
    // A decline arriving after the approval does not undo it either.
    given(&history).when(SagaInput::PaymentResult(declined_reply()), 5).then_nothing();
}

#[test]
fn replies_for_steps_not_awaited_change_nothing() {
    // A payment result before any payment request.
    given(&awaiting_stock()).when(SagaInput::PaymentResult(approved_reply()), 1).then_nothing();
    // A release confirmation while checking: the stock service saw a release first.
    given(&awaiting_stock()).when(SagaInput::StockChecked(released_reply(1)), 1).then_nothing();
    // A reply to an attempt never sent.
    let mut future = reserved_reply();
    future.step = Some(step(StockCheck, 2));
    given(&awaiting_stock()).when(SagaInput::StockChecked(future), 1).then_nothing();
    let mut zero = reserved_reply();
    zero.step = Some(step(StockCheck, 0));
    given(&awaiting_stock()).when(SagaInput::StockChecked(zero), 1).then_nothing();
    // Before the saga started.
    given(&[placed()]).when(SagaInput::StockChecked(reserved_reply()), 1).then_nothing();
}

#[test]
fn the_wrong_answer_to_a_step_changes_nothing() {
    // A reservation answering a release.
    let mut reserved_for_release = reserved_reply();
    reserved_for_release.step = Some(step(StockRelease, 1));
    given(&compensating_after_decline()).when(SagaInput::StockChecked(reserved_for_release), 5).then_nothing();
    // A release answering a check.
    let mut released_for_check = released_reply(1);
    released_for_check.step = Some(step(StockCheck, 1));
    given(&awaiting_stock()).when(SagaInput::StockChecked(released_for_check), 5).then_nothing();
    // A payment result carrying another step.
    let mut odd = approved_reply();
    odd.step = Some(step(StockRelease, 1));
    given(&compensating_after_decline()).when(SagaInput::PaymentResult(odd), 5).then_nothing();
}

#[test]
fn deadlines_that_are_stale_or_not_due_change_nothing() {
    // Not due yet.
    given(&awaiting_stock()).when(SagaInput::DeadlineExpired { step: step(StockCheck, 1) }, 29).then_nothing();
    // Another step, another attempt.
    given(&awaiting_stock()).when(SagaInput::DeadlineExpired { step: step(Payment, 1) }, 100).then_nothing();
    given(&awaiting_stock()).when(SagaInput::DeadlineExpired { step: step(StockCheck, 2) }, 100).then_nothing();
    // The step was answered.
    given(&awaiting_payment()).when(SagaInput::DeadlineExpired { step: step(StockCheck, 1) }, 100).then_nothing();
    // The saga is over.
    let mut confirmed = awaiting_payment();
    confirmed.extend(given(&confirmed).when(SagaInput::PaymentResult(approved_reply()), 4).into_events());
    given(&confirmed).when(SagaInput::DeadlineExpired { step: step(Payment, 1) }, 100).then_nothing();
    // Before the start.
    given(&[placed()]).when(SagaInput::DeadlineExpired { step: step(StockCheck, 1) }, 100).then_nothing();
}

#[test]
fn misrouted_or_malformed_replies_are_refused() {
    let mut other = reserved_reply();
    other.step.as_mut().unwrap().saga_id = "o-2".into();
    given(&awaiting_stock())
        .when(SagaInput::StockChecked(other), 1)
        .then_err(DomainError::Invalid("reply for saga \"o-2\" reached order o-1".into()));
    let mut no_step = approved_reply();
    no_step.step = None;
    given(&awaiting_payment())
        .when(SagaInput::PaymentResult(no_step), 1)
        .then_err(DomainError::Invalid("reply has no saga step".into()));
    let mut empty = reserved_reply();
    empty.outcome = None;
    given(&awaiting_stock())
        .when(SagaInput::StockChecked(empty), 1)
        .then_err(DomainError::Invalid("stock reply has no outcome".into()));
    let mut empty = approved_reply();
    empty.outcome = None;
    given(&awaiting_payment())
        .when(SagaInput::PaymentResult(empty), 1)
        .then_err(DomainError::Invalid("payment reply has no outcome".into()));
}

#[test]
fn a_late_start_after_a_cancellation_sends_nothing() {
    let mut history = vec![placed()];
    history.extend(given(&history).when(SagaInput::Cancel { reason: String::new() }, 1).into_events());
    given(&history).when(SagaInput::Start, 2).then_nothing();
}
