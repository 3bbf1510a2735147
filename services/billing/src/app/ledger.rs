//! The account and charge streams: loading them, and recording a decision in the caller's
//! transaction — appends with expected versions, then the read-model rows.
//!
//! Every transaction that writes both streams appends the charge first, then the account, so
//! two transactions never wait for each other's stream rows in opposite orders (PostgreSQL
//! would have to abort one of them as a deadlock).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::billing::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{
    self, EventMetadata, ExpectedVersion, NewEvent, OutgoingMessage, RecordedEvent, StreamRef,
};
use prost::Message;

use super::{AppError, views};
use crate::domain::{ACCOUNT_AGGREGATE, Account, CHARGE_AGGREGATE, Charge, DomainError};
use crate::schema::billing_refunds;

/// The charge id of an order. Derived from the order id rather than drawn at random, so that
/// a decision retried after a rollback hands the provider the same idempotency key.
pub fn charge_id(order_id: &str) -> String {
    format!("ch-{order_id}")
}

pub(crate) fn account_stream(customer_id: &str) -> StreamRef {
    StreamRef::new(ACCOUNT_AGGREGATE, customer_id)
}

pub(crate) fn charge_stream(order_id: &str) -> StreamRef {
    StreamRef::new(CHARGE_AGGREGATE, order_id)
}

/// The customer's account; the default (not open, version 0) when there is none.
///
/// An account's stream grows with every payment, so it is not replayed on each decision: its
/// read-model row is rewritten in the transaction of every append, and when the row is at the
/// stream's version it is the state. A row that does not match its stream (never expected)
/// falls back to the replay; the append that follows checks the version either way.
pub(crate) fn load_account(conn: &mut DbConnection, customer_id: &str) -> Result<Account, AppError> {
    if let Some((account, stream_version)) =
        views::account_state(conn, customer_id, &account_stream(customer_id).stream_id())?
    {
        if stream_version == account.version {
            return Ok(account);
        }
        tracing::warn!(customer_id, version = account.version, "account row behind its stream, replaying");
    }
    replay_account(conn, customer_id)
}

/// The account folded from every event of its stream.
pub(crate) fn replay_account(conn: &mut DbConnection, customer_id: &str) -> Result<Account, AppError> {
    let recorded = event_store::read_stream(conn, &account_stream(customer_id), 0)?;
    Ok(Account::replay(&decode_all::<pb::AccountEvent>(&recorded)?))
}

/// The order's charge; the default (undecided, version 0) when there is none.
pub(crate) fn load_charge(conn: &mut DbConnection, order_id: &str) -> Result<Charge, AppError> {
    let recorded = event_store::read_stream(conn, &charge_stream(order_id), 0)?;
    Ok(Charge::replay(&decode_all::<pb::ChargeEvent>(&recorded)?))
}

fn decode_all<M: Message + Default>(recorded: &[RecordedEvent]) -> Result<Vec<M>, AppError> {
    Ok(recorded.iter().map(|r| M::decode(r.payload.as_slice())).collect::<Result<Vec<_>, _>>()?)
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
    order_id: &str,
    (charge, account): (Charge, Account),
    effects: Effects<'_>,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    reply: Option<OutgoingMessage<'_>>,
) -> Result<(Charge, Account), AppError> {
    let with_charge = reply.filter(|_| effects.account.is_empty() && !effects.charge.is_empty());
    let with_account = reply.filter(|_| !effects.account.is_empty());
    let charge = record_charge(conn, order_id, charge, effects.charge, meta, now, with_charge)?;
    let customer_id = account.customer_id.clone();
    if !effects.account.is_empty() && customer_id.is_empty() {
        return Err(DomainError::Precondition("account events for an account that is not open".into()).into());
    }
    let account = record_account(conn, &customer_id, account, effects.account, meta, now, with_account)?;
    if let Some(reply) = reply.filter(|_| with_charge.is_none() && with_account.is_none()) {
        event_store::enqueue_message(conn, reply.topic, reply.key, reply.message_type, reply.payload.to_vec(), meta)?;
    }
    Ok((charge, account))
}

/// Appends `events` to the account stream of `customer_id` at `account.version`, with
/// `message` queued in the append when given (and events exist), and rewrites its row.
pub(crate) fn record_account(
    conn: &mut DbConnection,
    customer_id: &str,
    account: Account,
    events: &[pb::AccountEvent],
    meta: &EventMetadata,
    now: DateTime<Utc>,
    message: Option<OutgoingMessage<'_>>,
) -> Result<Account, AppError> {
    if events.is_empty() {
        return Ok(account);
    }
    let stream = account_stream(customer_id);
    let new_events: Vec<NewEvent> =
        events.iter().map(|e| NewEvent::new(account_event_type(e), e.encode_to_vec())).collect();
    append(conn, &stream, ExpectedVersion::Exact(account.version), &new_events, meta, message)?;
    let mut next = account;
    for event in events {
        next.apply(event);
    }
    views::write_account(conn, &next, now)?;
    Ok(next)
}

/// An append without outbox topic, with `message` queued in it when given.
fn append(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    message: Option<OutgoingMessage<'_>>,
) -> Result<event_store::AppendOutcome, AppError> {
    Ok(event_store::append_with_messages(conn, stream, expected, events, meta, None, message.as_slice())?.0)
}

fn record_charge(
    conn: &mut DbConnection,
    order_id: &str,
    charge: Charge,
    events: &[pb::ChargeEvent],
    meta: &EventMetadata,
    now: DateTime<Utc>,
    message: Option<OutgoingMessage<'_>>,
) -> Result<Charge, AppError> {
    if events.is_empty() {
        return Ok(charge);
    }
    let stream = charge_stream(order_id);
    let new_events: Vec<NewEvent> =
        events.iter().map(|e| NewEvent::new(charge_event_type(e), e.encode_to_vec())).collect();
    let before = charge.version;
    let outcome = append(conn, &stream, ExpectedVersion::Exact(before), &new_events, meta, message)?;
    // Positions order the listings. One event's is the append's; several may not be
    // contiguous (concurrent appends draw from the same sequence), so they are read back.
    let positions: Vec<i64> = match (events.len(), outcome.first_position) {
        (1, Some(position)) => vec![position],
        _ => event_store::read_stream(conn, &stream, before + 1)?.iter().map(|r| r.position).collect(),
    };

    let mut next = charge;
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

/// The event's case name, as recorded in the event metadata.
pub fn account_event_type(event: &pb::AccountEvent) -> &'static str {
    use pb::account_event::Event;
    match &event.event {
        Some(Event::Opened(_)) => "AccountOpened",
        Some(Event::Credited(_)) => "AccountCredited",
        Some(Event::CreditLimitChanged(_)) => "CreditLimitChanged",
        Some(Event::Charged(_)) => "AccountCharged",
        Some(Event::Refunded(_)) => "AccountRefunded",
        None => "Unknown",
    }
}

/// The event's case name, as recorded in the event metadata.
pub fn charge_event_type(event: &pb::ChargeEvent) -> &'static str {
    use pb::charge_event::Event;
    match &event.event {
        Some(Event::Approved(_)) => "ChargeApproved",
        Some(Event::Declined(_)) => "ChargeDeclined",
        Some(Event::TimedOut(_)) => "ChargeTimedOut",
        Some(Event::Refunded(_)) => "ChargeRefunded",
        None => "Unknown",
    }
}
