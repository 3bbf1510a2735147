//! One saga step inside the caller's transaction: load, decide, append, queue, reschedule,
//! rewrite the read model.

use chrono::{DateTime, Utc};
use fleuve_aggregate::{Aggregate as _, Loaded, repository};
use fleuve_proto::order::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{EventMetadata, OutgoingMessage};

use super::{AppError, deadlines, views};
use crate::domain::{Orchestrator, Order, OrderCommand, OrderContext, Outgoing, SagaInput};

/// The order after one input, and the events the input appended (often none).
#[derive(Debug, Clone)]
pub struct Advanced {
    pub order: Order,
    pub events: Vec<pb::OrderEvent>,
    /// Set when this input ended the saga: report it once the transaction commits.
    pub finished: Option<Finished>,
}

/// How and how fast a saga ended, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub outcome: fleuve_metrics::SagaOutcome,
    /// From the order being placed to this step.
    pub seconds: f64,
}

impl Finished {
    /// The saga's end if `after` is final and `before` was not: confirmed; failed straight
    /// away (nothing held); or compensated (its reserved stock given back first).
    pub fn of(before: &Order, after: &Order, now: DateTime<Utc>) -> Option<Finished> {
        use fleuve_metrics::SagaOutcome;
        let closed = |status| {
            matches!(status, pb::OrderStatus::Confirmed | pb::OrderStatus::Failed | pb::OrderStatus::Cancelled)
        };
        if closed(before.status) || !closed(after.status) {
            return None;
        }
        let outcome = match (before.status, after.status) {
            (_, pb::OrderStatus::Confirmed) => SagaOutcome::confirmed,
            (pb::OrderStatus::Compensating, _) => SagaOutcome::compensated,
            _ => SagaOutcome::failed,
        };
        let placed = after.placed_at.as_ref().and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos as u32));
        let seconds = placed.map_or(0.0, |placed| (now - placed).num_microseconds().unwrap_or(0) as f64 / 1e6);
        Some(Finished { outcome, seconds })
    }

    /// Counts the saga's end; `trace_context` is the step's `traceparent` (the exemplar).
    pub fn report(&self, trace_context: Option<&str>) {
        let trace_id = trace_context.and_then(|t| t.split('-').nth(1));
        fleuve_metrics::metrics().saga_finished(self.outcome, self.seconds, trace_id);
    }
}

impl Advanced {
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
    }
}

/// The order folded from its stream (an empty order when the stream does not exist).
pub fn load(conn: &mut DbConnection, order_id: &str) -> Result<Loaded<Order>, AppError> {
    repository::load(conn, order_id)
}

/// Feeds `input` to the order's saga in the caller's transaction. An input that decides
/// nothing writes nothing, except that after a start or a deadline the order's deadline row
/// is put right (so the ticker does not fire a step the order no longer waits on).
pub fn advance(
    conn: &mut DbConnection,
    orchestrator: &Orchestrator,
    order_id: &str,
    input: SagaInput,
    meta: &EventMetadata,
    now: DateTime<Utc>,
) -> Result<Advanced, AppError> {
    let order = load(conn, order_id)?;
    let from_deadline = matches!(input, SagaInput::DeadlineExpired { .. } | SagaInput::Start);
    let cx = OrderContext { orchestrator: orchestrator.clone(), now };
    let events = order.state.handle(OrderCommand::Saga(input), &cx)?;
    if events.is_empty() {
        if from_deadline && order.exists() {
            deadlines::write(conn, order_id, order.state.deadline().as_ref())?;
        }
        return Ok(Advanced { order: order.state, events, finished: None });
    }
    let before = order.state.clone();
    let order = commit(conn, order, &events, meta, None)?;
    let finished = Finished::of(&before, &order, now);
    Ok(Advanced { order, events, finished })
}

/// Appends `events` to the order's stream at its current version, queues every saga message
/// they send (keyed by the order id, on the message's topic) and rewrites its read-model row
/// with its deadline (the step it waits on). `correlation_id` is recorded for a new order.
pub fn commit(
    conn: &mut DbConnection,
    order: Loaded<Order>,
    events: &[pb::OrderEvent],
    meta: &EventMetadata,
    correlation_id: Option<&str>,
) -> Result<Order, AppError> {
    let (created, order_id) = (!order.exists(), order.id.clone());
    let outgoing = Outgoing::all(events);
    let payloads: Vec<Vec<u8>> = outgoing.iter().map(Outgoing::encode).collect();
    let messages: Vec<OutgoingMessage> = outgoing
        .iter()
        .zip(&payloads)
        .map(|(message, payload)| OutgoingMessage {
            topic: message.topic(),
            key: &order_id,
            message_type: message.event_type(),
            payload,
        })
        .collect();
    let next = repository::save::<_, AppError>(conn, order, events, meta, &messages)?.loaded.state;
    let deadline = next.deadline();
    views::write(conn, &next, deadline.as_ref(), created, correlation_id)?;
    Ok(next)
}
