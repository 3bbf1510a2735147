//! Payments: one charge per order whatever the redeliveries, billing's own refusals and the
//! simulated provider's outcomes.

use fleuve_proto::common::v1::SagaStepKind::{Payment, StockCheck};
use pb::DeclineReason;
use pb::charge_event::Event;
use pb::payment_result::Outcome;

use super::super::provider::{Authorization, PaymentProvider, ProviderOutcome, SimulatedProvider};
use super::*;

fn result(order_id: &str, attempt: u32, outcome: Outcome) -> pb::PaymentResult {
    pb::PaymentResult { occurred_at: ts(), step: Some(step(order_id, Payment, attempt)), outcome: Some(outcome) }
}

fn declined(reason: DeclineReason, detail: &str) -> Outcome {
    Outcome::Declined(pb::PaymentDeclined { reason: reason.into(), detail: detail.into() })
}

fn declined_event(order_id: &str, amount: i64, reason: DeclineReason, detail: &str) -> pb::ChargeEvent {
    charge_event(Event::Declined(pb::ChargeDeclined {
        charge_id: charge_id(order_id),
        order_id: order_id.into(),
        customer_id: "c-1".into(),
        amount: Some(xaf(amount)),
        reason: reason.into(),
        detail: detail.into(),
    }))
}

#[test]
fn an_approved_payment_charges_the_account_once() {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
    let decision = ledger.pay(&payment_request("o-1", "c-1", 7_500, "tok_visa")).unwrap();
    assert_eq!(
        decision,
        PaymentDecision {
            charge_events: vec![charge_event(Event::Approved(pb::ChargeApproved {
                charge_id: "ch-o-1".into(),
                order_id: "o-1".into(),
                customer_id: "c-1".into(),
                amount: Some(xaf(7_500)),
                provider_reference: "sim-ch-o-1".into(),
            }))],
            account_events: vec![account_event(pb::account_event::Event::Charged(pb::AccountCharged {
                charge_id: "ch-o-1".into(),
                order_id: "o-1".into(),
                amount: Some(xaf(7_500)),
            }))],
            reply: Some(result(
                "o-1",
                1,
                Outcome::Approved(pb::PaymentApproved { charge_id: "ch-o-1".into(), amount: Some(xaf(7_500)) })
            )),
        }
    );
    assert_eq!(ledger.balance("c-1"), 2_500);
    assert_eq!(ledger.charge("o-1").status, pb::ChargeStatus::Approved);
}

#[test]
fn redeliveries_and_resends_get_the_first_result_and_charge_nothing_more() {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
    let first = ledger.pay(&payment_request("o-1", "c-1", 4_000, "tok_visa")).unwrap();
    for attempt in [1, 2, 3] {
        let mut again = payment_request("o-1", "c-1", 4_000, "tok_visa");
        again.step = Some(step("o-1", Payment, attempt));
        let decision = ledger.pay(&again).unwrap();
        assert!(decision.charge_events.is_empty() && decision.account_events.is_empty());
        assert_eq!(decision.reply, Some(result("o-1", attempt, first.reply.clone().unwrap().outcome.unwrap())));
    }
    assert_eq!(ledger.balance("c-1"), 6_000);
    assert_eq!(ledger.provider.calls.borrow().len(), 1);
}

#[test]
fn a_declined_order_stays_declined_even_once_funds_arrive() {
    let mut ledger = Ledger::with(&[("c-1", 100, 0)]);
    let first = ledger.pay(&payment_request("o-1", "c-1", 500, "tok_visa")).unwrap();
    ledger.accounts.get_mut("c-1").unwrap().apply(&account_event(pb::account_event::Event::Credited(
        pb::AccountCredited { amount: Some(xaf(1_000)), reference: String::new() },
    )));
    let again = ledger.pay(&payment_request("o-1", "c-1", 500, "tok_visa")).unwrap();
    assert!(again.charge_events.is_empty() && again.account_events.is_empty());
    assert_eq!(again.reply, first.reply);
    assert_eq!(ledger.balance("c-1"), 1_100);
}

#[test]
fn the_credit_limit_lets_the_balance_go_below_zero_but_no_further() {
    let mut ledger = Ledger::with(&[("c-1", 1_000, 500)]);
    let ok = ledger.pay(&payment_request("o-1", "c-1", 1_400, "tok_visa")).unwrap();
    assert!(matches!(ok.reply.unwrap().outcome, Some(Outcome::Approved(_))));
    assert_eq!(ledger.balance("c-1"), -400);
    let short = ledger.pay(&payment_request("o-2", "c-1", 101, "tok_visa")).unwrap();
    assert_eq!(
        short,
        PaymentDecision {
            charge_events: vec![declined_event(
                "o-2",
                101,
                DeclineReason::InsufficientFunds,
                "100 available, 101 requested"
            )],
            account_events: vec![],
            reply: Some(result("o-2", 1, declined(DeclineReason::InsufficientFunds, "100 available, 101 requested"))),
        }
    );
    assert_eq!(ledger.balance("c-1"), -400);
    // Billing refused on its own: the provider was asked only for the first order.
    assert_eq!(ledger.provider.calls.borrow().len(), 1);
}

#[test]
fn the_provider_declines_flagged_cards_and_cards_without_funds() {
    for (token, reason, detail) in [
        ("tok_flagged_4242", DeclineReason::CardFlagged, "card flagged by the provider"),
        ("tok_insufficient_1", DeclineReason::InsufficientFunds, "card has insufficient funds"),
        ("  ", DeclineReason::InvalidToken, "payment token is empty"),
    ] {
        let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
        let decision = ledger.pay(&payment_request("o-1", "c-1", 700, token)).unwrap();
        assert_eq!(
            decision,
            PaymentDecision {
                charge_events: vec![declined_event("o-1", 700, reason, detail)],
                account_events: vec![],
                reply: Some(result("o-1", 1, declined(reason, detail))),
            },
            "token {token:?}"
        );
        assert_eq!(ledger.balance("c-1"), 10_000);
        assert_eq!(ledger.charge("o-1").status, pb::ChargeStatus::Declined);
    }
}

#[test]
fn a_provider_timeout_takes_nothing_and_replies_nothing_even_on_redelivery() {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
    let decision = ledger.pay(&payment_request("o-1", "c-1", 700, "tok_timeout_1")).unwrap();
    assert_eq!(
        decision,
        PaymentDecision {
            charge_events: vec![charge_event(Event::TimedOut(pb::ChargeTimedOut {
                charge_id: "ch-o-1".into(),
                order_id: "o-1".into(),
                customer_id: "c-1".into(),
                amount: Some(xaf(700)),
            }))],
            account_events: vec![],
            reply: None,
        }
    );
    let again = ledger.pay(&payment_request("o-1", "c-1", 700, "tok_visa")).unwrap();
    assert_eq!(again, PaymentDecision::default());
    assert_eq!(ledger.balance("c-1"), 10_000);
    assert_eq!(ledger.charge("o-1").status, pb::ChargeStatus::TimedOut);
    assert_eq!(ledger.provider.calls.borrow().len(), 1);
}

/// A way to spoil a request, and the decline it must cause.
type Refusal = (fn(&mut pb::PaymentRequest), DeclineReason, &'static str);

#[test]
fn billing_declines_on_its_own_without_asking_the_provider() {
    let cases: [Refusal; 4] = [
        (|r| r.customer_id = "c-404".into(), DeclineReason::UnknownAccount, "no account for customer \"c-404\""),
        (
            |r| r.amount = Some(money("EUR", 700)),
            DeclineReason::CurrencyMismatch,
            "amount is in \"EUR\", the account is in XAF",
        ),
        (|r| r.amount = Some(xaf(0)), DeclineReason::InvalidAmount, "amount must be positive"),
        (|r| r.amount = None, DeclineReason::InvalidAmount, "amount must be positive"),
    ];
    for (spoil, reason, detail) in cases {
        let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
        let mut request = payment_request("o-1", "c-1", 700, "tok_visa");
        spoil(&mut request);
        let decision = ledger.pay(&request).unwrap();
        assert_eq!(decision.reply, Some(result("o-1", 1, declined(reason, detail))));
        assert_eq!(decision.charge_events.len(), 1);
        assert!(decision.account_events.is_empty());
        assert!(ledger.provider.calls.borrow().is_empty());
        assert_eq!(ledger.balance("c-1"), 10_000);
    }
}

#[test]
fn a_request_past_its_deadline_is_declined_and_the_one_at_its_deadline_is_not() {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0)]);
    let request = payment_request("o-1", "c-1", 700, "tok_visa");
    let late = ledger.pay_at(&request, now() + Duration::seconds(61)).unwrap();
    assert!(matches!(
        late.reply.unwrap().outcome,
        Some(Outcome::Declined(pb::PaymentDeclined { reason, .. })) if reason == DeclineReason::DeadlinePassed as i32
    ));
    assert!(ledger.provider.calls.borrow().is_empty());
    let on_time =
        ledger.pay_at(&payment_request("o-2", "c-1", 700, "tok_visa"), now() + Duration::seconds(60)).unwrap();
    assert!(matches!(on_time.reply.unwrap().outcome, Some(Outcome::Approved(_))));
}

#[test]
fn malformed_steps_and_foreign_streams_are_refused() {
    let mut ledger = Ledger::with(&[("c-1", 10_000, 0), ("c-2", 10_000, 0)]);
    let spoilers: [Spoil<pb::PaymentRequest>; 3] = [
        (|r| r.step = None, "saga step is missing"),
        (|r| r.step.as_mut().unwrap().saga_id = "".into(), "saga id is missing"),
        (|r| r.step.as_mut().unwrap().kind = StockCheck.into(), "expected a SAGA_STEP_KIND_PAYMENT step"),
    ];
    for (spoil, message) in spoilers {
        let mut request = payment_request("o-1", "c-1", 700, "tok_visa");
        spoil(&mut request);
        assert_refused(ledger.pay(&request), invalid(message));
    }
    let request = payment_request("o-1", "c-1", 700, "tok_visa");
    assert_refused(
        super::super::pay(&Charge::default(), &ledger.account("c-2"), &request, "ch", &SimulatedProvider, now()),
        precondition("account of c-2 cannot pay for c-1"),
    );
    ledger.pay(&request).unwrap();
    assert_refused(
        super::super::pay(
            &ledger.charge("o-1"),
            &ledger.account("c-1"),
            &payment_request("o-2", "c-1", 1, "t"),
            "ch",
            &SimulatedProvider,
            now(),
        ),
        precondition("charge of order o-1 cannot answer saga o-2"),
    );
    assert_eq!(ledger.balance("c-1"), 9_300);
}

#[test]
fn the_simulator_decides_by_token_alone() {
    let ask = |token: &str| {
        SimulatedProvider.authorize(&Authorization {
            charge_id: "ch-9".into(),
            order_id: "o-9".into(),
            customer_id: "c-9".into(),
            amount: xaf(1),
            payment_token: token.into(),
        })
    };
    assert_eq!(ask("tok_visa"), ProviderOutcome::Approved { reference: "sim-ch-9".into() });
    assert_eq!(ask("tok_timeout"), ProviderOutcome::TimedOut);
    assert!(matches!(ask("tok_flagged"), ProviderOutcome::Declined { reason: DeclineReason::CardFlagged, .. }));
    // Only a prefix counts.
    assert_eq!(ask("my_tok_flagged"), ProviderOutcome::Approved { reference: "sim-ch-9".into() });
    assert_eq!(ask("tok_visa"), ask("tok_visa"));
}
