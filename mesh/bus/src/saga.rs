//! Saga participants on the bus: a handler consumes a request and, in the consumer runtime's
//! ONE transaction (inbox row included), changes its state and queues its reply through the
//! outbox, in the statement of the state's append
//! (`fleuve_store::event_store::append_with_messages`). A crash anywhere before the commit
//! redelivers the request; after it, the relay publishes the reply. Either way the request has exactly one effect.

use fleuve_store::event_store::EventMetadata;

use crate::projection::ConsumedEvent;
use crate::schema::TopicSchema;

/// Sagas applied at once by a participant's consumer ([`crate::Projection::concurrency`];
/// `bus.consumer_concurrency` may lower it).
/// Each saga is keyed by its order, and what two sagas may share (a product, an account) is
/// an event stream appended at its expected version, so a clash is a conflict that is
/// retried, never a lost update.
pub const PARTICIPANT_CONCURRENCY: usize = 8;

/// Metadata of a message sent because of `cause`: same correlation id and trace, caused by it.
pub fn caused_by(cause: &ConsumedEvent, actor: &str) -> EventMetadata {
    let meta = EventMetadata::new(cause.correlation_id.clone(), actor).with_causation_id(cause.event_id.clone());
    match &cause.traceparent {
        Some(traceparent) => meta.with_trace_context(traceparent.clone()),
        None => meta,
    }
}

/// Topic schemas from a crate's `(topic, message, file)` table (e.g. `fleuve_order::topics::PRODUCED`).
pub fn topic_schemas(table: &[(&str, &str, &str)]) -> Vec<TopicSchema> {
    table.iter().map(|(topic, message, file)| TopicSchema::new(*topic, *message, *file)).collect()
}
