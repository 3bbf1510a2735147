//! The saga deadlines: the step an order waits on and until when, kept in the order's
//! `order_view` row (`due_*` columns) and replaced in the transaction of each change, and the
//! ticker that feeds the due ones back to the orchestrator. They live in the database, so a
//! deadline set before a crash or a restart still fires after it.

use std::future::Future;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_store::event_store::EventMetadata;
use fleuve_store::{DbConnection, execute_prepared};

use super::{AppError, Orders, views};
use crate::domain::{Deadline, SagaInput};
use crate::schema::order_view;

/// Most deadlines handled per tick.
const BATCH: i64 = 200;

/// Replaces the order's deadline by `deadline` (none: the saga waits on nothing), when nothing
/// else of its row changes. The order's stream row is locked by the caller's read or append.
pub(super) fn write(conn: &mut DbConnection, order_id: &str, deadline: Option<&Deadline>) -> Result<(), AppError> {
    execute_prepared(
        conn,
        diesel::update(order_view::table.find(order_id)).set(views::DueColumns::of(deadline).columns()),
    )?;
    Ok(())
}

/// A due deadline: the order, the step it waits on (kind, attempt) and the correlation id of
/// the request that placed it.
type Due = (String, i32, i32, String);

/// The deadlines due at `now`, earliest first.
fn due(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<Vec<Due>, AppError> {
    let rows: Vec<(String, Option<i32>, Option<i32>, String)> = order_view::table
        .filter(order_view::due_at.le(now.naive_utc()))
        .order(order_view::due_at.asc())
        .limit(BATCH)
        .select((order_view::order_id, order_view::due_step_kind, order_view::due_attempt, order_view::correlation_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, attempt, correlation)| (id, kind.unwrap_or(0), attempt.unwrap_or(0), correlation))
        .collect())
}

impl Orders {
    /// Fires every deadline due now: each missed step goes through the orchestrator in its
    /// own transaction (a step answered meanwhile decides nothing). Returns how many orders
    /// changed.
    pub async fn fire_due_deadlines(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let rows = self.db.run(move |conn| due(conn, now)).await?;
        let mut changed = 0;
        for (order_id, kind, attempt, correlation) in rows {
            let step = SagaStep {
                saga_id: order_id.clone(),
                kind: SagaStepKind::try_from(kind).unwrap_or(SagaStepKind::Unspecified).into(),
                attempt: u32::try_from(attempt).unwrap_or(0),
            };
            let correlation = if correlation.is_empty() { order_id.clone() } else { correlation };
            let meta = EventMetadata::new(correlation, crate::NAME);
            let input = if step.kind() == SagaStepKind::Unspecified {
                SagaInput::Start
            } else {
                SagaInput::DeadlineExpired { step }
            };
            match self.advance(order_id.clone(), input, meta, now).await {
                Ok(advanced) if advanced.changed() => {
                    fleuve_metrics::metrics().saga_deadline_fired();
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
