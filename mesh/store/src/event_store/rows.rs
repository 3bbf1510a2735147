//! Row structs mapping the tables to the public types, and the insert-in-a-savepoint helper.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::RecordedEvent;
use crate::connection::DbConnection;
use crate::error::{StoreError, is_unique_violation};
use crate::schema::events;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = events)]
pub(super) struct EventRow {
    pub position: i64,
    pub stream_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
    pub event_id: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub actor: String,
    pub trace_context: Option<String>,
    pub recorded_at: NaiveDateTime,
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<RecordedEvent, StoreError> {
        let event_id = row
            .event_id
            .parse()
            .map_err(|e| StoreError::Database(diesel::result::Error::DeserializationError(Box::new(e))))?;
        Ok(RecordedEvent {
            position: row.position,
            stream_id: row.stream_id,
            aggregate_type: row.aggregate_type,
            aggregate_id: row.aggregate_id,
            version: row.version,
            event_id,
            event_type: row.event_type,
            payload: row.payload,
            correlation_id: row.correlation_id,
            causation_id: row.causation_id,
            actor: row.actor,
            trace_context: row.trace_context,
            recorded_at: row.recorded_at.and_utc(),
        })
    }
}

pub(super) fn recorded(rows: Vec<EventRow>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(RecordedEvent::try_from).collect()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
pub(super) struct EventInsert<'a> {
    pub stream_id: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub version: i64,
    pub event_id: String,
    pub event_type: &'a str,
    pub payload: &'a [u8],
    pub correlation_id: &'a str,
    pub causation_id: Option<&'a str>,
    pub actor: &'a str,
    pub trace_context: Option<&'a str>,
    pub recorded_at: NaiveDateTime,
    pub topic: Option<&'a str>,
}

/// Runs `insert` in a savepoint and reports `false` if it hit a unique constraint.
///
/// Without the savepoint a unique violation aborts the whole PostgreSQL transaction, and the
/// caller could neither read the winner's row nor fall back to an update. MultiBackend has no
/// `ON CONFLICT`, which would otherwise do this in one statement.
pub(super) fn insert_if_absent<F>(conn: &mut DbConnection, insert: F) -> Result<bool, StoreError>
where
    F: FnOnce(&mut DbConnection) -> QueryResult<usize>,
{
    match conn.transaction(insert) {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}
