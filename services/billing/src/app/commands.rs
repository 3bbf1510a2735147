//! Staff commands: each is ONE transaction that loads the streams, lets the domain decide,
//! appends with the expected versions and rewrites the read models. The requests carry no
//! expected version, so a command that lost a race (a saga charge moved the account meanwhile)
//! is decided again on the new state, a few times, before the caller gets ABORTED.

use std::future::Future;

use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::Money;

use super::ledger::{self, Effects};
use super::{AppError, Billing, CommandContext, now, views};
use crate::domain::{self, AccountCommand, DomainError};

/// Attempts after the first when a command loses a race.
const CONFLICT_RETRIES: usize = 3;

impl Billing {
    /// Opens the account of `customer_id` in `currency`.
    pub async fn open_account(
        &self,
        cx: &CommandContext,
        customer_id: &str,
        currency: &str,
        opening_balance: i64,
        credit_limit: i64,
    ) -> Result<pb::Account, AppError> {
        cx.require_admin()?;
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
        cx: &CommandContext,
        customer_id: &str,
        amount: Money,
        reference: &str,
    ) -> Result<pb::Account, AppError> {
        cx.require_admin()?;
        let command = AccountCommand::Credit { amount, reference: reference.to_owned() };
        self.account_command(cx, customer_id, command, false).await
    }

    /// How far below zero the balance may go; the same limit again changes nothing.
    pub async fn set_credit_limit(
        &self,
        cx: &CommandContext,
        customer_id: &str,
        credit_limit: i64,
    ) -> Result<pb::Account, AppError> {
        cx.require_admin()?;
        self.account_command(cx, customer_id, AccountCommand::SetCreditLimit { credit_limit }, false).await
    }

    /// Gives back `amount` of the order's approved charge to the customer's account. Idempotent
    /// per `refund_id`: the same refund again refunds nothing more and returns the charge.
    pub async fn refund(
        &self,
        cx: &CommandContext,
        order_id: &str,
        refund_id: &str,
        amount: Money,
        reason: &str,
    ) -> Result<pb::Charge, AppError> {
        cx.require_admin()?;
        let order_id = order_id.trim().to_owned();
        if order_id.is_empty() {
            return Err(DomainError::Invalid("order id is missing".into()).into());
        }
        let (refund_id, reason) = (refund_id.to_owned(), reason.to_owned());
        retrying(|| {
            let (cx, order_id, refund_id, amount, reason) =
                (cx.clone(), order_id.clone(), refund_id.clone(), amount.clone(), reason.clone());
            self.db.transaction(move |conn| {
                let now = now();
                let charge = ledger::load_charge(conn, &order_id)?;
                if !charge.is_decided() {
                    return Err(DomainError::NotFound(format!("no charge for order {order_id}")).into());
                }
                let account = ledger::load_account(conn, &charge.customer_id)?;
                let decision = domain::refund(&charge, &account, &refund_id, &amount, &reason, now)?;
                let effects = Effects { charge: &decision.charge_events, account: &decision.account_events };
                let (charge, _) =
                    ledger::record(conn, &order_id, (charge, account), effects, &cx.metadata(), now, None)?;
                Ok(views::charge_to_pb(&charge))
            })
        })
        .await
    }

    async fn account_command(
        &self,
        cx: &CommandContext,
        customer_id: &str,
        command: AccountCommand,
        opening: bool,
    ) -> Result<pb::Account, AppError> {
        let customer_id = customer_id.trim().to_owned();
        if customer_id.is_empty() {
            return Err(DomainError::Invalid("customer id is missing".into()).into());
        }
        retrying(|| {
            let (cx, customer_id, command) = (cx.clone(), customer_id.clone(), command.clone());
            self.db.transaction(move |conn| {
                let now = now();
                let account = ledger::load_account(conn, &customer_id)?;
                if !opening && !account.is_open() {
                    return Err(DomainError::NotFound(format!("no account for customer {customer_id}")).into());
                }
                let events = account.handle(command, now)?;
                let account = ledger::record_account(conn, &customer_id, account, &events, &cx.metadata(), now, None)?;
                Ok(views::account_to_pb(&account))
            })
        })
        .await
    }
}

/// Runs `attempt` again while it loses races, at most [`CONFLICT_RETRIES`] more times.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(error) if error.is_conflict() && retries < CONFLICT_RETRIES => {
                retries += 1;
                tracing::debug!(retries, %error, "concurrent change, deciding again");
            }
            other => return other,
        }
    }
}
