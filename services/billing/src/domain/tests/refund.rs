//! Refunds: only of an approved charge, never more than charged, once per refund id.

use fleuve_proto::common::v1::SagaStepKind::{Payment, PaymentRefund};
use pb::charge_event::Event;

use super::*;

fn paid(amount: i64) -> Ledger {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
    ledger.pay(&payment_request("o-1", "c-1", amount, "tok_visa")).unwrap();
    ledger
}

fn saga_refund(amount: i64, refund_id: &str) -> pb::PaymentRefund {
    pb::PaymentRefund {
        occurred_at: ts(),
        step: Some(step("o-1", PaymentRefund, 1)),
        customer_id: "c-1".into(),
        charge_id: "ch-o-1".into(),
        amount: Some(xaf(amount)),
        refund_id: refund_id.into(),
        reason: "payment approved after the order failed".into(),
    }
}

#[test]
fn a_partial_refund_gives_money_back_and_is_recorded_on_the_charge() {
    let mut ledger = paid(4_000);
    let decision = ledger.refund("o-1", "r-1", xaf(1_500)).unwrap();
    assert_eq!(
        decision,
        RefundDecision {
            charge_events: vec![charge_event(Event::Refunded(pb::ChargeRefunded {
                refund_id: "r-1".into(),
                amount: Some(xaf(1_500)),
                reason: "changed mind".into(),
            }))],
            account_events: vec![account_event(pb::account_event::Event::Refunded(pb::AccountRefunded {
                refund_id: "r-1".into(),
                order_id: "o-1".into(),
                amount: Some(xaf(1_500)),
            }))],
        }
    );
    assert_eq!(ledger.balance("c-1"), 7_500);
    let charge = ledger.charge("o-1");
    assert_eq!((charge.status, charge.refunded, charge.refunds.len()), (pb::ChargeStatus::Approved, 1_500, 1));
}

#[test]
fn refunds_stop_at_the_charged_amount() {
    let mut ledger = paid(4_000);
    ledger.refund("o-1", "r-1", xaf(3_000)).unwrap();
    assert_refused(
        ledger.refund("o-1", "r-2", xaf(1_001)),
        precondition("refund of 1001 exceeds the 1000 left to refund"),
    );
    ledger.refund("o-1", "r-2", xaf(1_000)).unwrap();
    assert_eq!(ledger.charge("o-1").status, pb::ChargeStatus::Refunded);
    assert_refused(ledger.refund("o-1", "r-3", xaf(1)), precondition("charge is already refunded in full"));
    assert_eq!(ledger.balance("c-1"), 10_000);
}

#[test]
fn the_same_refund_twice_refunds_once() {
    let mut ledger = paid(4_000);
    ledger.refund("o-1", "r-1", xaf(1_000)).unwrap();
    assert_eq!(ledger.refund("o-1", "r-1", xaf(1_000)).unwrap(), RefundDecision::default());
    assert_refused(ledger.refund("o-1", "r-1", xaf(2_000)), precondition("refund r-1 was for 1000, not 2000"));
    assert_eq!(ledger.balance("c-1"), 7_000);
}

#[test]
fn only_an_approved_charge_can_be_refunded_in_its_currency() {
    let mut ledger = Ledger::with(&[("c-1", 100, 0)]);
    assert_refused(ledger.refund("o-1", "r-1", xaf(1)), DomainError::NotFound("no charge for this order".into()));
    ledger.pay(&payment_request("o-1", "c-1", 500, "tok_visa")).unwrap();
    assert_refused(ledger.refund("o-1", "r-1", xaf(1)), precondition("only an approved charge can be refunded"));
    let mut ledger = paid(4_000);
    assert_refused(ledger.refund("o-1", " ", xaf(1)), invalid("refund id is missing"));
    assert_refused(ledger.refund("o-1", "r-1", money("EUR", 1)), invalid("amount is in EUR, the account is in XAF"));
    assert_refused(ledger.refund("o-1", "r-1", xaf(0)), invalid("amount must be positive"));
    assert_eq!(ledger.balance("c-1"), 6_000);
}

#[test]
fn a_refunded_order_still_answers_its_payment_request_with_the_approval() {
    let mut ledger = paid(4_000);
    ledger.refund("o-1", "r-1", xaf(4_000)).unwrap();
    let again = ledger.pay(&payment_request("o-1", "c-1", 4_000, "tok_visa")).unwrap();
    assert!(again.charge_events.is_empty() && again.account_events.is_empty());
    assert!(matches!(again.reply.unwrap().outcome, Some(pb::payment_result::Outcome::Approved(_))));
    assert_eq!(ledger.balance("c-1"), 10_000);
}

#[test]
fn the_saga_refund_gives_back_what_is_left_once() {
    let mut ledger = paid(4_000);
    ledger.refund("o-1", "r-staff", xaf(1_000)).unwrap();
    let decision = ledger.saga_refund(&saga_refund(4_000, "o-1/late-payment")).unwrap();
    assert_eq!(
        decision.charge_events,
        [charge_event(Event::Refunded(pb::ChargeRefunded {
            refund_id: "o-1/late-payment".into(),
            amount: Some(xaf(3_000)),
            reason: "payment approved after the order failed".into(),
        }))]
    );
    assert_eq!(ledger.balance("c-1"), 10_000);
    assert_eq!(ledger.saga_refund(&saga_refund(4_000, "o-1/late-payment")).unwrap(), RefundDecision::default());
    assert_eq!(ledger.balance("c-1"), 10_000);
}

#[test]
fn the_saga_refund_of_an_unpaid_order_does_nothing() {
    let mut ledger = Ledger::with(&[("c-1", 100, 0)]);
    assert_eq!(ledger.saga_refund(&saga_refund(4_000, "o-1/late-payment")).unwrap(), RefundDecision::default());
    ledger.pay(&payment_request("o-1", "c-1", 500, "tok_visa")).unwrap();
    assert_eq!(ledger.saga_refund(&saga_refund(500, "o-1/late-payment")).unwrap(), RefundDecision::default());
    let mut wrong = saga_refund(500, "x");
    wrong.step = Some(step("o-1", Payment, 1));
    assert_refused(ledger.saga_refund(&wrong), invalid("expected a SAGA_STEP_KIND_PAYMENT_REFUND step"));
}

/// The charge aggregate on its own, through the given/when/then framework: a staff refund,
/// with the paying account in the context.
mod aggregate {
    use fleuve_aggregate::testing::given;

    use super::super::super::{ChargeCommand, ChargeContext};
    use super::*;

    /// The events of an approved charge of `amount`, and the context with the account after it.
    fn approved(amount: i64) -> (Vec<pb::ChargeEvent>, ChargeContext) {
        let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
        let decision = ledger.pay(&payment_request("o-1", "c-1", amount, "tok_visa")).unwrap();
        assert_eq!(ledger.charge("o-1").status, pb::ChargeStatus::Approved);
        (decision.charge_events, ChargeContext { account: ledger.account("c-1"), now: now() })
    }

    fn refund(refund_id: &str, amount: i64) -> ChargeCommand {
        ChargeCommand::Refund { refund_id: refund_id.into(), amount: xaf(amount), reason: " changed mind ".into() }
    }

    #[test]
    fn a_refund_of_an_approved_charge_is_recorded_on_it() {
        let (history, cx) = approved(4_000);
        let charge = given::<Charge>(&history).when(refund("r-1", 1_500), &cx).then(&[charge_event(Event::Refunded(
            pb::ChargeRefunded { refund_id: "r-1".into(), amount: Some(xaf(1_500)), reason: "changed mind".into() },
        ))]);
        assert_eq!((charge.refunded, charge.status), (1_500, pb::ChargeStatus::Approved));
    }

    #[test]
    fn the_same_refund_again_decides_nothing_and_more_than_is_left_is_refused() {
        let (mut history, cx) = approved(4_000);
        history.extend(given::<Charge>(&history).when(refund("r-1", 1_500), &cx).into_events());
        given::<Charge>(&history).when(refund("r-1", 1_500), &cx).then_nothing();
        given::<Charge>(&history)
            .when(refund("r-2", 3_000), &cx)
            .then_err(precondition("refund of 3000 exceeds the 2500 left to refund"));
        given::<Charge>(&[])
            .when(refund("r-3", 1), &cx)
            .then_err(DomainError::NotFound("no charge for this order".into()));
    }
}
