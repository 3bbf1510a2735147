//! The account and charge streams: loading them, and recording a decision in the caller's
//! transaction — appends with expected versions, then the read-model rows.
//!
//! Every transaction that writes both streams appends the charge first, then the account, so
//! two transactions never wait for each other's stream rows in opposite orders (PostgreSQL
//! would have to abort one of them as a deadlock).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_aggregate::{Aggregate as _, Loaded, repository};
use fleuve_proto::billing::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{self, EventMetadata, OutgoingMessage};

use super::{AppError, views};
use crate::domain::{Account, Charge, DomainError};
use crate::schema::billing_refunds;

/// The charge id of an order. Derived from the order id rather than drawn at random, so that
/// a decision retried after a rollback hands the provider the same idempotency key.
pub fn charge_id(order_id: &str) -> String {
    format!("ch-{order_id}")
}

/// The customer's account (a snapshot and the events after it); not open when there is none.
pub(crate) fn load_account(conn: &mut DbConnection, customer_id: &str) -> Result<Loaded<Account>, AppError> {
    repository::load(conn, customer_id)
}

/// The order's charge; undecided when there is none.
pub(crate) fn load_charge(conn: &mut DbConnection, order_id: &str) -> Result<Loaded<Charge>, AppError> {
    repository::load(conn, order_id)
}

/// What a payment or a refund decided for the two streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Effects<'a> {
    pub charge: &'a [pb::ChargeEvent],
    pub account: &'a [pb::AccountEvent],
}

/// Records a payment or refund decision: the charge events on the order's stream, the account
/// events on the customer's, each at the version it was decided on, and the read models, with
/// `reply` queued in the last append (one statement on PostgreSQL), or on its own when neither
/// stream changes (a replayed request). Returns the states after the decision.
pub(crate) fn record(
    conn: &mut DbConnection,
    (charge, account): (Loaded<Charge>, Loaded<Account>),
    effects: Effects<'_>,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    reply: Option<OutgoingMessage<'_>>,
) -> Result<(Charge, Account), AppError> {
    let with_charge = reply.filter(|_| effects.account.is_empty() && !effects.charge.is_empty());
    let with_account = reply.filter(|_| !effects.account.is_empty());
    let charge = record_charge(conn, charge, effects.charge, meta, now, with_charge)?;
    if !effects.account.is_empty() && !account.state.is_open() {
        return Err(DomainError::Precondition("account events for an account that is not open".into()).into());
    }
    let account = record_account(conn, account, effects.account, meta, now, with_account)?;
    if let Some(reply) = reply.filter(|_| with_charge.is_none() && with_account.is_none()) {
        event_store::enqueue_message(conn, reply.topic, reply.key, reply.message_type, reply.payload.to_vec(), meta)?;
    }
    Ok((charge, account))
}

/// Saves `events` of the account at the version it was loaded at, with `message` queued in
/// the append when given (and events exist), and rewrites its row.
pub(crate) fn record_account(
    conn: &mut DbConnection,
    account: Loaded<Account>,
    events: &[pb::AccountEvent],
    meta: &EventMetadata,
    now: DateTime<Utc>,
    message: Option<OutgoingMessage<'_>>,
) -> Result<Account, AppError> {
    if events.is_empty() {
        return Ok(account.state);
    }
    let saved = repository::save::<_, AppError>(conn, account, events, meta, message.as_slice())?.loaded.state;
    views::write_account(conn, &saved, now)?;
    Ok(saved)
}

fn record_charge(
    conn: &mut DbConnection,
    charge: Loaded<Charge>,
    events: &[pb::ChargeEvent],
    meta: &EventMetadata,
    now: DateTime<Utc>,
    message: Option<OutgoingMessage<'_>>,
) -> Result<Charge, AppError> {
    if events.is_empty() {
        return Ok(charge.state);
    }
    let (before, stream) = (charge.version, charge.stream());
    let mut next = charge.state.clone();
    let saved = repository::save::<_, AppError>(conn, charge, events, meta, message.as_slice())?;
    // Positions order the listings. One event's is the append's; several may not be
    // contiguous (concurrent appends draw from the same sequence), so they are read back.
    let positions: Vec<i64> = match (events.len(), saved.outcome.and_then(|o| o.first_position)) {
        (1, Some(position)) => vec![position],
        _ => event_store::read_stream(conn, &stream, before + 1)?.iter().map(|r| r.position).collect(),
    };

    let mut decided_at = None;
    for (event, position) in events.iter().zip(positions) {
        let was_decided = next.is_decided();
        next.apply(event);
        if !was_decided && next.is_decided() {
            decided_at = Some(position);
        }
        if let Some(pb::charge_event::Event::Refunded(refunded)) = &event.event {
            insert_refund(conn, &next, refunded, position, event.occurred_at.as_ref(), now)?;
        }
    }
    views::write_charge(conn, &next, decided_at, now)?;
    Ok(next)
}

/// Refund ids are unique across charges (the table's key): an id already used for another
/// order is refused rather than silently shadowed.
fn insert_refund(
    conn: &mut DbConnection,
    charge: &Charge,
    refunded: &pb::ChargeRefunded,
    position: i64,
    at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let used_by: Option<String> =
        billing_refunds::table.find(&refunded.refund_id).select(billing_refunds::order_id).first(conn).optional()?;
    if let Some(order_id) = used_by {
        return Err(DomainError::Precondition(format!(
            "refund id {} is already used for order {order_id}",
            refunded.refund_id
        ))
        .into());
    }
    views::insert_refund(conn, charge, refunded, position, at, now)?;
    Ok(())
}
