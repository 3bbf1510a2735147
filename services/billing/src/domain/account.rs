//! The account aggregate: one customer's balance, credit limit and currency.

use chrono::{DateTime, Utc};
use fleuve_aggregate::{Aggregate, Snapshots};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::Money;
use pb::account_event::Event;
use prost::Message as _;

use super::money;
use super::{ACCOUNT_AGGREGATE, DomainError, timestamp};

/// An account's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// Empty until the account is opened.
    pub customer_id: String,
    pub currency: String,
    /// Minor units; may be negative down to minus the credit limit.
    pub balance: i64,
    pub credit_limit: i64,
    pub opened_at: Option<prost_types::Timestamp>,
    pub version: i64,
}

/// What staff ask of an account. Charges and refunds go through [`super::payment`] and
/// [`super::charge`].
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    Open { customer_id: String, currency: String, credit_limit: i64, opening_balance: i64 },
    Credit { amount: Money, reference: String },
    SetCreditLimit { credit_limit: i64 },
}

impl Account {
    pub fn is_open(&self) -> bool {
        !self.customer_id.is_empty()
    }

    /// The largest charge that can be approved: balance plus credit limit.
    pub fn available(&self) -> i64 {
        self.balance.saturating_add(self.credit_limit)
    }

    pub(super) fn ensure_open(&self) -> Result<(), DomainError> {
        if self.is_open() { Ok(()) } else { Err(DomainError::NotFound("no such account".into())) }
    }

    /// The account as the API shows it, which is also its snapshot: a change of `pb::Account`
    /// that changes what a snapshot decodes to needs a new snapshot `schema_version`.
    pub fn to_pb(&self) -> pb::Account {
        pb::Account {
            customer_id: self.customer_id.clone(),
            currency: self.currency.clone(),
            balance: self.balance,
            credit_limit: self.credit_limit,
            available: self.available(),
            opened_at: self.opened_at,
            version: self.version,
        }
    }

    pub fn from_pb(a: pb::Account) -> Account {
        Account {
            customer_id: a.customer_id,
            currency: a.currency,
            balance: a.balance,
            credit_limit: a.credit_limit,
            opened_at: a.opened_at,
            version: a.version,
        }
    }
}

/// An account's stream gets an event from every payment and refund of its customer, so it is
/// loaded from a snapshot taken every [`ACCOUNT_SNAPSHOT_EVERY`] events and the events after.
pub const ACCOUNT_SNAPSHOT_EVERY: i64 = 4;

impl Aggregate for Account {
    const KIND: &'static str = ACCOUNT_AGGREGATE;
    const SNAPSHOTS: Option<Snapshots<Account>> = Some(Snapshots {
        schema_version: 1,
        every: ACCOUNT_SNAPSHOT_EVERY,
        encode: |account| account.to_pb().encode_to_vec(),
        decode: |bytes| pb::Account::decode(bytes).map(Account::from_pb),
    });
    type Event = pb::AccountEvent;
    type Command = AccountCommand;
    type Context = DateTime<Utc>;
    type Error = DomainError;

    /// Decides a staff command; charges and refunds are decided with the charge.
    fn handle(&self, command: AccountCommand, now: &DateTime<Utc>) -> Result<Vec<pb::AccountEvent>, DomainError> {
        let now = *now;
        let event = match command {
            AccountCommand::Open { customer_id, currency, credit_limit, opening_balance } => {
                if self.is_open() {
                    return Err(DomainError::Precondition(format!("account of {} is already open", self.customer_id)));
                }
                let customer_id = customer_id.trim();
                if customer_id.is_empty() {
                    return Err(DomainError::Invalid("customer id is missing".into()));
                }
                if credit_limit < 0 || opening_balance < 0 {
                    return Err(DomainError::Invalid("credit limit and opening balance cannot be negative".into()));
                }
                Event::Opened(pb::AccountOpened {
                    customer_id: customer_id.into(),
                    currency: money::currency(&currency)?,
                    credit_limit,
                    balance: opening_balance,
                })
            }
            AccountCommand::Credit { amount, reference } => {
                self.ensure_open()?;
                let value = money::positive_in(Some(&amount), &self.currency)?;
                if self.balance.checked_add(value).is_none() {
                    return Err(DomainError::Invalid("amount is too large".into()));
                }
                Event::Credited(pb::AccountCredited { amount: Some(amount), reference: reference.trim().into() })
            }
            AccountCommand::SetCreditLimit { credit_limit } => {
                self.ensure_open()?;
                if credit_limit < 0 {
                    return Err(DomainError::Invalid("credit limit cannot be negative".into()));
                }
                if credit_limit == self.credit_limit {
                    return Ok(Vec::new());
                }
                Event::CreditLimitChanged(pb::CreditLimitChanged { credit_limit })
            }
        };
        Ok(vec![account_event(event, now)])
    }

    /// Folds one event into the state.
    fn apply(&mut self, event: &pb::AccountEvent) {
        self.version += 1;
        let Some(inner) = &event.event else { return };
        match inner {
            Event::Opened(e) => {
                self.customer_id.clone_from(&e.customer_id);
                self.currency.clone_from(&e.currency);
                self.credit_limit = e.credit_limit;
                self.balance = e.balance;
                self.opened_at = event.occurred_at;
            }
            Event::Credited(e) => self.balance = self.balance.saturating_add(amount_of(e.amount.as_ref())),
            Event::CreditLimitChanged(e) => self.credit_limit = e.credit_limit,
            Event::Charged(e) => self.balance = self.balance.saturating_sub(amount_of(e.amount.as_ref())),
            Event::Refunded(e) => self.balance = self.balance.saturating_add(amount_of(e.amount.as_ref())),
        }
    }
}

fn amount_of(amount: Option<&Money>) -> i64 {
    amount.map_or(0, |m| m.amount)
}

pub(super) fn account_event(event: Event, now: DateTime<Utc>) -> pb::AccountEvent {
    pb::AccountEvent { occurred_at: Some(timestamp(now)), event: Some(event) }
}
