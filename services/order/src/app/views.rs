//! The `order_view` read model: one row per order with the columns queries filter on and the
//! order as the API shows it, rewritten in the transaction of each change.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::order::v1 as pb;
use fleuve_store::{DbConnection, execute_prepared};
use prost::Message;

use super::AppError;
use crate::domain::{Deadline, Order, instant, timestamp};
use crate::schema::order_view;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_view)]
pub(super) struct OrderRow {
    pub order_id: String,
    pub customer_id: String,
    pub placed_at: NaiveDateTime,
    pub view: Vec<u8>,
}

impl OrderRow {
    pub fn order(&self) -> Result<pb::Order, AppError> {
        Ok(pb::Order::decode(self.view.as_slice())?)
    }
}

/// The order as the API shows it (the payment token stays inside).
pub fn order_to_pb(order: &Order) -> pb::Order {
    pb::Order {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        lines: order.lines.clone(),
        total: order.total.clone(),
        status: order.status.into(),
        failure: order.failure.clone(),
        charge_id: order.charge_id.clone(),
        idempotency_key: order.idempotency_key.clone(),
        placed_at: order.placed_at,
        updated_at: order.updated_at,
        step_deadline: order.awaiting.as_ref().map(|a| timestamp(a.deadline)),
        version: order.version,
    }
}

fn naive(at: Option<&prost_types::Timestamp>) -> NaiveDateTime {
    at.and_then(instant).unwrap_or(DateTime::<Utc>::UNIX_EPOCH).naive_utc()
}

/// Rewrites the order's row, with `deadline` as the step its saga waits on (none: nothing).
/// `created`: the order is new (its first events), so the row is inserted; `correlation_id`
/// is recorded then.
pub(super) fn write(
    conn: &mut DbConnection,
    order: &Order,
    deadline: Option<&Deadline>,
    created: bool,
    correlation_id: Option<&str>,
) -> Result<(), AppError> {
    let view = order_to_pb(order).encode_to_vec();
    let status = order.status as i32;
    let updated_at = naive(order.updated_at.as_ref());
    let due = DueColumns::of(deadline);
    if !created {
        // The order's stream row is locked by the append, so this cannot race.
        let updated = execute_prepared(
            conn,
            diesel::update(order_view::table.find(&order.id)).set((
                order_view::status.eq(status),
                order_view::updated_at.eq(updated_at),
                order_view::version.eq(order.version),
                order_view::view.eq(&view),
                due.columns(),
            )),
        )?;
        if updated == 1 {
            return Ok(());
        }
    }
    diesel::insert_into(order_view::table)
        .values((
            order_view::order_id.eq(&order.id),
            order_view::customer_id.eq(&order.customer_id),
            order_view::status.eq(status),
            order_view::correlation_id.eq(correlation_id.unwrap_or_default()),
            order_view::placed_at.eq(naive(order.placed_at.as_ref())),
            order_view::updated_at.eq(updated_at),
            order_view::version.eq(order.version),
            order_view::view.eq(&view),
            due.columns(),
        ))
        .execute(conn)?;
    Ok(())
}

/// The deadline columns of an order's row.
#[derive(Debug, Clone, Copy)]
pub(super) struct DueColumns {
    kind: Option<i32>,
    attempt: Option<i32>,
    at: Option<NaiveDateTime>,
}

impl DueColumns {
    pub(super) fn of(deadline: Option<&Deadline>) -> DueColumns {
        DueColumns {
            kind: deadline.map(|d| d.step.kind),
            attempt: deadline.map(|d| i32::try_from(d.step.attempt).unwrap_or(i32::MAX)),
            at: deadline.map(|d| d.at.naive_utc()),
        }
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn columns(
        self,
    ) -> (
        diesel::dsl::Eq<order_view::due_step_kind, Option<i32>>,
        diesel::dsl::Eq<order_view::due_attempt, Option<i32>>,
        diesel::dsl::Eq<order_view::due_at, Option<NaiveDateTime>>,
    ) {
        (
            order_view::due_step_kind.eq(self.kind),
            order_view::due_attempt.eq(self.attempt),
            order_view::due_at.eq(self.at),
        )
    }
}

/// The order's row, if any.
pub(super) fn find(conn: &mut DbConnection, order_id: &str) -> Result<Option<OrderRow>, AppError> {
    Ok(order_view::table.find(order_id).select(OrderRow::as_select()).first(conn).optional()?)
}
