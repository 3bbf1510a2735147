//! The latest snapshot of each stream.

use diesel::prelude::*;

use super::rows::insert_if_absent;
use super::{StreamRef, now};
use crate::connection::DbConnection;
use crate::database::atomically;
use crate::error::StoreError;
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
            diesel::update(
                snapshots::table.filter(snapshots::stream_id.eq(&stream_id)).filter(snapshots::version.le(version)),
            )
            .set((
                snapshots::version.eq(version),
                snapshots::schema_version.eq(schema_version),
                snapshots::state.eq(state),
                snapshots::taken_at.eq(taken_at),
            ))
            .execute(conn)
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
