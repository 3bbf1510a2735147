//! Messages (saga commands and replies) queued for a topic through the same outbox as events:
//! the event log.
//!
//! `append` queues every event of one call on one topic. A saga participant publishes
//! messages of different types to different topics from one transaction, so each message is
//! stored as one event of a per-(topic, key) message stream (aggregate type = the topic,
//! aggregate id = the record key, e.g. the order id) with its topic: the relay
//! publishes it keyed by that id, with the usual headers, and a crash before commit loses
//! neither the message nor the state change written beside it. One stream per topic and key
//! means two services sharing a database (as in `fleuve dev`) never queue on one stream lock.

use super::{AppendOutcome, EventMetadata, ExpectedVersion, NewEvent, StreamRef, append};
use crate::connection::DbConnection;
use crate::error::StoreError;

/// Queues `payload` (a protobuf message, event type `message_type`) for `topic`, keyed by
/// `key`, in the caller's transaction. Returns the message's global position.
pub fn enqueue_message(
    conn: &mut DbConnection,
    topic: &str,
    key: &str,
    message_type: &str,
    payload: Vec<u8>,
    meta: &EventMetadata,
) -> Result<i64, StoreError> {
    let stream = StreamRef::new(topic, key);
    let event = NewEvent::new(message_type, payload);
    let AppendOutcome { first_position, .. } =
        append(conn, &stream, ExpectedVersion::Any, &[event], meta, Some(topic))?;
    Ok(first_position.expect("one event appended"))
}

/// A message to queue with an append ([`append_with_messages`]).
#[derive(Debug, Clone, Copy)]
pub struct OutgoingMessage<'a> {
    pub topic: &'a str,
    /// The record key (e.g. the order id).
    pub key: &'a str,
    /// The event type naming the message in the record headers.
    pub message_type: &'a str,
    pub payload: &'a [u8],
}

/// [`append`] to `stream`, then [`enqueue_message`] of each of `messages` if the append
/// succeeded, as one write. On PostgreSQL an append of events with one message (a saga step's
/// usual write) is one statement, one round trip instead of two; otherwise the calls run in
/// one transaction. Returns the append's outcome and the messages' positions.
pub fn append_with_messages(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
    messages: &[OutgoingMessage<'_>],
) -> Result<(AppendOutcome, Vec<i64>), StoreError> {
    if let ([message], false, DbConnection::Pg(_)) = (messages, events.is_empty(), &*conn) {
        crate::database::outbox_written();
        let part = super::append_pg::MessagePart {
            stream_id: StreamRef::new(message.topic, message.key).stream_id(),
            topic: message.topic,
            key: message.key,
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: message.message_type,
            payload: message.payload,
        };
        let (outcome, position) = super::append::observed(stream, events.len(), || {
            super::append_pg::append(conn, stream, expected, events, meta, outbox_topic, Some(&part))
        })?;
        return Ok((outcome, vec![position.expect("the message is written with the append")]));
    }
    crate::database::atomically(conn, |conn| {
        let outcome = append(conn, stream, expected, events, meta, outbox_topic)?;
        let positions = messages
            .iter()
            .map(|m| enqueue_message(conn, m.topic, m.key, m.message_type, m.payload.to_vec(), meta))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((outcome, positions))
    })
}
