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
