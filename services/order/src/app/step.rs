//! One saga step inside the caller's transaction: load, decide, append, queue, reschedule,
//! rewrite the read model.

use chrono::{DateTime, Utc};
use fleuve_proto::order::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, OutgoingMessage, StreamRef};
use prost::Message;

use super::{AppError, deadlines, views};
use crate::domain::{Deadline, ORDER_AGGREGATE, Orchestrator, Order, Outgoing, SagaInput};

/// The order after one input, and the events the input appended (often none).
#[derive(Debug, Clone)]
pub struct Advanced {
    pub order: Order,
    pub events: Vec<pb::OrderEvent>,
}

impl Advanced {
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
    }
}

/// The order folded from its stream (an empty order when the stream does not exist).
pub fn load(conn: &mut DbConnection, order_id: &str) -> Result<Order, AppError> {
    let stream = StreamRef::new(ORDER_AGGREGATE, order_id);
    let recorded = event_store::read_stream(conn, &stream, 1)?;
    let mut order = Order::default();
    for event in &recorded {
        order.apply(&pb::OrderEvent::decode(event.payload.as_slice())?);
    }
    Ok(order)
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
    let events = orchestrator.decide(&order, input, now)?;
    if events.is_empty() {
        if from_deadline && order.exists() {
            deadlines::write(conn, order_id, order.deadline().as_ref())?;
        }
        return Ok(Advanced { order, events });
    }
    let order = commit(conn, order, &events, meta, None, None)?;
    Ok(Advanced { order, events })
}

/// Appends `events` to the order's stream at its current version, queues every saga message
/// they send (keyed by the order id, on the message's topic) and rewrites its read-model row
/// with its deadline: the step it waits on, else `idle_deadline` (PlaceOrder: the saga's
/// start). `correlation_id` is recorded for a new order.
pub fn commit(
    conn: &mut DbConnection,
    order: Order,
    events: &[pb::OrderEvent],
    meta: &EventMetadata,
    correlation_id: Option<&str>,
    idle_deadline: Option<Deadline>,
) -> Result<Order, AppError> {
    let mut next = order.clone();
    for event in events {
        next.apply(event);
    }
    let stream = StreamRef::new(ORDER_AGGREGATE, &next.id);
    let expected = if order.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(order.version) };
    let new_events: Vec<NewEvent> = events.iter().map(|e| NewEvent::new(event_type(e), e.encode_to_vec())).collect();
    let outgoing = Outgoing::all(events);
    let payloads: Vec<Vec<u8>> = outgoing.iter().map(Outgoing::encode).collect();
    let messages: Vec<OutgoingMessage> = outgoing
        .iter()
        .zip(&payloads)
        .map(|(message, payload)| OutgoingMessage {
            topic: message.topic(),
            key: &next.id,
            message_type: message.event_type(),
            payload,
        })
        .collect();
    event_store::append_with_messages(conn, &stream, expected, &new_events, meta, None, &messages)?;
    let deadline = next.deadline().or(idle_deadline);
    views::write(conn, &next, deadline.as_ref(), order.version == 0, correlation_id)?;
    Ok(next)
}

/// The event type recorded in the store: the case of the order event.
pub fn event_type(event: &pb::OrderEvent) -> &'static str {
    use pb::order_event::Event;
    match &event.event {
        Some(Event::Placed(_)) => "OrderPlaced",
        Some(Event::StockCheckRequested(_)) => "StockCheckRequested",
        Some(Event::StockChecked(_)) => "StockChecked",
        Some(Event::PaymentRequested(_)) => "PaymentRequested",
        Some(Event::PaymentResult(_)) => "PaymentResultReceived",
        Some(Event::StockReleaseRequested(_)) => "StockReleaseRequested",
        Some(Event::PaymentRefundRequested(_)) => "PaymentRefundRequested",
        Some(Event::DeadlineMissed(_)) => "DeadlineMissed",
        Some(Event::CompensationStarted(_)) => "CompensationStarted",
        Some(Event::Confirmed(_)) => "OrderConfirmed",
        Some(Event::Failed(_)) => "OrderFailed",
        None => "OrderEvent",
    }
}
