//! Given/when/then tests of the billing domain: given past events, when a command or a saga
//! request, then these events and this reply (compared in full) or this refusal.

mod account;
mod payment;
mod refund;

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fleuve_aggregate::Aggregate as _;
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::{Money, SagaStep, SagaStepKind};

use super::money::money;
use super::{
    Account, Authorization, Charge, DomainError, PaymentDecision, PaymentProvider, ProviderOutcome, RefundDecision,
    SimulatedProvider, timestamp,
};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 9, 30, 0).unwrap()
}

pub fn ts() -> Option<prost_types::Timestamp> {
    Some(timestamp(now()))
}

pub fn xaf(amount: i64) -> Money {
    money("XAF", amount)
}

pub fn account_event(event: pb::account_event::Event) -> pb::AccountEvent {
    pb::AccountEvent { occurred_at: ts(), event: Some(event) }
}

pub fn charge_event(event: pb::charge_event::Event) -> pb::ChargeEvent {
    pb::ChargeEvent { occurred_at: ts(), event: Some(event) }
}

pub fn opened(customer_id: &str, balance: i64, credit_limit: i64) -> pb::AccountEvent {
    account_event(pb::account_event::Event::Opened(pb::AccountOpened {
        customer_id: customer_id.into(),
        currency: "XAF".into(),
        credit_limit,
        balance,
    }))
}

pub fn step(order_id: &str, kind: SagaStepKind, attempt: u32) -> SagaStep {
    SagaStep { saga_id: order_id.into(), kind: kind.into(), attempt }
}

pub fn payment_request(order_id: &str, customer_id: &str, amount: i64, token: &str) -> pb::PaymentRequest {
    pb::PaymentRequest {
        occurred_at: ts(),
        step: Some(step(order_id, SagaStepKind::Payment, 1)),
        customer_id: customer_id.into(),
        amount: Some(xaf(amount)),
        payment_token: token.into(),
        deadline: Some(timestamp(now() + Duration::seconds(60))),
    }
}

pub fn charge_id(order_id: &str) -> String {
    format!("ch-{order_id}")
}

/// A way to spoil a valid value, and the refusal it must cause.
pub type Spoil<T> = (fn(&mut T), &'static str);

pub use fleuve_aggregate::testing::{assert_refused, invalid, precondition};

/// The simulator, counting how often it is asked.
#[derive(Default)]
pub struct CountingProvider {
    pub calls: RefCell<Vec<Authorization>>,
}

impl PaymentProvider for CountingProvider {
    fn authorize(&self, request: &Authorization) -> ProviderOutcome {
        self.calls.borrow_mut().push(request.clone());
        SimulatedProvider.authorize(request)
    }
}

/// Accounts and charges as the store would hold them: decisions are applied to both streams,
/// as the service's transaction will.
#[derive(Default)]
pub struct Ledger {
    pub accounts: BTreeMap<String, Account>,
    pub charges: BTreeMap<String, Charge>,
    pub provider: CountingProvider,
}

impl Ledger {
    pub fn with(accounts: &[(&str, i64, i64)]) -> Ledger {
        let mut ledger = Ledger::default();
        for (customer, balance, limit) in accounts {
            ledger.accounts.insert((*customer).into(), Account::replay(&[opened(customer, *balance, *limit)]));
        }
        ledger
    }

    pub fn account(&self, customer_id: &str) -> Account {
        self.accounts.get(customer_id).cloned().unwrap_or_default()
    }

    pub fn charge(&self, order_id: &str) -> Charge {
        self.charges.get(order_id).cloned().unwrap_or_default()
    }

    pub fn balance(&self, customer_id: &str) -> i64 {
        self.accounts[customer_id].balance
    }

    pub fn pay(&mut self, request: &pb::PaymentRequest) -> Result<PaymentDecision, DomainError> {
        self.pay_at(request, now())
    }

    pub fn pay_at(&mut self, request: &pb::PaymentRequest, at: DateTime<Utc>) -> Result<PaymentDecision, DomainError> {
        let order_id = request.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
        let decision = super::pay(
            &self.charge(&order_id),
            &self.account(&request.customer_id),
            request,
            &charge_id(&order_id),
            &self.provider,
            at,
        )?;
        self.record(&order_id, &request.customer_id, &decision.charge_events, &decision.account_events);
        Ok(decision)
    }

    pub fn refund(&mut self, order_id: &str, refund_id: &str, amount: Money) -> Result<RefundDecision, DomainError> {
        let charge = self.charge(order_id);
        let customer = charge.customer_id.clone();
        let decision = super::refund(&charge, &self.account(&customer), refund_id, &amount, " changed mind ", now())?;
        self.record(order_id, &customer, &decision.charge_events, &decision.account_events);
        Ok(decision)
    }

    pub fn saga_refund(&mut self, request: &pb::PaymentRefund) -> Result<RefundDecision, DomainError> {
        let order_id = request.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
        let decision =
            super::refund_for_saga(&self.charge(&order_id), &self.account(&request.customer_id), request, now())?;
        self.record(&order_id, &request.customer_id, &decision.charge_events, &decision.account_events);
        Ok(decision)
    }

    fn record(&mut self, order_id: &str, customer_id: &str, charge: &[pb::ChargeEvent], account: &[pb::AccountEvent]) {
        for event in charge {
            self.charges.entry(order_id.into()).or_default().apply(event);
        }
        for event in account {
            self.accounts.get_mut(customer_id).expect("account events only for open accounts").apply(event);
        }
    }
}
