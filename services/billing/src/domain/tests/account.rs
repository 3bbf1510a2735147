//! The account aggregate: opening, credits and the credit limit, given past events, when a
//! staff command.

use fleuve_aggregate::testing::{given, given_state};
use pb::account_event::Event;

use super::super::AccountCommand;
use super::*;

fn open(customer: &str, currency: &str, credit_limit: i64, opening_balance: i64) -> AccountCommand {
    AccountCommand::Open { customer_id: customer.into(), currency: currency.into(), credit_limit, opening_balance }
}

fn credit(amount: Money) -> AccountCommand {
    AccountCommand::Credit { amount, reference: String::new() }
}

#[test]
fn an_account_opens_with_its_balance_and_credit_limit() {
    let account =
        given::<Account>(&[]).when(open(" c-1 ", "XAF", 500, 1_000), &now()).then(&[opened("c-1", 1_000, 500)]);
    assert_eq!((account.balance, account.credit_limit, account.available(), account.version), (1_000, 500, 1_500, 1));
    assert_eq!(account.opened_at, ts());
}

#[test]
fn an_account_opens_once() {
    given::<Account>(&[opened("c-1", 0, 0)])
        .when(open("c-1", "XAF", 0, 0), &now())
        .then_err(precondition("account of c-1 is already open"));
}

#[test]
fn opening_refuses_a_blank_customer_a_bad_currency_or_negative_amounts() {
    for (command, message) in [
        (open(" ", "XAF", 0, 0), "customer id is missing"),
        (open("c-1", "xaf", 0, 0), "currency \"xaf\" is not an ISO 4217 code"),
        (open("c-1", "EURO", 0, 0), "currency \"EURO\" is not an ISO 4217 code"),
        (open("c-1", "XAF", -1, 0), "credit limit and opening balance cannot be negative"),
        (open("c-1", "XAF", 0, -1), "credit limit and opening balance cannot be negative"),
    ] {
        given::<Account>(&[]).when(command, &now()).then_err(invalid(message));
    }
}

#[test]
fn a_credit_raises_the_balance() {
    let account = given::<Account>(&[opened("c-1", 100, 0)])
        .when(AccountCommand::Credit { amount: xaf(250), reference: " virement 42 ".into() }, &now())
        .then(&[account_event(Event::Credited(pb::AccountCredited {
            amount: Some(xaf(250)),
            reference: "virement 42".into(),
        }))]);
    assert_eq!(account.balance, 350);
}

#[test]
fn a_credit_must_be_positive_in_the_account_currency_on_an_open_account() {
    let open_account = [opened("c-1", 100, 0)];
    given::<Account>(&open_account).when(credit(xaf(0)), &now()).then_err(invalid("amount must be positive"));
    given::<Account>(&open_account)
        .when(credit(money("EUR", 5)), &now())
        .then_err(invalid("amount is in EUR, the account is in XAF"));
    given::<Account>(&[]).when(credit(xaf(5)), &now()).then_err(DomainError::NotFound("no such account".into()));
    given::<Account>(&[opened("c-1", i64::MAX, 0)])
        .when(credit(xaf(1)), &now())
        .then_err(invalid("amount is too large"));
}

#[test]
fn the_credit_limit_changes_only_when_it_differs() {
    let limit = |credit_limit| AccountCommand::SetCreditLimit { credit_limit };
    let account = given::<Account>(&[opened("c-1", 100, 50)])
        .when(limit(300), &now())
        .then(&[account_event(Event::CreditLimitChanged(pb::CreditLimitChanged { credit_limit: 300 }))]);
    assert_eq!(account.available(), 400);
    let account = given_state(account).when(limit(300), &now()).then_nothing();
    given_state(account).when(limit(-1), &now()).then_err(invalid("credit limit cannot be negative"));
}

#[test]
fn a_snapshot_restores_the_state_it_was_taken_of() {
    use fleuve_aggregate::Aggregate as _;
    let account = given::<Account>(&[opened("c-1", 100, 50)]).when(credit(xaf(7)), &now()).then_count(1);
    let policy = Account::SNAPSHOTS.expect("accounts are snapshotted");
    assert_eq!((policy.decode)(&(policy.encode)(&account)).unwrap(), account);
}

/// Random credits, limit changes, saga payments and refunds of one account: a snapshot taken
/// at any point, followed by the events after it, gives the state of the full replay.
mod snapshots {
    use proptest::prelude::*;

    use super::super::{Ledger, payment_request};
    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Credit(i64),
        Limit(i64),
        Pay(u8, i64),
        Refund(u8, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..500).prop_map(Op::Credit),
            (0i64..300).prop_map(Op::Limit),
            (0u8..10, 1i64..400).prop_map(|(order, amount)| Op::Pay(order, amount)),
            (0u8..10, 1i64..200).prop_map(|(order, amount)| Op::Refund(order, amount)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn snapshot_and_tail_equal_the_full_replay(ops in proptest::collection::vec(op(), 0..60)) {
            let mut ledger = Ledger::with(&[("c-1", 1_000, 100)]);
            let mut history = vec![opened("c-1", 1_000, 100)];
            for (n, op) in ops.into_iter().enumerate() {
                let events = match op {
                    Op::Credit(amount) => staff(&mut ledger, credit(xaf(amount))),
                    Op::Limit(credit_limit) => staff(&mut ledger, AccountCommand::SetCreditLimit { credit_limit }),
                    Op::Pay(order, amount) => ledger
                        .pay(&payment_request(&format!("o-{order}"), "c-1", amount, "tok_ok"))
                        .map(|d| d.account_events)
                        .unwrap_or_default(),
                    Op::Refund(order, amount) => ledger
                        .refund(&format!("o-{order}"), &format!("r-{n}"), xaf(amount))
                        .map(|d| d.account_events)
                        .unwrap_or_default(),
                };
                history.extend(events);
            }
            fleuve_aggregate::testing::assert_snapshots_replay::<Account>(&history);
            prop_assert_eq!(&Account::replay(&history), &ledger.accounts["c-1"]);
        }
    }

    /// A staff command on the account, applied to the ledger; its events.
    fn staff(ledger: &mut Ledger, command: AccountCommand) -> Vec<pb::AccountEvent> {
        let account = ledger.accounts.get_mut("c-1").unwrap();
        let events = account.handle(command, &now()).unwrap_or_default();
        for event in &events {
            account.apply(event);
        }
        events
    }
}
