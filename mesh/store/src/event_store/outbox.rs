//! The event log as the outbox (migration 105, `docs/outbox-watermark.md`).
//!
//! An event appended with a topic is published to it; nothing else is written at append. The
//! relay tails the log by position up to a [`Watermark`], a position below which no
//! transaction still in progress can add an event, and records how far it got in one
//! checkpoint row. Events whose delivery failed, and later events of their keys held back
//! behind them (per-key order), wait in `outbox_retries` and go out before anything newer.
//!
//! One relay per database: the checkpoint is not claimed, so two relays would publish
//! everything twice (consumers drop duplicates by event id, but the work is doubled).

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::rows::EventRow;
use super::{RecordedEvent, now};
use crate::connection::DbConnection;
use crate::database::atomically;
use crate::error::StoreError;
use crate::schema::{events, outbox_checkpoints, outbox_retries};

/// The checkpoint row of the relay.
const RELAY: &str = "outbox";

/// An event waiting for the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The event's position in the log.
    pub position: i64,
    pub topic: String,
    /// When the event was recorded, or, for a retry, when it was first queued for one.
    pub created_at: DateTime<Utc>,
    /// Failed deliveries so far (0 for an event not attempted, or held back).
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The row waits in the retries (its delivery failed, or an earlier event of its key
    /// failed), rather than in the log past the checkpoint.
    pub retry: bool,
}

/// One outbox entry: the row and its event.
pub type OutboxEntry = (OutboxRow, RecordedEvent);

/// What the relay did with some entries, recorded by [`outbox_record`] in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxProgress {
    /// The log was handled up to this position: every event with a topic at or below it is
    /// published, or listed in `failed` or `held_back`. The checkpoint never moves back.
    pub through: Option<i64>,
    /// Retries (positions) now delivered: they leave the retries.
    pub delivered_retries: Vec<i64>,
    /// Events not delivered, with the reason: a retry each, its attempts counted.
    pub failed: Vec<(i64, String)>,
    /// Events of a key with a failed event before them: a retry each, after it.
    pub held_back: Vec<i64>,
}

impl OutboxProgress {
    /// Only the checkpoint moves: [`outbox_record`] is then one UPDATE, atomic on its own.
    pub fn is_checkpoint_only(&self) -> bool {
        self.delivered_retries.is_empty() && self.failed.is_empty() && self.held_back.is_empty()
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = outbox_retries)]
struct RetryRecord {
    position: i64,
    attempts: i32,
    last_error: Option<String>,
    queued_at: NaiveDateTime,
}

/// The position the relay has handled the log up to.
pub fn outbox_checkpoint(conn: &mut DbConnection) -> Result<i64, StoreError> {
    outbox_checkpoints::table
        .find(RELAY)
        .select(outbox_checkpoints::position)
        .first::<i64>(conn)
        .optional()?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the outbox has no checkpoint row (outbox_checkpoints, relay '{RELAY}'): insert it with the \
                 last position published, or 0 to publish the whole log"
            ))
        })
}

/// Everything waiting for the relay, as this connection sees it (uncommitted events of its own
/// transaction included, no watermark): up to `limit` retries, then events past the checkpoint.
/// For inspection and tests; the relay reads through [`outbox_retries_after`] and
/// [`outbox_log_after`].
pub fn outbox_pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut entries = outbox_retries_after(conn, 0, limit)?;
    let left = limit - i64::try_from(entries.len()).unwrap_or(i64::MAX);
    if left > 0 {
        let checkpoint = outbox_checkpoint(conn)?;
        entries.extend(outbox_log_after(conn, checkpoint, i64::MAX, left)?);
    }
    Ok(entries)
}

/// Positions one statement of [`outbox_log_after`] reads at most (more when the batch is
/// larger), so that an index or bitmap plan reads a bounded number of rows. On an events table
/// never analyzed yet (a new database, a restore without `ANALYZE`), PostgreSQL guessed that a
/// range of positions holds 0.5 % of the table and, for its first five runs on each connection
/// (custom plans), chose a bitmap scan of the WHOLE range sorted for its first rows: each read
/// of a 200 000-event backlog then read all 200 000 rows and took 106–154 ms instead of a few
/// (`auto_explain`, `fleuve bench relay`, 2026-12-07). A log where few events have a topic
/// costs a statement per window: a full batch where one event in five has one, five.
const LOG_READ_WINDOW: i64 = 1_000;

/// Up to `limit` events with a topic and a position in `(after, up_to]`, in position order.
///
/// Read in windows of positions (`LOG_READ_WINDOW`, or `limit` if larger), one statement
/// each, until `limit` events are found or `up_to` is reached; a stretch of events without a
/// topic costs a statement per window. `up_to` past the newest event (as
/// [`outbox_pending`]'s `i64::MAX`) is cut to it at the first window that finds nothing.
pub fn outbox_log_after(
    conn: &mut DbConnection,
    after: i64,
    up_to: i64,
    limit: i64,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let window = limit.max(LOG_READ_WINDOW);
    let (mut from, mut end, mut end_checked) = (after, up_to, false);
    // Sized once: a batch is thousands of entries of a few hundred bytes, which growing by
    // doubling would copy about twice over.
    let expected = usize::try_from(limit.min(up_to.saturating_sub(after)).clamp(0, 1 << 16)).unwrap_or(0);
    let mut entries = Vec::with_capacity(expected);
    while from < end {
        let left = limit - i64::try_from(entries.len()).unwrap_or(i64::MAX);
        if left <= 0 {
            break;
        }
        let to = end.min(from.saturating_add(window));
        let read = log_range(conn, from, to, left, &mut entries)?;
        if read == 0 && to < end && !end_checked {
            end_checked = true;
            end = end.min(super::last_position(conn)?);
        }
        from = to;
    }
    Ok(entries)
}

/// Appends to `entries` up to `limit` events with a topic and a position in `(after, up_to]`,
/// in position order, read in one statement: a range of the primary key, the events without a
/// topic filtered out. Returns how many it appended.
fn log_range(
    conn: &mut DbConnection,
    after: i64,
    up_to: i64,
    limit: i64,
    entries: &mut Vec<OutboxEntry>,
) -> Result<usize, StoreError> {
    let rows = events::table
        .filter(events::position.gt(after))
        .filter(events::position.le(up_to))
        .filter(events::topic.is_not_null())
        .order(events::position.asc())
        .limit(limit)
        .select((EventRow::as_select(), events::topic))
        .load_iter::<(EventRow, Option<String>), diesel::connection::DefaultLoadingMode>(conn)?;
    let before = entries.len();
    for row in rows {
        let (event, topic) = row?;
        let row = OutboxRow {
            position: event.position,
            topic: topic.unwrap_or_default(),
            created_at: event.recorded_at.and_utc(),
            attempts: 0,
            last_error: None,
            retry: false,
        };
        entries.push((row, RecordedEvent::try_from(event)?));
    }
    Ok(entries.len() - before)
}

/// Up to `limit` retries with a position above `after`, in position order, with their events.
pub fn outbox_retries_after(conn: &mut DbConnection, after: i64, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
    let retries = outbox_retries::table
        .filter(outbox_retries::position.gt(after))
        .order(outbox_retries::position.asc())
        .limit(limit)
        .select(RetryRecord::as_select())
        .load::<RetryRecord>(conn)?;
    if retries.is_empty() {
        return Ok(Vec::new());
    }
    let positions: Vec<i64> = retries.iter().map(|r| r.position).collect();
    let mut found: HashMap<i64, (EventRow, Option<String>)> = events::table
        .filter(events::position.eq_any(&positions))
        .select((EventRow::as_select(), events::topic))
        .load::<(EventRow, Option<String>)>(conn)?
        .into_iter()
        .map(|(event, topic)| (event.position, (event, topic)))
        .collect();
    // A retry without its event (deleted by hand) or without a topic cannot be published: an
    // error naming it, not a silent skip (it would hold its key back for good, unexplained).
    retries
        .into_iter()
        .map(|retry| match found.remove(&retry.position) {
            Some((event, Some(topic))) => {
                let row = OutboxRow {
                    position: retry.position,
                    topic,
                    created_at: retry.queued_at.and_utc(),
                    attempts: retry.attempts,
                    last_error: retry.last_error,
                    retry: true,
                };
                Ok((row, RecordedEvent::try_from(event)?))
            }
            _ => Err(StoreError::Corrupt(format!(
                "outbox retry at position {} has no event with a topic: delete the retry, or restore the event",
                retry.position
            ))),
        })
        .collect()
}

/// Records what the relay did, in one transaction (the caller's, if it is in one): moves the
/// checkpoint forward, removes delivered retries, counts failures and queues held-back events.
pub fn outbox_record(conn: &mut DbConnection, progress: &OutboxProgress) -> Result<(), StoreError> {
    if progress.is_checkpoint_only() {
        // One UPDATE, atomic on its own: the common case, once per batch.
        return advance_checkpoint(conn, progress.through);
    }
    atomically(conn, |conn| {
        advance_checkpoint(conn, progress.through)?;
        if !progress.delivered_retries.is_empty() {
            diesel::delete(outbox_retries::table.filter(outbox_retries::position.eq_any(&progress.delivered_retries)))
                .execute(conn)?;
        }
        let queued: Vec<i64> =
            progress.failed.iter().map(|(p, _)| *p).chain(progress.held_back.iter().copied()).collect();
        let present: HashSet<i64> = outbox_retries::table
            .filter(outbox_retries::position.eq_any(&queued))
            .select(outbox_retries::position)
            .load::<i64>(conn)?
            .into_iter()
            .collect();
        let at = now();
        for (position, error) in &progress.failed {
            if present.contains(position) {
                diesel::update(outbox_retries::table.find(position))
                    .set((
                        outbox_retries::attempts.eq(outbox_retries::attempts + 1),
                        outbox_retries::last_error.eq(Some(error)),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(outbox_retries::table)
                    .values((
                        outbox_retries::position.eq(position),
                        outbox_retries::attempts.eq(1),
                        outbox_retries::last_error.eq(Some(error)),
                        outbox_retries::queued_at.eq(at),
                    ))
                    .execute(conn)?;
            }
        }
        for position in progress.held_back.iter().filter(|p| !present.contains(p)) {
            diesel::insert_into(outbox_retries::table)
                .values((
                    outbox_retries::position.eq(position),
                    outbox_retries::attempts.eq(0),
                    outbox_retries::queued_at.eq(at),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

fn advance_checkpoint(conn: &mut DbConnection, through: Option<i64>) -> Result<(), StoreError> {
    let Some(through) = through else { return Ok(()) };
    diesel::update(outbox_checkpoints::table.find(RELAY).filter(outbox_checkpoints::position.lt(through)))
        .set((outbox_checkpoints::position.eq(through), outbox_checkpoints::updated_at.eq(now())))
        .execute(conn)?;
    Ok(())
}

/// The events waiting to be published (past the checkpoint, and retries) and when the oldest
/// was recorded or queued (`None` when none waits), for the outbox gauges. A watermark held
/// back by a long transaction shows here: the events committed after it wait, and age.
pub fn outbox_backlog(conn: &mut DbConnection) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    use diesel::dsl::{count_star, min};
    let checkpoint = outbox_checkpoint(conn)?;
    let (log, log_oldest) = events::table
        .filter(events::position.gt(checkpoint))
        .filter(events::topic.is_not_null())
        .select((count_star(), min(events::recorded_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    let (retries, retry_oldest) = outbox_retries::table
        .select((count_star(), min(outbox_retries::queued_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    let oldest = log_oldest.into_iter().chain(retry_oldest).min();
    Ok((log + retries, oldest.map(|t| t.and_utc())))
}

/// The position up to which the relay may read the log: every event at or below it is
/// committed, or will never exist.
///
/// On PostgreSQL positions are drawn at insert and become visible at commit, out of order. Each
/// [`Watermark::advance`] reads, in one statement, the write transactions running in this
/// database, then the last position drawn. A position `P` read by one statement was drawn by a
/// transaction that already had its id (migration 105 makes the column's default assign it
/// first): by the next statement it has ended, or it is among those running, all below some
/// id `X`. Once no transaction of this database below `X` is running, every event at or below
/// `P` is committed or never will be: `P` is the watermark. A write transaction of this
/// database that stays open holds the watermark back (the outbox's age gauge and alert show
/// it); read-only transactions, which have no id, and other databases' transactions do not.
///
/// On SQLite one writer at a time draws its positions under the write lock, so they commit in
/// order: every event a reader sees is below every one it does not, and the watermark is the
/// newest committed position.
#[derive(Debug, Default, Clone)]
pub struct Watermark {
    value: i64,
    /// The last position drawn, read by the previous statement, not yet paired with the
    /// transactions running at a later one.
    drawn: Option<i64>,
    /// (position, one past the newest transaction running after it was read), oldest first.
    /// Transaction ids are PostgreSQL's 64-bit `xid8`.
    waiting: VecDeque<(i64, i64)>,
}

/// Pairs waiting for their transactions to end; a newer pair replaces the last one beyond it.
const MAX_WAITING: usize = 64;

/// One reading, in this order: the transactions of this database that have an id (they wrote)
/// and are running, as the oldest and one past the newest id (`i64::MAX` and 0 when none), and
/// then the last position drawn. Ids are widened from the 32-bit `backend_xid` around the
/// 64-bit `xmax` of the statement's snapshot (running ids are within 2^31 of it). The snapshot's
/// `xmax` itself does not bound the running ids: PostgreSQL 14+ sets it one past the latest
/// *completed* id, and a transaction that has an id may be at or above it (seen in the
/// conformance test that 50 writers run, which it failed).
const OBSERVE: &str = "SELECT COALESCE(min(r.xid), 9223372036854775807) AS oldest, COALESCE(max(r.xid) + 1, 0) AS newest, \
     (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM events_position_seq) AS drawn \
     FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) AS x \
     LEFT JOIN LATERAL (SELECT x.xmax + CASE WHEN d.d >= 2147483648 THEN d.d - 4294967296 ELSE d.d END AS xid \
       FROM (SELECT ((t.xid::text::bigint - x.xmax % 4294967296) % 4294967296 + 4294967296) % 4294967296 AS d \
         FROM (SELECT a.backend_xid AS xid FROM pg_stat_get_activity(NULL::integer) AS a \
               WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid() \
               UNION ALL SELECT p.transaction FROM pg_prepared_xacts AS p WHERE p.database = current_database()) AS t \
       ) AS d \
     ) AS r ON true \
     GROUP BY x.xmax";

/// [`OBSERVE`] as a statement diesel prepares once per connection: planned at every poll it
/// cost 0.92–0.95 ms, prepared 0.22–0.24 ms (pgbench, `-M simple` against `-M prepared`).
struct Observe;

impl diesel::query_builder::QueryId for Observe {
    type QueryId = Observe;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for Observe {
    /// (oldest, newest, drawn).
    type SqlType = (diesel::sql_types::BigInt, diesel::sql_types::BigInt, diesel::sql_types::BigInt);
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for Observe {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(OBSERVE);
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for Observe {}

impl Watermark {
    pub fn new() -> Watermark {
        Watermark::default()
    }

    /// The watermark as last advanced.
    pub fn value(&self) -> i64 {
        self.value
    }

    /// The newest position drawn as of the last reading: every event committed before that
    /// reading is at or below it, so the watermark reaching it passes them all.
    pub fn newest_read(&self) -> i64 {
        let waiting = self.waiting.back().map_or(0, |&(position, _)| position);
        self.value.max(waiting).max(self.drawn.unwrap_or(0))
    }

    /// Whether positions were drawn that have not passed yet (their transactions, or others
    /// running beside them, had not ended at the last reading).
    pub fn is_waiting(&self) -> bool {
        self.drawn.is_some() || !self.waiting.is_empty()
    }

    /// Advances the watermark as far as the transactions that ended allow, and returns it:
    /// one statement, or two when new positions were drawn, nothing older waits and no write
    /// transaction was running (a quiet database then passes them at once).
    ///
    /// Call it outside a transaction: PostgreSQL reads the backends' status once per
    /// transaction, so inside one every statement would see the running transactions of its
    /// first (a `StoreError::Task` says so).
    pub fn advance(&mut self, conn: &mut DbConnection) -> Result<i64, StoreError> {
        type Manager = <DbConnection as diesel::Connection>::TransactionManager;
        if <Manager as diesel::connection::TransactionManager<DbConnection>>::transaction_manager_status_mut(conn)
            .transaction_depth()?
            .is_some()
        {
            return Err(StoreError::Task("the outbox watermark is read outside a transaction".into()));
        }
        let DbConnection::Pg(pg) = conn else {
            // The newest committed position: any write in progress draws above it.
            self.value = super::last_position(conn)?;
            return Ok(self.value);
        };
        for _ in 0..2 {
            let (oldest, newest, drawn) = Observe.get_result::<(i64, i64, i64)>(pg)?;
            self.observe(oldest, newest, drawn);
            // A second reading passes a new position at once only if nothing runs; when
            // something ran a moment ago it most likely still does: the next poll will tell.
            if self.drawn.is_none() || !self.waiting.is_empty() || oldest != i64::MAX {
                break;
            }
        }
        Ok(self.value)
    }

    /// One statement's reading: the oldest transaction of this database still running, one
    /// past the newest, then the last position drawn. The position read by the previous
    /// statement waits for every transaction running now (up to `newest`) to end.
    fn observe(&mut self, oldest: i64, newest: i64, drawn: i64) {
        if drawn < self.value || self.waiting.back().is_some_and(|&(position, _)| drawn < position) {
            // The sequence went back: another server (a promoted standby that had not
            // replayed everything, a restored backup). What this one passed says nothing of
            // it: start over, below everything.
            tracing::warn!(
                drawn,
                watermark = self.value,
                "the events' position sequence went back; the outbox watermark starts over"
            );
            *self = Watermark::default();
        }
        if let Some(position) = self.drawn.take() {
            if self.waiting.len() >= MAX_WAITING {
                self.waiting.pop_back();
            }
            self.waiting.push_back((position, newest));
        }
        while let Some(&(position, next_xid)) = self.waiting.front() {
            if next_xid > oldest {
                break;
            }
            self.value = self.value.max(position);
            self.waiting.pop_front();
        }
        if drawn > self.value && self.waiting.back().is_none_or(|&(position, _)| drawn > position) {
            self.drawn = Some(drawn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Watermark;

    #[test]
    fn a_position_passes_once_the_transactions_running_at_the_next_reading_ended() {
        let mut w = Watermark::new();
        // Reading 1: positions up to 10 drawn; the transactions it saw running (100 to 104)
        // were read before 10 was, so they do not vouch for it.
        w.observe(100, 105, 10);
        assert_eq!(w.value, 0);
        // Reading 2, after 10 was read: 100 to 106 run; 100 still does.
        w.observe(100, 107, 12);
        assert_eq!(w.value, 0);
        // Reading 3: everything below 107 ended: 10 passes; 12 waits for those running at
        // reading 3 (up to 109) to end.
        w.observe(107, 110, 12);
        assert_eq!(w.value, 10);
        w.observe(110, 110, 12);
        assert_eq!(w.value, 12);
        // Nothing new drawn: nothing waits.
        w.observe(110, 110, 12);
        assert!(w.drawn.is_none() && w.waiting.is_empty());
    }

    #[test]
    fn a_sequence_that_went_back_starts_the_watermark_over() {
        let mut w = Watermark::new();
        w.observe(i64::MAX, 0, 500);
        w.observe(i64::MAX, 0, 500);
        assert_eq!(w.value, 500);
        // Another server, whose sequence is at 480: nothing it draws from 481 on may pass
        // until proven, so the watermark falls back below everything.
        w.observe(900, 905, 480);
        assert_eq!(w.value, 0);
        w.observe(900, 906, 481);
        assert_eq!(w.value, 0, "transaction 900 still runs");
        w.observe(i64::MAX, 0, 481);
        assert_eq!(w.value, 481);
    }

    #[test]
    fn a_long_transaction_holds_the_watermark_and_the_queue_stays_bounded() {
        let mut w = Watermark::new();
        w.observe(50, 60, 1);
        for i in 0..1_000 {
            // Transaction 50 never ends.
            w.observe(50, 60 + i, 2 + i);
        }
        assert_eq!(w.value, 0);
        assert!(w.waiting.len() <= super::MAX_WAITING);
        // It ends, while transaction 2 000 runs: the readings before it pass (the oldest
        // ones kept; the newest merged into the last slot), the last one waits for 2 000.
        w.observe(2_000, 2_001, 1_001);
        assert!(w.value > 0 && w.value < 1_001, "{}", w.value);
        w.observe(2_001, 2_001, 1_001);
        assert_eq!(w.value, 1_001);
    }
}
