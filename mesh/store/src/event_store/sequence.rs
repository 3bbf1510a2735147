//! Gapless named counters (invoice numbers, dossier numbers) that follow the caller's transaction.

use diesel::prelude::*;

use super::rows::insert_if_absent;
use crate::Prepared;
use crate::connection::DbConnection;
use crate::database::atomically;
use crate::error::StoreError;
use crate::schema::sequences;

/// Returns the next value of the counter `name`, starting at 1.
///
/// The increment is part of the caller's transaction: a rollback gives the number back, and
/// on PostgreSQL concurrent callers queue on the counter's row until the holder commits, so
/// call it late in a transaction to keep that lock short. Two transactions creating the same
/// counter at once do not fail: the second waits for the first and then increments its row.
pub fn next_sequence(conn: &mut DbConnection, name: &str) -> Result<i64, StoreError> {
    // PostgreSQL: the increment and the read are one statement once the counter exists.
    if let DbConnection::Pg(pg) = conn {
        let next = Prepared(
            diesel::update(sequences::table.find(name))
                .set(sequences::value.eq(sequences::value + 1))
                .returning(sequences::value),
        )
        .get_result::<i64>(pg)
        .optional()?;
        if let Some(next) = next {
            return Ok(next);
        }
    }
    atomically(conn, |conn| {
        let increment = |conn: &mut DbConnection| {
            diesel::update(sequences::table.find(name)).set(sequences::value.eq(sequences::value + 1)).execute(conn)
        };
        if increment(conn)? == 0 {
            let created = insert_if_absent(conn, |conn| {
                diesel::insert_into(sequences::table)
                    .values((sequences::name.eq(name), sequences::value.eq(1_i64)))
                    .execute(conn)
            })?;
            if created {
                return Ok(1);
            }
            increment(conn)?;
        }
        // The row is locked by our update, so nobody can move it before we read it.
        Ok(sequences::table.find(name).select(sequences::value).first::<i64>(conn)?)
    })
}
