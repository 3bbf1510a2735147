//! Staff commands: each is ONE transaction that loads the streams, lets the domain decide,
//! appends with the expected versions and rewrites the read models. The requests carry no
//! expected version, so a command that lost a race (a saga charge moved the account meanwhile)
//! is decided again on the new state, a few times, before the caller gets ABORTED.

use fleuve_aggregate::{Aggregate, Retries, repository};
use fleuve_mesh::Role;
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::Money;

use super::ledger::{self, Effects};
use super::{AppError, Billing, Caller, now, views};
use crate::domain::{self, AccountCommand, DomainError};

impl Billing {
    /// Opens the account of `customer_id` in `currency`.
    pub async fn open_account(
        &self,
        cx: &Caller,
        customer_id: &str,
        currency: &str,
        opening_balance: i64,
        credit_limit: i64,
    ) -> Result<pb::Account, AppError> {
        cx.principal.require(&[Role::Admin])?;
        let command = AccountCommand::Open {
            customer_id: customer_id.trim().to_owned(),
            currency: currency.to_owned(),
            credit_limit,
            opening_balance,
        };
        self.account_command(cx, customer_id, command, true).await
    }

    /// Adds `amount` to the balance; `reference` names the top-up or the transfer.
    pub async fn credit_account(
        &self,
        cx: &Caller,
        customer_id: &str,
        amount: Money,
        reference: &str,
    ) -> Result<pb::Account, AppError> {
        cx.principal.require(&[Role::Admin])?;
        let command = AccountCommand::Credit { amount, reference: reference.to_owned() };
        self.account_command(cx, customer_id, command, false).await
    }

    /// How far below zero the balance may go; the same limit again changes nothing.
    pub async fn set_credit_limit(
        &self,
        cx: &Caller,
        customer_id: &str,
        credit_limit: i64,
    ) -> Result<pb::Account, AppError> {
        cx.principal.require(&[Role::Admin])?;
        self.account_command(cx, customer_id, AccountCommand::SetCreditLimit { credit_limit }, false).await
    }

    /// Gives back `amount` of the order's approved charge to the customer's account. Idempotent
    /// per `refund_id`: the same refund again refunds nothing more and returns the charge.
    pub async fn refund(
        &self,
        cx: &Caller,
        order_id: &str,
        refund_id: &str,
        amount: Money,
        reason: &str,
    ) -> Result<pb::Charge, AppError> {
        cx.principal.require(&[Role::Admin])?;
        let order_id = order_id.trim().to_owned();
        if order_id.is_empty() {
            return Err(DomainError::Invalid("order id is missing".into()).into());
        }
        let (meta, refund_id, reason) = (cx.metadata(), refund_id.to_owned(), reason.to_owned());
        repository::transact(&self.db, Retries::DEFAULT, move |conn| {
            let now = now();
            let charge = ledger::load_charge(conn, &order_id)?;
            if !charge.state.is_decided() {
                return Err(DomainError::NotFound(format!("no charge for order {order_id}")).into());
            }
            let account = ledger::load_account(conn, &charge.state.customer_id)?;
            let decision = domain::refund(&charge.state, &account.state, &refund_id, &amount, &reason, now)?;
            let effects = Effects { charge: &decision.charge_events, account: &decision.account_events };
            let (charge, _) = ledger::record(conn, (charge, account), effects, &meta, now, None)?;
            Ok(views::charge_to_pb(&charge))
        })
        .await
    }

    async fn account_command(
        &self,
        cx: &Caller,
        customer_id: &str,
        command: AccountCommand,
        opening: bool,
    ) -> Result<pb::Account, AppError> {
        let customer_id = customer_id.trim().to_owned();
        if customer_id.is_empty() {
            return Err(DomainError::Invalid("customer id is missing".into()).into());
        }
        let meta = cx.metadata();
        repository::transact(&self.db, Retries::DEFAULT, move |conn| {
            let now = now();
            let account = ledger::load_account(conn, &customer_id)?;
            if !opening && !account.state.is_open() {
                return Err(DomainError::NotFound(format!("no account for customer {customer_id}")).into());
            }
            let events = account.state.handle(command.clone(), &now)?;
            let account = ledger::record_account(conn, account, &events, &meta, now, None)?;
            Ok(views::account_to_pb(&account))
        })
        .await
    }
}
