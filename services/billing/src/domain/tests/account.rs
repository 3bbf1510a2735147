//! The account aggregate: opening, credits and the credit limit.

use pb::account_event::Event;

use super::super::AccountCommand;
use super::*;

fn open(customer: &str, currency: &str, credit_limit: i64, opening_balance: i64) -> AccountCommand {
    AccountCommand::Open { customer_id: customer.into(), currency: currency.into(), credit_limit, opening_balance }
}

#[test]
fn an_account_opens_with_its_balance_and_credit_limit() {
    let events = Account::default().handle(open(" c-1 ", "XAF", 500, 1_000), now()).unwrap();
    assert_eq!(events, [opened("c-1", 1_000, 500)]);
    let account = Account::replay(&events);
    assert_eq!((account.balance, account.credit_limit, account.available(), account.version), (1_000, 500, 1_500, 1));
    assert_eq!(account.opened_at, ts());
}

#[test]
fn an_account_opens_once() {
    let account = Account::replay(&[opened("c-1", 0, 0)]);
    assert_refused(account.handle(open("c-1", "XAF", 0, 0), now()), precondition("account of c-1 is already open"));
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
        assert_refused(Account::default().handle(command, now()), invalid(message));
    }
}

#[test]
fn a_credit_raises_the_balance() {
    let mut account = Account::replay(&[opened("c-1", 100, 0)]);
    let events =
        account.handle(AccountCommand::Credit { amount: xaf(250), reference: " virement 42 ".into() }, now()).unwrap();
    assert_eq!(
        events,
        [account_event(Event::Credited(pb::AccountCredited {
            amount: Some(xaf(250)),
            reference: "virement 42".into()
        }))]
    );
    account.apply(&events[0]);
    assert_eq!(account.balance, 350);
}

#[test]
fn a_credit_must_be_positive_in_the_account_currency_on_an_open_account() {
    let account = Account::replay(&[opened("c-1", 100, 0)]);
    let credit = |amount| AccountCommand::Credit { amount, reference: String::new() };
    assert_refused(account.handle(credit(xaf(0)), now()), invalid("amount must be positive"));
    assert_refused(account.handle(credit(money("EUR", 5)), now()), invalid("amount is in EUR, the account is in XAF"));
    assert_refused(Account::default().handle(credit(xaf(5)), now()), DomainError::NotFound("no such account".into()));
    let full = Account::replay(&[opened("c-1", i64::MAX, 0)]);
    assert_refused(full.handle(credit(xaf(1)), now()), invalid("amount is too large"));
}

#[test]
fn the_credit_limit_changes_only_when_it_differs() {
    let mut account = Account::replay(&[opened("c-1", 100, 50)]);
    let events = account.handle(AccountCommand::SetCreditLimit { credit_limit: 300 }, now()).unwrap();
    assert_eq!(events, [account_event(Event::CreditLimitChanged(pb::CreditLimitChanged { credit_limit: 300 }))]);
    account.apply(&events[0]);
    assert_eq!(account.available(), 400);
    assert_eq!(account.handle(AccountCommand::SetCreditLimit { credit_limit: 300 }, now()).unwrap(), []);
    assert_refused(
        account.handle(AccountCommand::SetCreditLimit { credit_limit: -1 }, now()),
        invalid("credit limit cannot be negative"),
    );
}
