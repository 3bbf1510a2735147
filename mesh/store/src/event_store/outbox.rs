//! The transactional outbox: rows written with the events, drained by a publisher.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::RecordedEvent;
use super::rows::EventRow;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{events, outbox};

/// One queued delivery of an event to a topic, keyed by the event's position (an event is
/// queued for at most one topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub position: i64,
    pub topic: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct OutboxRecord {
    position: i64,
    topic: String,
    created_at: NaiveDateTime,
    attempts: i32,
    last_error: Option<String>,
}

impl From<OutboxRecord> for OutboxRow {
    fn from(row: OutboxRecord) -> OutboxRow {
        OutboxRow {
            position: row.position,
            topic: row.topic,
            created_at: row.created_at.and_utc(),
            attempts: row.attempts,
            last_error: row.last_error,
        }
    }
}

/// Up to `limit` unpublished rows with their events, oldest first.
///
/// Rows are not claimed: run one publisher per database (MultiBackend has no
/// `FOR UPDATE SKIP LOCKED`), or accept that two publishers may deliver a row twice.
pub fn outbox_pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<(OutboxRow, RecordedEvent)>, StoreError> {
    outbox_pending_after(conn, 0, limit)
}

/// Like [`outbox_pending`], for rows with a position above `after` only (a publisher reading
/// ahead while it still marks earlier rows). A row of a transaction that committed late with a
/// lower position is not skipped for good: it is unpublished, so the next read from the start returns it.
pub fn outbox_pending_after(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<(OutboxRow, RecordedEvent)>, StoreError> {
    // Two reads by primary key, not one join: joined, PostgreSQL plans a merge join that walks
    // the events' primary key from the first event ever stored up to the first queued row
    // (the bound on the outbox's position does not carry over to the events), so every read
    // cost grew with the whole store (2.7 ms per read after 20 000 events). The events are
    // also bounded by the batch's first and last positions: with `= ANY` alone, the generic
    // plan of a young table whose statistics lag its growth was a sequential scan (3.3 ms per
    // read at 15 000 events); a range on the key keeps it an index scan whatever the
    // statistics say.
    let rows = outbox::table
        .filter(outbox::position.gt(after))
        .order(outbox::position.asc())
        .limit(limit)
        .select(OutboxRecord::as_select())
        .load::<OutboxRecord>(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let positions: Vec<i64> = rows.iter().map(|row| row.position).collect();
    let (first, last) = (positions[0], positions[positions.len() - 1]);
    let mut found: std::collections::HashMap<i64, EventRow> = events::table
        .filter(events::position.between(first, last))
        .filter(events::position.eq_any(&positions))
        .select(EventRow::as_select())
        .load::<EventRow>(conn)?
        .into_iter()
        .map(|event| (event.position, event))
        .collect();
    // A row without its event (deleted by hand: there is no foreign key on the append path)
    // cannot be published: it is an error, not something to skip in silence (a batch of such
    // rows would stall the relay with nothing logged).
    rows.into_iter()
        .map(|row| match found.remove(&row.position) {
            Some(event) => Ok((OutboxRow::from(row), RecordedEvent::try_from(event)?)),
            None => Err(StoreError::Corrupt(format!(
                "outbox row at position {} has no event: delete the row, or restore the event",
                row.position
            ))),
        })
        .collect()
}

/// Marks rows as published by removing them from the outbox (their events stay in the
/// store; the outbox holds only what is still to publish). Returns how many rows were still
/// there.
pub fn outbox_mark_published(conn: &mut DbConnection, positions: &[i64]) -> Result<usize, StoreError> {
    if positions.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(outbox::table.filter(outbox::position.eq_any(positions))).execute(conn)?)
}

/// Counts a failed delivery of the row of the event at `position` and keeps its error for
/// operators.
pub fn outbox_record_failure(conn: &mut DbConnection, position: i64, error: &str) -> Result<(), StoreError> {
    diesel::update(outbox::table.find(position))
        .set((outbox::attempts.eq(outbox::attempts + 1), outbox::last_error.eq(Some(error))))
        .execute(conn)?;
    Ok(())
}

/// The rows waiting to be published and when the oldest was queued (`None` when none waits),
/// for the outbox gauges.
pub fn outbox_backlog(conn: &mut DbConnection) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    use diesel::dsl::{count_star, min};
    let (pending, oldest) =
        outbox::table.select((count_star(), min(outbox::created_at))).first::<(i64, Option<NaiveDateTime>)>(conn)?;
    Ok((pending, oldest.map(|t| t.and_utc())))
}
