//! Saga participants on the bus: a handler consumes a request and, in the consumer runtime's
//! ONE transaction (inbox row included), changes its state and queues its reply through the
//! outbox, in the statement of the state's append
//! (`fleuve_store::event_store::append_with_messages`). A crash anywhere before the commit
//! redelivers the request; after it, the relay publishes the reply. Either way the request has exactly one effect.

use fleuve_store::event_store::EventMetadata;

use fleuve_store::DbConnection;

use crate::{ConsumedEvent, HandlerError, HookFuture, Projection, TopicSchema};

/// Sagas applied at once by a participant's consumer ([`SagaParticipant::concurrency`];
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

/// A service's part in a saga: it consumes the requests (or, for the orchestrator, the
/// replies) on its topics and, in the consumer runtime's transaction, decides, records and
/// queues what it sends back. The runtime runs it as it runs a [`Projection`].
pub trait SagaParticipant: Send + Sync + 'static {
    /// Stable name: the Kafka consumer group, the inbox consumer and the dead-letter owner.
    fn name(&self) -> &str;

    /// The topics consumed and the message expected on each.
    fn topics(&self) -> Vec<TopicSchema>;

    /// Handles one message inside the runtime's transaction (the inbox row is already
    /// written): load, decide, append at the expected version, queue the reply.
    fn handle(&self, conn: &mut DbConnection, message: &ConsumedEvent) -> Result<(), HandlerError>;

    /// Messages of different sagas handled at once: what two sagas share is a stream
    /// appended at its expected version, so a clash is a retried conflict.
    fn concurrency(&self) -> usize {
        PARTICIPANT_CONCURRENCY
    }

    /// Runs after the transaction of `message` committed (waking watchers); best effort.
    fn handled<'a>(&'a self, message: &'a ConsumedEvent) -> HookFuture<'a> {
        let _ = message;
        Box::pin(async {})
    }
}

impl<P: SagaParticipant> Projection for P {
    fn name(&self) -> &str {
        SagaParticipant::name(self)
    }

    fn topics(&self) -> Vec<TopicSchema> {
        SagaParticipant::topics(self)
    }

    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.handle(conn, event)
    }

    fn concurrency(&self) -> usize {
        SagaParticipant::concurrency(self)
    }

    fn applied<'a>(&'a self, event: &'a ConsumedEvent) -> HookFuture<'a> {
        self.handled(event)
    }
}
