//! Reading streams, the global log and per-type slices of it.

use diesel::prelude::*;

use super::rows::{EventRow, recorded};
use super::{RecordedEvent, StreamRef};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{events, streams};

/// Events of `stream` with `version >= from_version`, in version order (pass a snapshot's
/// version + 1 to read what came after it).
pub fn read_stream(
    conn: &mut DbConnection,
    stream: &StreamRef,
    from_version: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = events::table
        .filter(events::stream_id.eq(stream.stream_id()))
        .filter(events::version.ge(from_version))
        .order(events::version.asc())
        .select(EventRow::as_select())
        .load(conn)?;
    recorded(rows)
}

/// Current version of `stream`; 0 when it has no events.
pub fn stream_version(conn: &mut DbConnection, stream: &StreamRef) -> Result<i64, StoreError> {
    version_of(conn, &stream.stream_id())
}

pub(super) fn version_of(conn: &mut DbConnection, stream_id: &str) -> Result<i64, StoreError> {
    let version = streams::table.find(stream_id).select(streams::version).first::<i64>(conn).optional()?;
    Ok(version.unwrap_or(0))
}

/// Up to `limit` events of all streams with `position > after_position`, in position order.
///
/// Positions are handed out when a transaction inserts, not when it commits: on PostgreSQL a
/// reader tailing this log live can see position n+1 before a slower transaction commits n.
/// That is fine for rebuilding at rest; live delivery should go through the outbox.
pub fn read_all(conn: &mut DbConnection, after_position: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = events::table
        .filter(events::position.gt(after_position))
        .order(events::position.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?;
    recorded(rows)
}

/// The position of the last stored event (0 for an empty store): how far a replay from the
/// start has to go, as of now.
pub fn last_position(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let last: Option<i64> = events::table.select(diesel::dsl::max(events::position)).first(conn)?;
    Ok(last.unwrap_or(0))
}

/// `read_all` restricted to one aggregate type, for rebuilding that type's projections. There
/// is no index by type (it would cost every append an index entry): this walks the log in
/// position order and filters.
pub fn read_by_type(
    conn: &mut DbConnection,
    aggregate_type: &str,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = events::table
        .filter(events::aggregate_type.eq(aggregate_type))
        .filter(events::position.gt(after_position))
        .order(events::position.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?;
    recorded(rows)
}
