//! Notification and delivery rows: recording a notification once per (source, kind) and reading
//! them back with their deliveries.

use fleuve_aggregate::AppError;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_store::DbConnection;
use fleuve_store::event_store::next_sequence;

use crate::domain::{Channel, Delivery, DeliveryStatus, NewNotification, Notification};
use crate::schema::{notification_deliveries as deliveries, notifications};
use crate::time;

/// The fleuve-store counter notification ids come from.
const SEQUENCE: &str = "notification";

pub use fleuve_mesh::page::Page;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = notifications)]
struct NotificationRow {
    notification_id: i64,
    source_id: String,
    kind: String,
    recipient_id: String,
    subject: String,
    body: String,
    refs: String,
    created_at: NaiveDateTime,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
struct DeliveryRow {
    notification_id: i64,
    channel: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    last_error: Option<String>,
    delivered_at: Option<NaiveDateTime>,
}

/// Records `new` with a pending delivery per channel, due at `at`; `None` when a notification
/// of the same source and kind exists. Runs in the caller's transaction.
///
/// The id is taken from the counter last, just before the inserts: on PostgreSQL the counter's
/// row stays locked until commit, which is what orders ids by commit. On PostgreSQL, once the
/// counter exists, the whole record is one statement (`record_pg`).
pub(crate) fn record(
    conn: &mut DbConnection,
    new: &NewNotification,
    channels: &[Channel],
    at: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    let refs = serde_json::to_string(&new.references).unwrap_or_else(|_| "{}".to_owned());
    let at = time::naive(at);
    if let DbConnection::Pg(pg) = conn {
        match record_pg::record(pg, new, &refs, channels, at)? {
            (Some(id), _) => return Ok(Some(id)),
            (None, true) => return Ok(None),
            // The counter does not exist yet: the statements below create it.
            (None, false) => {}
        }
    }
    let existing = notifications::table
        .filter(notifications::source_id.eq(&new.source_id))
        .filter(notifications::kind.eq(&new.kind))
        .select(notifications::notification_id)
        .first::<i64>(conn)
        .optional()?;
    if existing.is_some() {
        return Ok(None);
    }
    let id = next_sequence(conn, SEQUENCE)?;
    diesel::insert_into(notifications::table)
        .values((
            notifications::notification_id.eq(id),
            notifications::source_id.eq(&new.source_id),
            notifications::kind.eq(&new.kind),
            notifications::recipient_id.eq(&new.recipient_id),
            notifications::subject.eq(&new.subject),
            notifications::body.eq(&new.body),
            notifications::refs.eq(&refs),
            notifications::created_at.eq(at),
        ))
        .execute(conn)?;
    for channel in channels {
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::notification_id.eq(id),
                deliveries::channel.eq(channel.as_str()),
                deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(Some(at)),
                deliveries::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(Some(id))
}

/// `recipient`'s notifications older than `before`, newest first.
pub(crate) fn page(
    conn: &mut DbConnection,
    recipient: &str,
    before: Option<i64>,
    size: i64,
) -> Result<Page<Notification>, AppError> {
    let mut query = notifications::table
        .filter(notifications::recipient_id.eq(recipient))
        .order(notifications::notification_id.desc())
        .limit(size + 1)
        .select(NotificationRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(notifications::notification_id.lt(before));
    }
    let mut rows = query.load(conn)?;
    // One extra row was fetched to know whether another page exists.
    let more = rows.len() as i64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(0));
    let next_token = match rows.last() {
        Some(last) if more => last.notification_id.to_string(),
        _ => String::new(),
    };
    Ok(Page { items: with_deliveries(conn, rows)?, next_token })
}

/// Up to `limit` of `recipient`'s notifications after `after`, oldest first.
pub(crate) fn after(
    conn: &mut DbConnection,
    recipient: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Notification>, AppError> {
    let rows = notifications::table
        .filter(notifications::recipient_id.eq(recipient))
        .filter(notifications::notification_id.gt(after))
        .order(notifications::notification_id.asc())
        .limit(limit)
        .select(NotificationRow::as_select())
        .load(conn)?;
    with_deliveries(conn, rows)
}

pub(crate) fn get(conn: &mut DbConnection, id: i64) -> Result<Option<Notification>, AppError> {
    let rows = notifications::table.find(id).select(NotificationRow::as_select()).load(conn)?;
    Ok(with_deliveries(conn, rows)?.pop())
}

/// A delivery due for an attempt: notification id, channel, attempts so far, and the
/// notification (without its deliveries) it sends.
pub(crate) type DueDelivery = (i64, String, i32, Notification);

/// Up to `limit` pending deliveries due at `at`, earliest first, each with its notification,
/// in one statement. On PostgreSQL the rows are locked for the caller's transaction and rows
/// another worker has locked are skipped, so two workers never take the same delivery.
pub(crate) fn due_deliveries(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DueDelivery>, AppError> {
    macro_rules! due {
        () => {
            deliveries::table
                .inner_join(notifications::table)
                .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(deliveries::next_attempt_at.le(at))
                .order((deliveries::next_attempt_at, deliveries::notification_id))
                .limit(limit)
                .select((deliveries::channel, deliveries::attempts, NotificationRow::as_select()))
        };
    }
    let rows: Vec<(String, i32, NotificationRow)> = match conn {
        DbConnection::Pg(pg) => due!().for_update().skip_locked().load(pg)?,
        other => due!().load(other)?,
    };
    rows.into_iter()
        .map(|(channel, attempts, row)| {
            let id = row.notification_id;
            Ok((id, channel, attempts, notification(row, Vec::new())?))
        })
        .collect()
}

fn with_deliveries(conn: &mut DbConnection, rows: Vec<NotificationRow>) -> Result<Vec<Notification>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.notification_id).collect();
    let mut by_id: HashMap<i64, Vec<Delivery>> = HashMap::new();
    if !ids.is_empty() {
        let delivery_rows = deliveries::table
            .filter(deliveries::notification_id.eq_any(&ids))
            .order((deliveries::notification_id, deliveries::channel))
            .select(DeliveryRow::as_select())
            .load(conn)?;
        for row in delivery_rows {
            let id = row.notification_id;
            by_id.entry(id).or_default().push(delivery(row)?);
        }
    }
    rows.into_iter()
        .map(|row| {
            let found = by_id.remove(&row.notification_id).unwrap_or_default();
            notification(row, found)
        })
        .collect()
}

fn notification(row: NotificationRow, deliveries: Vec<Delivery>) -> Result<Notification, AppError> {
    let references: BTreeMap<String, String> = serde_json::from_str(&row.refs)
        .map_err(|e| super::corrupt(row.notification_id, format_args!("references: {e}")))?;
    Ok(Notification {
        id: row.notification_id,
        source_id: row.source_id,
        kind: row.kind,
        recipient_id: row.recipient_id,
        subject: row.subject,
        body: row.body,
        references,
        created_at: time::utc(row.created_at),
        deliveries,
    })
}

fn delivery(row: DeliveryRow) -> Result<Delivery, AppError> {
    let corrupt = |reason: String| super::corrupt(row.notification_id, reason);
    Ok(Delivery {
        channel: Channel::parse(&row.channel).ok_or_else(|| corrupt(format!("unknown channel {:?}", row.channel)))?,
        status: DeliveryStatus::parse(&row.status)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", row.status)))?,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(time::utc),
        last_error: row.last_error,
        delivered_at: row.delivered_at.map(time::utc),
    })
}

/// The PostgreSQL record: ONE statement (a data-modifying CTE, prepared once per connection)
/// looks for a notification of the same source and kind, takes the next id from the counter
/// when there is none (the increment `next_sequence` runs once the counter exists), and inserts
/// the notification and a delivery per channel. One round trip where the generic path makes
/// three and one per channel (the look-up, the counter, the notification, each delivery). The
/// ids stay gapless and in commit order: the counter moves only when the notification is
/// inserted, in the same statement, and its row stays locked until commit.
mod record_pg {
    use chrono::NaiveDateTime;
    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};

    use super::SEQUENCE;
    use crate::domain::{Channel, DeliveryStatus, NewNotification};

    struct RecordQuery<'a> {
        new: &'a NewNotification,
        refs: &'a str,
        at: NaiveDateTime,
        channels: Vec<&'static str>,
        sequence: &'static str,
        pending: &'static str,
    }

    struct RecordQueryId;

    impl QueryId for RecordQuery<'_> {
        type QueryId = RecordQueryId;
        const HAS_STATIC_QUERY_ID: bool = true;
    }

    impl Query for RecordQuery<'_> {
        /// The new notification's id, and whether one of the same source and kind existed.
        type SqlType = (Nullable<BigInt>, Bool);
    }

    impl RunQueryDsl<PgConnection> for RecordQuery<'_> {}

    impl QueryFragment<Pg> for RecordQuery<'_> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
            let new = self.new;
            out.push_sql("WITH dup AS (SELECT 1 FROM notifications WHERE source_id = ");
            out.push_bind_param::<Text, _>(&new.source_id)?;
            out.push_sql(" AND kind = ");
            out.push_bind_param::<Text, _>(&new.kind)?;
            out.push_sql("), seq AS (UPDATE sequences SET value = value + 1 WHERE name = ");
            out.push_bind_param::<Text, _>(&self.sequence)?;
            out.push_sql(
                " AND NOT EXISTS (SELECT 1 FROM dup) RETURNING value), n AS (INSERT INTO notifications \
                 (notification_id, source_id, kind, recipient_id, subject, body, refs, created_at) SELECT value",
            );
            for text in [&new.source_id, &new.kind, &new.recipient_id, &new.subject, &new.body] {
                out.push_sql(", ");
                out.push_bind_param::<Text, _>(text)?;
            }
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&self.refs)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(
                " FROM seq RETURNING notification_id), d AS (INSERT INTO notification_deliveries \
                 (notification_id, channel, status, attempts, next_attempt_at, updated_at) \
                 SELECT n.notification_id, c.channel, ",
            );
            out.push_bind_param::<Text, _>(&self.pending)?;
            out.push_sql(", 0, ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(" FROM n, unnest(");
            out.push_bind_param::<Array<Text>, _>(&self.channels)?;
            out.push_sql("::text[]) AS c(channel)) SELECT (SELECT notification_id FROM n), EXISTS (SELECT 1 FROM dup)");
            Ok(())
        }
    }

    /// The new notification's id (none when one of the same source and kind exists, or when the
    /// counter does not exist yet), and whether one existed.
    pub(super) fn record(
        pg: &mut PgConnection,
        new: &NewNotification,
        refs: &str,
        channels: &[Channel],
        at: NaiveDateTime,
    ) -> QueryResult<(Option<i64>, bool)> {
        RecordQuery {
            new,
            refs,
            at,
            channels: channels.iter().map(|c| c.as_str()).collect(),
            sequence: SEQUENCE,
            pending: DeliveryStatus::Pending.as_str(),
        }
        .get_result(pg)
    }
}
