//! The latest snapshot of each stream.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Timestamp, Untyped};

use super::rows::{EventRow, insert_if_absent, recorded};
use super::{RecordedEvent, StreamRef, now};
use crate::connection::DbConnection;
use crate::database::atomically;
use crate::error::StoreError;
use crate::execute_prepared;
use crate::schema::snapshots;

/// A stream's state as of `version`, encoded under `schema_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub version: i64,
    /// The version of the state's encoding, chosen by the aggregate: a loader that encodes
    /// differently now ignores the snapshot.
    pub schema_version: i32,
    pub state: Vec<u8>,
}

/// Stores `state` (encoded under `schema_version`) as the snapshot of `stream` at `version`,
/// replacing the previous one.
///
/// A snapshot older than the stored one is ignored: two writers racing (or a slow one) must not
/// move the snapshot backwards, which would only make loads replay more events.
pub fn save_snapshot(
    conn: &mut DbConnection,
    stream: &StreamRef,
    version: i64,
    schema_version: i32,
    state: &[u8],
) -> Result<(), StoreError> {
    let stream_id = stream.stream_id();
    atomically(conn, |conn| {
        let taken_at = now();
        let replace = |conn: &mut DbConnection| {
            execute_prepared(
                conn,
                diesel::update(
                    snapshots::table.filter(snapshots::stream_id.eq(&stream_id)).filter(snapshots::version.le(version)),
                )
                .set((
                    snapshots::version.eq(version),
                    snapshots::schema_version.eq(schema_version),
                    snapshots::state.eq(state),
                    snapshots::taken_at.eq(taken_at),
                )),
            )
        };
        if replace(conn)? == 1 {
            return Ok(());
        }
        let inserted = insert_if_absent(conn, |conn| {
            diesel::insert_into(snapshots::table)
                .values((
                    snapshots::stream_id.eq(&stream_id),
                    snapshots::version.eq(version),
                    snapshots::schema_version.eq(schema_version),
                    snapshots::state.eq(state),
                    snapshots::taken_at.eq(taken_at),
                ))
                .execute(conn)
        })?;
        if !inserted {
            // A row exists: newer than ours (keep it) or just inserted by a racing writer.
            replace(conn)?;
        }
        Ok(())
    })
}

/// The latest snapshot of `stream`, if any.
pub fn load_snapshot(conn: &mut DbConnection, stream: &StreamRef) -> Result<Option<Snapshot>, StoreError> {
    let found = snapshots::table
        .find(stream.stream_id())
        .select((snapshots::version, snapshots::schema_version, snapshots::state))
        .first::<(i64, i32, Vec<u8>)>(conn)
        .optional()?;
    Ok(found.map(|(version, schema_version, state)| Snapshot { version, schema_version, state }))
}

/// The snapshot of `stream` encoded under `schema_version` (none if there is none, or only one
/// of another schema) and the events after it (all of them without a snapshot), in one
/// statement: the load of an aggregate with a snapshot policy is one round trip.
pub fn load_snapshot_and_tail(
    conn: &mut DbConnection,
    stream: &StreamRef,
    schema_version: i32,
) -> Result<(Option<Snapshot>, Vec<RecordedEvent>), StoreError> {
    let stream_id = stream.stream_id();
    let query = SnapshotTailQuery { stream_id: &stream_id, schema_version };
    let rows: Vec<SnapshotTailRow> = match conn {
        DbConnection::Pg(pg) => query.load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    let snapshot = rows.first().and_then(|row| {
        Some(Snapshot {
            version: row.snapshot_version?,
            schema_version: row.snapshot_schema?,
            state: row.snapshot_state.clone()?,
        })
    });
    let events = recorded(rows.into_iter().filter_map(SnapshotTailRow::event).collect())?;
    Ok((snapshot, events))
}

/// The statement of [`load_snapshot_and_tail`]. A one-row source so that the snapshot comes
/// back even when no event follows it; the snapshot joined only if of the wanted schema.
/// Its text is static, so each connection prepares it once and caches it (planning the two
/// joins on every load cost more than running them).
struct SnapshotTailQuery<'a> {
    stream_id: &'a str,
    schema_version: i32,
}

impl QueryId for SnapshotTailQuery<'_> {
    type QueryId = SnapshotTailQuery<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for SnapshotTailQuery<'_> {
    type SqlType = Untyped;
}

impl<DB> QueryFragment<DB> for SnapshotTailQuery<'_>
where
    DB: Backend,
    str: diesel::serialize::ToSql<Text, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "SELECT s.version AS snapshot_version, s.schema_version AS snapshot_schema, \
             s.state AS snapshot_state, e.position, e.stream_id, e.aggregate_type, e.aggregate_id, \
             e.version, e.event_id, e.event_type, e.payload, e.correlation_id, e.causation_id, e.actor, \
             e.trace_context, e.recorded_at FROM (SELECT CAST(",
        );
        out.push_bind_param::<Text, _>(self.stream_id)?;
        out.push_sql(" AS TEXT) AS stream_id, CAST(");
        out.push_bind_param::<Integer, _>(&self.schema_version)?;
        // The tail's lower bound is the snapshot's version read by a scalar subquery of its own
        // (an InitPlan parameter on PostgreSQL), not the joined row's column: a prepared
        // statement's generic plan then seeks the (stream_id, version) index to the tail. With
        // `e.version > s.version` as a join condition, the generic plan the node's connections
        // settle on applied it as a filter after reading every event of the stream (a load grew
        // with the stream: 13.9 ms at 100 000 events, `fleuve bench growth`).
        out.push_sql(
            " AS INTEGER) AS schema_version) k \
             LEFT JOIN snapshots s ON s.stream_id = k.stream_id AND s.schema_version = k.schema_version \
             LEFT JOIN events e ON e.stream_id = k.stream_id AND e.version > COALESCE((SELECT v.version \
             FROM snapshots v WHERE v.stream_id = CAST(",
        );
        out.push_bind_param::<Text, _>(self.stream_id)?;
        out.push_sql(" AS TEXT) AND v.schema_version = CAST(");
        out.push_bind_param::<Integer, _>(&self.schema_version)?;
        out.push_sql(" AS INTEGER)), 0) ORDER BY e.version");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for SnapshotTailQuery<'_> {}
impl RunQueryDsl<diesel::SqliteConnection> for SnapshotTailQuery<'_> {}

/// A row of [`load_snapshot_and_tail`]: the snapshot's columns (repeated) and one event's.
#[derive(QueryableByName)]
struct SnapshotTailRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    snapshot_version: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    snapshot_schema: Option<i32>,
    #[diesel(sql_type = Nullable<Binary>)]
    snapshot_state: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    stream_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    aggregate_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    aggregate_id: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    version: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    event_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    event_type: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    payload: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    correlation_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    causation_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    trace_context: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    recorded_at: Option<chrono::NaiveDateTime>,
}

impl SnapshotTailRow {
    /// The event of this row; none on the one row of a stream with no event after its snapshot.
    fn event(self) -> Option<EventRow> {
        Some(EventRow {
            position: self.position?,
            stream_id: self.stream_id?,
            aggregate_type: self.aggregate_type?,
            aggregate_id: self.aggregate_id?,
            version: self.version?,
            event_id: self.event_id?,
            event_type: self.event_type?,
            payload: self.payload?,
            correlation_id: self.correlation_id?,
            causation_id: self.causation_id,
            actor: self.actor?,
            trace_context: self.trace_context,
            recorded_at: self.recorded_at?,
        })
    }
}
