//! Consumer bookkeeping: the inbox that makes every consumed event apply once, and the
//! dead-letter table that parks records a consumer could not apply.
//!
//! Both are written inside the consumer's transaction, beside its read-model writes, so a
//! crash either keeps all of them or none.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::{StoreError, is_unique_violation};
use crate::event_store::now;
use crate::schema::{dead_letters, inbox};

mod inbox_pg;

/// Where a consumed event came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry<'a> {
    pub consumer: &'a str,
    pub event_id: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = inbox)]
struct NewInboxRow<'a> {
    consumer: &'a str,
    event_id: &'a str,
    topic: &'a str,
    kafka_partition: i32,
    kafka_offset: i64,
    processed_at: NaiveDateTime,
}

/// What [`inbox_claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxClaim {
    /// The inbox row is written: apply the event in this transaction.
    Claimed,
    /// The consumer applied this event before: write nothing.
    Seen,
    /// A dead letter of the record's key (this id, the oldest) is parked: the record must
    /// wait behind it, and nothing was written.
    Blocked(i64),
}

/// Claims `entry.event_id` for `entry.consumer` unless the consumer applied it before or has a
/// parked dead letter for the record key `key` on `entry.topic` (the key's order is kept).
///
/// Call it first in the transaction of the consumer's writes. On PostgreSQL it is one
/// statement (`INSERT … ON CONFLICT DO NOTHING` guarded by the dead-letter check); two
/// deliveries racing each other: the second waits for the first to commit and then sees it.
pub fn inbox_claim(
    conn: &mut DbConnection,
    entry: &InboxEntry<'_>,
    key: Option<&str>,
) -> Result<InboxClaim, StoreError> {
    if let DbConnection::Pg(pg) = conn {
        return Ok(inbox_pg::claim(pg, entry, inbox_pg::Guard::ParkedKey(key))?);
    }
    if let Some(blocking) = dead_letter_parked_for_key(conn, entry.consumer, entry.topic, key)? {
        return Ok(InboxClaim::Blocked(blocking));
    }
    Ok(if inbox_record(conn, entry)? { InboxClaim::Claimed } else { InboxClaim::Seen })
}

/// Records that `entry.consumer` applied `entry.event_id`. Returns `false`, writing nothing,
/// when the consumer applied that event before: the caller then skips its own writes.
///
/// Call it first in the transaction of the consumer's writes. Two deliveries racing each
/// other: the second insert finds the first's row (PostgreSQL: waits for it to commit),
/// which also reads as "seen".
pub fn inbox_record(conn: &mut DbConnection, entry: &InboxEntry<'_>) -> Result<bool, StoreError> {
    if let DbConnection::Pg(pg) = conn {
        return Ok(inbox_pg::claim(pg, entry, inbox_pg::Guard::None)? == InboxClaim::Claimed);
    }
    let seen: i64 = inbox::table
        .filter(inbox::consumer.eq(entry.consumer))
        .filter(inbox::event_id.eq(entry.event_id))
        .count()
        .get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    let row = NewInboxRow {
        consumer: entry.consumer,
        event_id: entry.event_id,
        topic: entry.topic,
        kafka_partition: entry.partition,
        kafka_offset: entry.offset,
        processed_at: now(),
    };
    match diesel::insert_into(inbox::table).values(&row).execute(conn) {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Whether `consumer` applied `event_id`.
pub fn inbox_contains(conn: &mut DbConnection, consumer: &str, event_id: &str) -> Result<bool, StoreError> {
    let seen: i64 = inbox::table
        .filter(inbox::consumer.eq(consumer))
        .filter(inbox::event_id.eq(event_id))
        .count()
        .get_result(conn)?;
    Ok(seen > 0)
}

/// How many events `consumer` applied.
pub fn inbox_count(conn: &mut DbConnection, consumer: &str) -> Result<i64, StoreError> {
    Ok(inbox::table.filter(inbox::consumer.eq(consumer)).count().get_result(conn)?)
}

/// The smallest UUIDv7 text of a moment: every v7 id generated at or after `at` sorts at or
/// above it (v7 ids begin with their millisecond timestamp, in hex, at fixed positions).
fn v7_floor(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    let hex = format!("{ms:012x}");
    format!("{}-{}-7000-8000-000000000000", &hex[..8], &hex[8..])
}

/// Deletes up to `limit` inbox rows of `consumer` processed before `before` whose event was
/// recorded before it too (event ids are UUIDv7: the key's own order finds them, no other
/// index needed); returns how many went. A redelivery of an event older than the retention
/// is applied again, so the retention must outlive every record a consumer can be handed
/// again: the topics' retention plus a segment's age (Kafka's defaults: 7 + 7 days), since a
/// group whose committed offsets expired (7 days empty, by default) re-reads the topics from
/// their start. Ids that are not v7 and sort above the cut are kept.
pub fn inbox_prune(
    conn: &mut DbConnection,
    consumer: &str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<usize, StoreError> {
    let doomed: Vec<String> = inbox::table
        .select(inbox::event_id)
        .filter(inbox::consumer.eq(consumer))
        .filter(inbox::event_id.lt(v7_floor(before)))
        .filter(inbox::processed_at.lt(before.naive_utc()))
        .order(inbox::event_id)
        .limit(limit)
        .load(conn)?;
    if doomed.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(inbox::table.filter(inbox::consumer.eq(consumer)).filter(inbox::event_id.eq_any(&doomed)))
        .execute(conn)?)
}

/// Forgets what `consumer` applied (before a replay from scratch).
pub fn inbox_clear(conn: &mut DbConnection, consumer: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(inbox::table.filter(inbox::consumer.eq(consumer))).execute(conn)?)
}

/// The state of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterStatus {
    /// Waiting for a redrive; later records of the same key wait behind it.
    Parked,
    /// Applied by a redrive.
    Redriven,
    /// Given up by an operator.
    Discarded,
}

impl DeadLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Parked => "parked",
            DeadLetterStatus::Redriven => "redriven",
            DeadLetterStatus::Discarded => "discarded",
        }
    }

    pub fn parse(text: &str) -> Option<DeadLetterStatus> {
        match text {
            "parked" => Some(DeadLetterStatus::Parked),
            "redriven" => Some(DeadLetterStatus::Redriven),
            "discarded" => Some(DeadLetterStatus::Discarded),
            _ => None,
        }
    }
}

/// A record to park.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewDeadLetter {
    pub consumer: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<Vec<u8>>,
    /// The record's headers as a JSON object of strings.
    pub headers: String,
    pub event_id: Option<String>,
    pub correlation_id: Option<String>,
    pub error: String,
    pub attempts: i32,
}

/// A parked (or formerly parked) record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<Vec<u8>>,
    pub headers: String,
    pub event_id: Option<String>,
    pub correlation_id: Option<String>,
    pub error: String,
    pub attempts: i32,
    pub status: DeadLetterStatus,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How it was resolved (redriven, or discarded with the operator's reason).
    pub resolution: Option<String>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = dead_letters)]
struct DeadLetterRow {
    id: i64,
    consumer: String,
    topic: String,
    kafka_partition: i32,
    kafka_offset: i64,
    record_key: Option<String>,
    record_value: Option<Vec<u8>>,
    headers: String,
    event_id: Option<String>,
    correlation_id: Option<String>,
    error: String,
    attempts: i32,
    status: String,
    created_at: NaiveDateTime,
    resolved_at: Option<NaiveDateTime>,
    resolution: Option<String>,
}

impl From<DeadLetterRow> for DeadLetter {
    fn from(row: DeadLetterRow) -> DeadLetter {
        DeadLetter {
            id: row.id,
            consumer: row.consumer,
            topic: row.topic,
            partition: row.kafka_partition,
            offset: row.kafka_offset,
            key: row.record_key,
            value: row.record_value,
            headers: row.headers,
            event_id: row.event_id,
            correlation_id: row.correlation_id,
            error: row.error,
            attempts: row.attempts,
            // Only this module writes the column.
            status: DeadLetterStatus::parse(&row.status).unwrap_or(DeadLetterStatus::Parked),
            created_at: row.created_at.and_utc(),
            resolved_at: row.resolved_at.map(|at| at.and_utc()),
            resolution: row.resolution,
        }
    }
}

/// Parks a record; returns its dead-letter id, and whether the letter is new. A record parked
/// before and still parked (delivered again after a rebalance, a crash or a replaced consumer:
/// its own letter blocks it) keeps its one letter. It is known by its place and its event id
/// (a place alone could be another record's after a topic was recreated); a record without an
/// `event_id` header (one that could not be decoded, or another producer's) by its place, key and
/// bytes (a key or bytes absent from both count as the same).
pub fn dead_letter_park(conn: &mut DbConnection, letter: &NewDeadLetter) -> Result<(i64, bool), StoreError> {
    let same_place = dead_letters::table
        .filter(dead_letters::consumer.eq(&letter.consumer))
        .filter(dead_letters::topic.eq(&letter.topic))
        .filter(dead_letters::kafka_partition.eq(letter.partition))
        .filter(dead_letters::kafka_offset.eq(letter.offset))
        .filter(dead_letters::status.eq(DeadLetterStatus::Parked.as_str()))
        .order(dead_letters::id.asc());
    let parked = match &letter.event_id {
        Some(event_id) => same_place
            .filter(dead_letters::event_id.eq(event_id))
            .select(dead_letters::id)
            .first::<i64>(conn)
            .optional()?,
        None => {
            let candidates = same_place
                .filter(dead_letters::event_id.is_null())
                .select((dead_letters::id, dead_letters::record_value))
                .into_boxed();
            let candidates = match &letter.key {
                Some(key) => candidates.filter(dead_letters::record_key.eq(key)),
                None => candidates.filter(dead_letters::record_key.is_null()),
            };
            // Few letters share a place and a key: their bytes are compared here.
            candidates
                .load::<(i64, Option<Vec<u8>>)>(conn)?
                .into_iter()
                .find(|(_, value)| *value == letter.value)
                .map(|(id, _)| id)
        }
    };
    if let Some(id) = parked {
        return Ok((id, false));
    }
    diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::consumer.eq(&letter.consumer),
            dead_letters::topic.eq(&letter.topic),
            dead_letters::kafka_partition.eq(letter.partition),
            dead_letters::kafka_offset.eq(letter.offset),
            dead_letters::record_key.eq(&letter.key),
            dead_letters::record_value.eq(&letter.value),
            dead_letters::headers.eq(&letter.headers),
            dead_letters::event_id.eq(&letter.event_id),
            dead_letters::correlation_id.eq(&letter.correlation_id),
            dead_letters::error.eq(&letter.error),
            dead_letters::attempts.eq(letter.attempts),
            dead_letters::status.eq(DeadLetterStatus::Parked.as_str()),
            dead_letters::created_at.eq(now()),
        ))
        .execute(conn)?;
    // No RETURNING: diesel's MultiConnection backend does not offer it. Inside the caller's
    // transaction the newest letter of this consumer for this record is the one just written.
    let id = dead_letters::table
        .filter(dead_letters::consumer.eq(&letter.consumer))
        .filter(dead_letters::topic.eq(&letter.topic))
        .filter(dead_letters::kafka_partition.eq(letter.partition))
        .filter(dead_letters::kafka_offset.eq(letter.offset))
        .select(dead_letters::id)
        .order(dead_letters::id.desc())
        .first(conn)?;
    Ok((id, true))
}

/// The oldest parked letter of `consumer` for the record key `key` on `topic`, if any: a new
/// record of that key must wait behind it to keep the key's order.
pub fn dead_letter_parked_for_key(
    conn: &mut DbConnection,
    consumer: &str,
    topic: &str,
    key: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let mut query = dead_letters::table
        .filter(dead_letters::consumer.eq(consumer))
        .filter(dead_letters::topic.eq(topic))
        .filter(dead_letters::status.eq(DeadLetterStatus::Parked.as_str()))
        .select(dead_letters::id)
        .order(dead_letters::id.asc())
        .into_boxed();
    query = match key {
        Some(key) => query.filter(dead_letters::record_key.eq(key)),
        None => query.filter(dead_letters::record_key.is_null()),
    };
    Ok(query.first(conn).optional()?)
}

/// Filter of [`dead_letter_list`].
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    pub consumer: Option<String>,
    pub status: Option<DeadLetterStatus>,
    /// Only letters with an id above this (paging).
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// Dead letters in id order.
pub fn dead_letter_list(conn: &mut DbConnection, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
    let mut query = dead_letters::table.select(DeadLetterRow::as_select()).order(dead_letters::id.asc()).into_boxed();
    if let Some(consumer) = &filter.consumer {
        query = query.filter(dead_letters::consumer.eq(consumer.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(dead_letters::status.eq(status.as_str()));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(dead_letters::id.gt(after));
    }
    let limit = if filter.limit <= 0 { 100 } else { filter.limit };
    Ok(query.limit(limit).load::<DeadLetterRow>(conn)?.into_iter().map(DeadLetter::from).collect())
}

/// How many letters of `consumer` are in `status`.
pub fn dead_letter_count(conn: &mut DbConnection, consumer: &str, status: DeadLetterStatus) -> Result<i64, StoreError> {
    Ok(dead_letters::table
        .filter(dead_letters::consumer.eq(consumer))
        .filter(dead_letters::status.eq(status.as_str()))
        .count()
        .get_result(conn)?)
}

/// One dead letter by id.
pub fn dead_letter_get(conn: &mut DbConnection, id: i64) -> Result<Option<DeadLetter>, StoreError> {
    Ok(dead_letters::table
        .find(id)
        .select(DeadLetterRow::as_select())
        .first::<DeadLetterRow>(conn)
        .optional()?
        .map(DeadLetter::from))
}

/// Moves a parked letter to `status` (redriven or discarded), saying how in `resolution`.
/// Returns `false` when the letter was not parked any more (someone else resolved it first).
pub fn dead_letter_resolve(
    conn: &mut DbConnection,
    id: i64,
    status: DeadLetterStatus,
    resolution: &str,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        dead_letters::table
            .filter(dead_letters::id.eq(id))
            .filter(dead_letters::status.eq(DeadLetterStatus::Parked.as_str())),
    )
    .set((
        dead_letters::status.eq(status.as_str()),
        dead_letters::resolved_at.eq(Some(now())),
        dead_letters::resolution.eq(Some(resolution)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records a failed redrive on a letter that stays parked.
pub fn dead_letter_record_failure(conn: &mut DbConnection, id: i64, error: &str) -> Result<(), StoreError> {
    diesel::update(dead_letters::table.find(id))
        .set((dead_letters::error.eq(error), dead_letters::attempts.eq(dead_letters::attempts + 1)))
        .execute(conn)?;
    Ok(())
}
