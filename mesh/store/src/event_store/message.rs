//! Messages (saga commands and replies) queued for a topic through the same outbox as events.
//!
//! `append` queues every event of one call on one topic. A saga participant publishes
//! messages of different types to different topics from one transaction, so each message is
//! stored as one event of a per-(topic, key) message stream (aggregate type = the topic,
//! aggregate id = the record key, e.g. the order id) with its own outbox row: the relay
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

/// A message to queue with an append ([`append_with_message`]).
#[derive(Debug, Clone, Copy)]
pub struct OutgoingMessage<'a> {
    pub topic: &'a str,
    /// The record key (e.g. the order id).
    pub key: &'a str,
    /// The event type naming the message in the record headers.
    pub message_type: &'a str,
    pub payload: &'a [u8],
}

/// [`append`] to `stream`, and then [`enqueue_message`] of `message` if the append succeeded,
/// as one write: on PostgreSQL one statement (one round trip instead of two), elsewhere the
/// two calls in one transaction. Returns the append's outcome and the message's position.
pub fn append_with_message(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
    message: OutgoingMessage<'_>,
) -> Result<(AppendOutcome, i64), StoreError> {
    if events.is_empty() || !matches!(conn, DbConnection::Pg(_)) {
        return crate::database::atomically(conn, |conn| {
            let outcome = append(conn, stream, expected, events, meta, outbox_topic)?;
            let position = enqueue_message(
                conn,
                message.topic,
                message.key,
                message.message_type,
                message.payload.to_vec(),
                meta,
            )?;
            Ok((outcome, position))
        });
    }
    crate::database::outbox_written();
    let part = super::append_pg::MessagePart {
        stream_id: StreamRef::new(message.topic, message.key).stream_id(),
        topic: message.topic,
        key: message.key,
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: message.message_type,
        payload: message.payload,
    };
    let (outcome, position) =
        super::append_pg::append_with(conn, stream, expected, events, meta, outbox_topic, Some(&part))?;
    Ok((outcome, position.expect("the message is written with the append")))
}
