//! Appending events under optimistic concurrency, each with the topic it is published to.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{EventInsert, insert_if_absent};
use super::{AppendOutcome, EventMetadata, ExpectedVersion, NewEvent, StreamRef, now, read};
use crate::connection::DbConnection;
use crate::database::atomically;
use crate::error::{StoreError, is_event_id_violation};
use crate::schema::{events, streams};

/// Appends `events` to `stream` if it is at `expected`; with an `outbox_topic`, the relay
/// publishes them to that topic (the log is the outbox: see [`super::outbox_pending`]).
///
/// The first statement writes the stream row, so on PostgreSQL concurrent appenders queue on
/// its row lock and, under READ COMMITTED, the losers re-check `version = expected`, match
/// nothing and get `StoreError::Conflict`. A lost race to create a stream is a conflict too.
/// An empty `events` writes nothing (not even the stream row) but still checks `expected`.
/// On PostgreSQL an error leaves the caller's transaction unusable: roll it back.
pub fn append(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
) -> Result<AppendOutcome, StoreError> {
    observed(stream, events.len(), || append_unobserved(conn, stream, expected, events, meta, outbox_topic))
}

/// Runs an append and records it: its latency and event count when it succeeds, a conflict
/// when the stream had moved. Empty appends (version checks) are not counted.
pub(super) fn observed<T>(
    stream: &StreamRef,
    events: usize,
    append: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if events == 0 {
        return append();
    }
    let started = std::time::Instant::now();
    let result = append();
    let metrics = fleuve_metrics::metrics();
    match &result {
        Ok(_) => metrics.appended(&stream.aggregate_type, events, started.elapsed().as_secs_f64()),
        Err(StoreError::Conflict { .. }) => metrics.append_conflict(&stream.aggregate_type),
        Err(_) => {}
    }
    result
}

fn append_unobserved(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
) -> Result<AppendOutcome, StoreError> {
    let stream_id = stream.stream_id();
    if events.is_empty() {
        let current = read::version_of(conn, &stream_id)?;
        let matches = match expected {
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(version) => current == version,
            ExpectedVersion::Any => true,
        };
        if !matches {
            return Err(conflict(&stream_id, expected, current));
        }
        return Ok(AppendOutcome { first_position: None, last_version: current });
    }
    if outbox_topic.is_some() {
        crate::database::outbox_written();
    }
    if matches!(conn, DbConnection::Pg(_)) {
        return Ok(super::append_pg::append(conn, stream, expected, events, meta, outbox_topic, None)?.0);
    }
    let count = i64::try_from(events.len()).expect("fewer than 2^63 events");
    atomically(conn, |conn| {
        let recorded_at = now();
        let last_version = claim_versions(conn, stream, &stream_id, expected, count, recorded_at)?;
        let first_version = last_version - count + 1;
        // One statement per event: MultiBackend has no multi-row INSERT (SQLite's differs).
        for (event, version) in events.iter().zip(first_version..) {
            let row = EventInsert {
                stream_id: &stream_id,
                aggregate_type: &stream.aggregate_type,
                aggregate_id: &stream.aggregate_id,
                version,
                event_id: event.event_id.to_string(),
                event_type: &event.event_type,
                payload: &event.payload,
                correlation_id: &meta.correlation_id,
                causation_id: meta.causation_id.as_deref(),
                actor: &meta.actor,
                trace_context: meta.trace_context.as_deref(),
                recorded_at,
                topic: outbox_topic,
            };
            if let Err(error) = diesel::insert_into(events::table).values(&row).execute(conn) {
                return Err(if is_event_id_violation(&error) {
                    duplicate_event(conn, &error, events)
                } else {
                    error.into()
                });
            }
        }

        // No RETURNING (MultiBackend cannot express it): read back the rows we still hold.
        let first_position = events::table
            .filter(events::stream_id.eq(&stream_id))
            .filter(events::version.eq(first_version))
            .select(events::position)
            .first::<i64>(conn)?;
        Ok(AppendOutcome { first_position: Some(first_position), last_version })
    })
}

/// Moves the stream row to its new version (creating it for a new stream) and returns that
/// version; this is the statement that serializes concurrent appenders.
fn claim_versions(
    conn: &mut DbConnection,
    stream: &StreamRef,
    stream_id: &str,
    expected: ExpectedVersion,
    count: i64,
    at: NaiveDateTime,
) -> Result<i64, StoreError> {
    let create = |conn: &mut DbConnection| {
        insert_if_absent(conn, |conn| {
            diesel::insert_into(streams::table)
                .values((
                    streams::stream_id.eq(stream_id),
                    streams::aggregate_type.eq(&stream.aggregate_type),
                    streams::version.eq(count),
                    streams::updated_at.eq(at),
                ))
                .execute(conn)
        })
    };
    match expected {
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => {
            if create(conn)? {
                Ok(count)
            } else {
                let actual = read::version_of(conn, stream_id)?;
                Err(conflict(stream_id, expected, actual))
            }
        }
        ExpectedVersion::Exact(version) => {
            let updated = diesel::update(
                streams::table.filter(streams::stream_id.eq(stream_id)).filter(streams::version.eq(version)),
            )
            .set((streams::version.eq(version + count), streams::updated_at.eq(at)))
            .execute(conn)?;
            if updated == 1 {
                Ok(version + count)
            } else {
                let actual = read::version_of(conn, stream_id)?;
                Err(conflict(stream_id, expected, actual))
            }
        }
        ExpectedVersion::Any => {
            let bump = |conn: &mut DbConnection| -> Result<Option<i64>, StoreError> {
                let updated = diesel::update(streams::table.find(stream_id))
                    .set((streams::version.eq(streams::version + count), streams::updated_at.eq(at)))
                    .execute(conn)?;
                // The row is locked by the update, so this read sees our own new version.
                Ok(if updated == 1 { Some(read::version_of(conn, stream_id)?) } else { None })
            };
            if let Some(version) = bump(conn)? {
                return Ok(version);
            }
            if create(conn)? {
                return Ok(count);
            }
            // Another transaction created the stream meanwhile; its row is committed now.
            bump(conn)?.ok_or_else(|| conflict(stream_id, expected, 0))
        }
    }
}

pub(super) fn conflict(stream_id: &str, expected: ExpectedVersion, actual: i64) -> StoreError {
    let expected = match expected {
        ExpectedVersion::NoStream | ExpectedVersion::Any => 0,
        ExpectedVersion::Exact(version) => version,
    };
    StoreError::Conflict { stream_id: stream_id.to_owned(), expected, actual }
}

/// Names the event id that was already stored.
///
/// PostgreSQL puts the key in the error detail (and has aborted the transaction, so nothing
/// can be queried); SQLite only names the column but lets the transaction go on.
pub(super) fn duplicate_event(
    conn: &mut DbConnection,
    error: &diesel::result::Error,
    events: &[NewEvent],
) -> StoreError {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let detail = match error {
        diesel::result::Error::DatabaseError(_, info) => {
            format!("{} {}", info.message(), info.details().unwrap_or_default())
        }
        _ => String::new(),
    };
    let named = ids.iter().find(|id| detail.contains(id.as_str())).cloned();
    let stored =
        || events::table.filter(events::event_id.eq_any(&ids)).select(events::event_id).first::<String>(conn).ok();
    let event_id = named.or_else(stored).unwrap_or_else(|| ids.join(","));
    StoreError::DuplicateEvent { event_id }
}
