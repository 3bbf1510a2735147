//! The PostgreSQL inbox claim: ONE statement checks the key's parked dead letters and inserts
//! the inbox row (a named prepared statement cached per connection, as the append is). The
//! consumer runtime runs it first in every record's transaction, so it saves two round trips
//! per consumed record over check, count and insert.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::{InboxClaim, InboxEntry};
use crate::event_store::now;

/// The claim statement; with `PARKED`, a parked letter of `key` blocks the insert.
struct ClaimQuery<'a, const PARKED: bool> {
    entry: &'a InboxEntry<'a>,
    key: Option<&'a str>,
    at: chrono::NaiveDateTime,
}

struct ClaimQueryId<const PARKED: bool>;

impl<const PARKED: bool> QueryId for ClaimQuery<'_, PARKED> {
    type QueryId = ClaimQueryId<PARKED>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const PARKED: bool> Query for ClaimQuery<'_, PARKED> {
    type SqlType = (Nullable<BigInt>, Bool);
}

impl<const PARKED: bool> RunQueryDsl<PgConnection> for ClaimQuery<'_, PARKED> {}

impl<const PARKED: bool> QueryFragment<Pg> for ClaimQuery<'_, PARKED> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH p AS (SELECT ");
        out.push_bind_param::<Text, _>(&self.entry.consumer)?;
        out.push_sql("::text AS consumer, ");
        out.push_bind_param::<Text, _>(&self.entry.event_id)?;
        out.push_sql("::text AS event_id, ");
        out.push_bind_param::<Text, _>(&self.entry.topic)?;
        out.push_sql("::text AS topic, ");
        out.push_bind_param::<Integer, _>(&self.entry.partition)?;
        out.push_sql("::integer AS kafka_partition, ");
        out.push_bind_param::<BigInt, _>(&self.entry.offset)?;
        out.push_sql("::bigint AS kafka_offset, ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql("::timestamp AS at, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.key)?;
        out.push_sql("::text AS record_key), ");
        if PARKED {
            // The partial index on parked letters serves (consumer, topic); a key with a
            // parked letter is rare, so the key filter runs on a handful of rows.
            out.push_sql(
                "b AS (SELECT min(d.id) AS id FROM dead_letters d, p WHERE d.status = 'parked' \
                 AND d.consumer = p.consumer AND d.topic = p.topic \
                 AND (d.record_key = p.record_key OR (d.record_key IS NULL AND p.record_key IS NULL))), ",
            );
        } else {
            out.push_sql("b AS (SELECT NULL::bigint AS id), ");
        }
        out.push_sql(
            "i AS (INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset, processed_at) \
             SELECT p.consumer, p.event_id, p.topic, p.kafka_partition, p.kafka_offset, p.at FROM p, b WHERE b.id IS NULL \
             ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1) \
             SELECT (SELECT id FROM b), EXISTS (SELECT 1 FROM i)",
        );
        Ok(())
    }
}

/// What the claim checks before inserting the inbox row.
pub(super) enum Guard<'a> {
    /// Nothing: a plain inbox insert ([`super::inbox_record`]).
    None,
    /// A parked dead letter of this record key blocks it ([`super::inbox_claim`]).
    ParkedKey(Option<&'a str>),
}

/// See [`super::inbox_claim`] and [`super::inbox_record`].
pub(super) fn claim(pg: &mut PgConnection, entry: &InboxEntry<'_>, guard: Guard<'_>) -> QueryResult<InboxClaim> {
    let at = now();
    let (blocking, inserted): (Option<i64>, bool) = match guard {
        Guard::ParkedKey(key) => ClaimQuery::<true> { entry, key, at }.get_result(pg)?,
        Guard::None => ClaimQuery::<false> { entry, key: None, at }.get_result(pg)?,
    };
    Ok(match (blocking, inserted) {
        (Some(id), _) => InboxClaim::Blocked(id),
        (None, true) => InboxClaim::Claimed,
        (None, false) => InboxClaim::Seen,
    })
}
