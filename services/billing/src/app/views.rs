//! The read models: one row per account, per charge and per refund, written from the
//! aggregates' states in the transaction of their appends, and their protobuf views.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::Money;
use fleuve_store::{DbConnection, execute_prepared};

use crate::domain::{Account, Charge, instant, timestamp};
use crate::schema::{billing_accounts, billing_charges, billing_refunds};

#[derive(Debug, Clone, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = billing_accounts)]
pub(super) struct AccountRow {
    pub customer_id: String,
    pub currency: String,
    pub balance: i64,
    pub credit_limit: i64,
    pub version: i64,
    pub opened_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = billing_charges)]
pub(super) struct ChargeRow {
    pub charge_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: i32,
    pub decline_reason: i32,
    pub decline_detail: String,
    pub provider_reference: String,
    pub refunded: i64,
    pub version: i64,
    pub position: i64,
    pub charged_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = billing_refunds)]
pub(super) struct RefundRow {
    pub refund_id: String,
    pub charge_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub position: i64,
    pub refunded_at: NaiveDateTime,
}

fn naive(at: Option<&prost_types::Timestamp>, default: DateTime<Utc>) -> NaiveDateTime {
    at.and_then(instant).unwrap_or(default).naive_utc()
}

fn proto_time(at: NaiveDateTime) -> prost_types::Timestamp {
    timestamp(at.and_utc())
}

/// Rewrites the account's row (the stream row is locked by the append, so update-then-insert
/// cannot race another writer of the same account).
pub(super) fn write_account(conn: &mut DbConnection, account: &Account, now: DateTime<Utc>) -> QueryResult<()> {
    let row = AccountRow {
        customer_id: account.customer_id.clone(),
        currency: account.currency.clone(),
        balance: account.balance,
        credit_limit: account.credit_limit,
        version: account.version,
        opened_at: naive(account.opened_at.as_ref(), now),
        updated_at: now.naive_utc(),
    };
    let updated = execute_prepared(conn, diesel::update(billing_accounts::table.find(&row.customer_id)).set(&row))?;
    if updated == 0 {
        diesel::insert_into(billing_accounts::table).values(&row).execute(conn)?;
    }
    Ok(())
}

/// Rewrites the charge's row; `decided_at` is the event-store position of the decision when
/// this transaction decided it (the row is inserted then), `None` for later changes.
pub(super) fn write_charge(
    conn: &mut DbConnection,
    charge: &Charge,
    decided_at: Option<i64>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    use billing_charges as c;
    let Some(position) = decided_at else {
        execute_prepared(
            conn,
            diesel::update(c::table.find(&charge.charge_id)).set((
                c::status.eq(charge.status as i32),
                c::decline_reason.eq(charge.decline_reason as i32),
                c::decline_detail.eq(&charge.decline_detail),
                c::provider_reference.eq(&charge.provider_reference),
                c::refunded.eq(charge.refunded),
                c::version.eq(charge.version),
                c::updated_at.eq(now.naive_utc()),
            )),
        )?;
        return Ok(());
    };
    let amount = charge.amount.clone().unwrap_or_default();
    let row = ChargeRow {
        charge_id: charge.charge_id.clone(),
        order_id: charge.order_id.clone(),
        customer_id: charge.customer_id.clone(),
        amount: amount.amount,
        currency: amount.currency,
        status: charge.status as i32,
        decline_reason: charge.decline_reason as i32,
        decline_detail: charge.decline_detail.clone(),
        provider_reference: charge.provider_reference.clone(),
        refunded: charge.refunded,
        version: charge.version,
        position,
        charged_at: naive(charge.charged_at.as_ref(), now),
        updated_at: now.naive_utc(),
    };
    execute_prepared(conn, diesel::insert_into(c::table).values(&row))?;
    Ok(())
}

pub(super) fn insert_refund(
    conn: &mut DbConnection,
    charge: &Charge,
    refunded: &pb::ChargeRefunded,
    position: i64,
    at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let amount = refunded.amount.clone().unwrap_or_default();
    let row = RefundRow {
        refund_id: refunded.refund_id.clone(),
        charge_id: charge.charge_id.clone(),
        order_id: charge.order_id.clone(),
        customer_id: charge.customer_id.clone(),
        amount: amount.amount,
        currency: amount.currency,
        reason: refunded.reason.clone(),
        position,
        refunded_at: naive(at, now),
    };
    diesel::insert_into(billing_refunds::table).values(&row).execute(conn)?;
    Ok(())
}

/// The API view of an account state.
pub fn account_to_pb(account: &Account) -> pb::Account {
    account.to_pb()
}

/// The API view of a charge state, refunds in the order they were given.
pub fn charge_to_pb(charge: &Charge) -> pb::Charge {
    let currency = charge.amount.as_ref().map_or_else(String::new, |m| m.currency.clone());
    pb::Charge {
        charge_id: charge.charge_id.clone(),
        order_id: charge.order_id.clone(),
        customer_id: charge.customer_id.clone(),
        amount: charge.amount.clone(),
        status: charge.status as i32,
        decline_reason: charge.decline_reason as i32,
        decline_detail: charge.decline_detail.clone(),
        provider_reference: charge.provider_reference.clone(),
        refunded: charge.refunded,
        refunds: charge
            .refunds
            .iter()
            .map(|r| pb::Refund {
                refund_id: r.refund_id.clone(),
                order_id: charge.order_id.clone(),
                charge_id: charge.charge_id.clone(),
                amount: Some(Money { currency: currency.clone(), amount: r.amount }),
                reason: r.reason.clone(),
                refunded_at: r.refunded_at,
            })
            .collect(),
        charged_at: charge.charged_at,
    }
}

pub(super) fn account_row_to_pb(row: AccountRow) -> pb::Account {
    account_to_pb(&account_of_row(row))
}

fn account_of_row(row: AccountRow) -> Account {
    Account {
        customer_id: row.customer_id,
        currency: row.currency,
        balance: row.balance,
        credit_limit: row.credit_limit,
        opened_at: Some(proto_time(row.opened_at)),
        version: row.version,
    }
}

/// `refunds` are the charge's, oldest first.
pub(super) fn charge_row_to_pb(row: ChargeRow, refunds: Vec<RefundRow>) -> pb::Charge {
    pb::Charge {
        charge_id: row.charge_id,
        order_id: row.order_id,
        customer_id: row.customer_id,
        amount: Some(Money { currency: row.currency, amount: row.amount }),
        status: row.status,
        decline_reason: row.decline_reason,
        decline_detail: row.decline_detail,
        provider_reference: row.provider_reference,
        refunded: row.refunded,
        refunds: refunds.into_iter().map(refund_row_to_pb).collect(),
        charged_at: Some(proto_time(row.charged_at)),
    }
}

pub(super) fn refund_row_to_pb(row: RefundRow) -> pb::Refund {
    pb::Refund {
        refund_id: row.refund_id,
        order_id: row.order_id,
        charge_id: row.charge_id,
        amount: Some(Money { currency: row.currency, amount: row.amount }),
        reason: row.reason,
        refunded_at: Some(proto_time(row.refunded_at)),
    }
}
