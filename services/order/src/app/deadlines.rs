//! The saga deadlines: one row per order that waits on a step, replaced in the transaction of
//! each change, and the ticker that feeds the due ones back to the orchestrator. The rows live
//! in the database, so a deadline set before a crash or a restart still fires after it.

use std::future::Future;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_store::DbConnection;
use fleuve_store::event_store::EventMetadata;

use super::{AppError, Orders, views};
use crate::domain::{Deadline, SagaInput};
use crate::schema::order_deadlines;

/// The deadline of a placed order whose saga has not started: when it passes, the ticker
/// starts the saga (step kind `UNSPECIFIED`, attempt 0), as `order.placed` would have.
pub(super) fn start(order_id: &str, at: DateTime<Utc>) -> Deadline {
    Deadline {
        order_id: order_id.to_owned(),
        step: SagaStep { saga_id: order_id.to_owned(), kind: SagaStepKind::Unspecified.into(), attempt: 0 },
        at,
    }
}

/// Most deadlines handled per tick.
const BATCH: i64 = 200;

/// Replaces the order's deadline by `deadline` (none: the saga waits on nothing).
pub(super) fn write(conn: &mut DbConnection, order_id: &str, deadline: Option<&Deadline>) -> Result<(), AppError> {
    let Some(deadline) = deadline else {
        diesel::delete(order_deadlines::table.find(order_id)).execute(conn)?;
        return Ok(());
    };
    let kind = deadline.step.kind;
    let attempt = i32::try_from(deadline.step.attempt).unwrap_or(i32::MAX);
    let due_at = deadline.at.naive_utc();
    // The order's stream row is locked by the caller's append or read, so this cannot race.
    let updated = diesel::update(order_deadlines::table.find(order_id))
        .set((
            order_deadlines::step_kind.eq(kind),
            order_deadlines::attempt.eq(attempt),
            order_deadlines::due_at.eq(due_at),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(order_deadlines::table)
            .values((
                order_deadlines::order_id.eq(order_id),
                order_deadlines::step_kind.eq(kind),
                order_deadlines::attempt.eq(attempt),
                order_deadlines::due_at.eq(due_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The deadlines due at `now`, earliest first.
fn due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<Vec<(String, i32, i32)>, AppError> {
    Ok(order_deadlines::table
        .filter(order_deadlines::due_at.le(now.naive_utc()))
        .order(order_deadlines::due_at.asc())
        .limit(BATCH)
        .select((order_deadlines::order_id, order_deadlines::step_kind, order_deadlines::attempt))
        .load(conn)?)
}

impl Orders {
    /// Fires every deadline due now: each missed step goes through the orchestrator in its
    /// own transaction (a step answered meanwhile decides nothing). Returns how many orders
    /// changed.
    pub async fn fire_due_deadlines(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let rows = self.db.run(move |conn| due(conn, now)).await?;
        let mut changed = 0;
        for (order_id, kind, attempt) in rows {
            let step = SagaStep {
                saga_id: order_id.clone(),
                kind: SagaStepKind::try_from(kind).unwrap_or(SagaStepKind::Unspecified).into(),
                attempt: u32::try_from(attempt).unwrap_or(0),
            };
            let id = order_id.clone();
            let correlation = self.db.run(move |conn| views::correlation_id(conn, &id)).await?;
            let meta = EventMetadata::new(correlation.unwrap_or_else(|| order_id.clone()), crate::NAME);
            let input = if step.kind() == SagaStepKind::Unspecified {
                SagaInput::Start
            } else {
                SagaInput::DeadlineExpired { step }
            };
            match self.advance(order_id.clone(), input, meta, now).await {
                Ok(advanced) if advanced.changed() => {
                    tracing::info!(order_id, step_kind = kind, attempt, "saga step missed its deadline");
                    changed += 1;
                }
                Ok(_) => {}
                // Another replica or a reply got there first; the next tick sees the new state.
                Err(AppError::Store(e)) if e.is_conflict() => {
                    tracing::debug!(order_id, "order changed while its deadline fired");
                }
                Err(error) => tracing::warn!(order_id, %error, "firing a saga deadline failed"),
            }
        }
        Ok(changed)
    }

    /// Fires due deadlines every `settings.deadline_interval` until `stopped` completes.
    pub fn spawn_deadline_ticker(
        &self,
        stopped: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let orders = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(orders.settings.deadline_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    () = &mut stopped => return,
                    _ = tick.tick() => {
                        if let Err(error) = orders.fire_due_deadlines(Utc::now()).await {
                            tracing::warn!(%error, "reading due saga deadlines failed");
                        }
                    }
                }
            }
        })
    }
}
