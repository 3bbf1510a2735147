//! The PostgreSQL append: ONE statement (a data-modifying CTE) claims the stream version and
//! inserts the events, each with the topic it is published to (the log is the outbox). It is a named prepared statement cached
//! per connection (planning it costs as much as running it), so an append is one round trip
//! and, outside an explicit transaction, its own atomic transaction.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text, Timestamp};

use super::append::{conflict, duplicate_event};
use super::{AppendOutcome, EventMetadata, ExpectedVersion, NewEvent, StreamRef, now, read};
use crate::connection::DbConnection;
use crate::error::{StoreError, is_event_id_violation};

const NEW: u8 = 0;
const EXACT: u8 = 1;
const ANY: u8 = 2;

/// The append statement. Values are bound where they are used (a value used twice is bound
/// twice): a parameter CTE joined into every part cost a quarter of the statement's execution
/// (callgrind, `scripts/append-instructions`: 367 000 → 269 000 instructions per single-event
/// append; a one-row INSERT is 53 000). The plan is as small as the work: the stream claim,
/// the event insert and, when `MSG`, the message's claim and event. Events to publish carry
/// their topic; there is no outbox row to write (migration 105).
///
/// The claim (`s`) moves the stream row. EXACT updates it from `expected` to `expected + n`:
/// concurrent appenders queue on its row lock and the losers, re-checking the version under
/// READ COMMITTED, match nothing. NEW inserts it; a concurrent creator makes ON CONFLICT DO
/// NOTHING return no row. Every later part reads from `s`, so when the claim returns no row
/// nothing else is written and the statement returns no row: a conflict.
///
/// `MANY` (more than one event) unnests arrays of the per-event values; one event binds them
/// as scalars, which keeps a function scan and its join out of the hot path.
struct AppendQuery<'a, const KIND: u8, const MSG: bool, const MANY: bool> {
    stream_id: &'a str,
    stream: &'a StreamRef,
    topic: Option<&'a str>,
    count: i64,
    at: chrono::NaiveDateTime,
    expected: i64,
    events: &'a [NewEvent],
    event_ids: Vec<String>,
    /// Filled for `MANY` only.
    event_types: Vec<&'a str>,
    /// Filled for `MANY` only.
    payloads: Vec<&'a [u8]>,
    meta: &'a EventMetadata,
    message: Option<&'a MessagePart<'a>>,
}

/// A message to queue in the append's statement.
pub(super) struct MessagePart<'a> {
    pub stream_id: String,
    pub topic: &'a str,
    pub key: &'a str,
    pub event_id: String,
    pub event_type: &'a str,
    pub payload: &'a [u8],
}

/// One cached statement per claim kind, with or without a message, for one or many events.
struct AppendQueryId<const KIND: u8, const MSG: bool, const MANY: bool>;

impl<const KIND: u8, const MSG: bool, const MANY: bool> QueryId for AppendQuery<'_, KIND, MSG, MANY> {
    type QueryId = AppendQueryId<KIND, MSG, MANY>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const KIND: u8, const MSG: bool, const MANY: bool> Query for AppendQuery<'_, KIND, MSG, MANY> {
    /// The stream's new version, the first event's position and the message's position.
    type SqlType = (BigInt, BigInt, Nullable<BigInt>);
}

impl<const KIND: u8, const MSG: bool, const MANY: bool> RunQueryDsl<PgConnection> for AppendQuery<'_, KIND, MSG, MANY> {}

const EVENT_COLUMNS: &str = "INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, \
     event_type, payload, correlation_id, causation_id, actor, trace_context, recorded_at, topic) SELECT ";

/// Pushes each value as a bind parameter of its SQL type, separated by ", ".
macro_rules! binds {
    ($out:expr; $ty:ty => $value:expr $(, $tys:ty => $values:expr)* $(,)?) => {{
        $out.push_bind_param::<$ty, _>($value)?;
        $( $out.push_sql(", "); $out.push_bind_param::<$tys, _>($values)?; )*
    }};
}

impl<const KIND: u8, const MSG: bool, const MANY: bool> QueryFragment<Pg> for AppendQuery<'_, KIND, MSG, MANY> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let stream = self.stream;
        out.push_sql("WITH s AS (");
        if KIND == EXACT {
            out.push_sql("UPDATE streams SET version = version + ");
            out.push_bind_param::<BigInt, _>(&self.count)?;
            out.push_sql(", updated_at = ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(" WHERE stream_id = ");
            out.push_bind_param::<Text, _>(&self.stream_id)?;
            out.push_sql(" AND version = ");
            out.push_bind_param::<BigInt, _>(&self.expected)?;
        } else {
            out.push_sql("INSERT INTO streams (stream_id, aggregate_type, version, updated_at) VALUES (");
            binds!(out; Text => &self.stream_id, Text => &stream.aggregate_type, BigInt => &self.count, Timestamp => &self.at);
            out.push_sql(") ON CONFLICT (stream_id) ");
            out.push_sql(if KIND == NEW {
                "DO NOTHING"
            } else {
                "DO UPDATE SET version = streams.version + EXCLUDED.version, updated_at = EXCLUDED.updated_at"
            });
        }
        out.push_sql(" RETURNING version), e AS (");
        out.push_sql(EVENT_COLUMNS);
        binds!(out; Text => &self.stream_id, Text => &stream.aggregate_type, Text => &stream.aggregate_id);
        if MANY {
            out.push_sql(", s.version - ");
            out.push_bind_param::<BigInt, _>(&self.count)?;
            out.push_sql(" + u.ord, u.event_id, u.event_type, u.payload, ");
        } else {
            let event = &self.events[0];
            out.push_sql(", s.version, ");
            binds!(out; Text => &self.event_ids[0], Text => &event.event_type, Binary => &event.payload);
            out.push_sql(", ");
        }
        self.push_meta(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.topic)?;
        out.push_sql(" FROM s");
        if MANY {
            out.push_sql(", unnest(");
            out.push_bind_param::<Array<Text>, _>(&self.event_ids)?;
            out.push_sql("::text[], ");
            out.push_bind_param::<Array<Text>, _>(&self.event_types)?;
            out.push_sql("::text[], ");
            out.push_bind_param::<Array<Binary>, _>(&self.payloads)?;
            out.push_sql("::bytea[]) WITH ORDINALITY AS u(event_id, event_type, payload, ord)");
        }
        out.push_sql(" RETURNING position)");
        if let Some(m) = self.message.filter(|_| MSG) {
            // The message's stream is claimed like an `Any` append, only when `s` has a row.
            out.push_sql(", ms AS (INSERT INTO streams (stream_id, aggregate_type, version, updated_at) SELECT ");
            binds!(out; Text => &m.stream_id, Text => &m.topic);
            out.push_sql(", 1, ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(
                " FROM s ON CONFLICT (stream_id) DO UPDATE SET version = streams.version + 1, \
                 updated_at = EXCLUDED.updated_at RETURNING version), me AS (",
            );
            out.push_sql(EVENT_COLUMNS);
            binds!(out; Text => &m.stream_id, Text => &m.topic, Text => &m.key);
            out.push_sql(", ms.version, ");
            binds!(out; Text => &m.event_id, Text => &m.event_type, Binary => &m.payload);
            out.push_sql(", ");
            self.push_meta(&mut out)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&m.topic)?;
            out.push_sql(" FROM ms RETURNING position)");
        }
        // A join, not scalar subqueries: no row at all when the claim matched nothing.
        out.push_sql(match (MANY, MSG) {
            (false, false) => " SELECT s.version, e.position, NULL::bigint FROM s, e",
            (false, true) => " SELECT s.version, e.position, me.position FROM s, e, me",
            (true, false) => " SELECT s.version, min(e.position), NULL::bigint FROM s, e GROUP BY s.version",
            (true, true) => {
                " SELECT s.version, min(e.position), me.position FROM s, e, me GROUP BY s.version, me.position"
            }
        });
        Ok(())
    }
}

impl<'a, const KIND: u8, const MSG: bool, const MANY: bool> AppendQuery<'a, KIND, MSG, MANY> {
    /// Correlation id, causation id, actor, trace context and time, as event columns.
    fn push_meta<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let meta = self.meta;
        binds!(out; Text => &meta.correlation_id, Nullable<Text> => &meta.causation_id, Text => &meta.actor,
            Nullable<Text> => &meta.trace_context, Timestamp => &self.at);
        Ok(())
    }

    fn run(self, pg: &mut PgConnection) -> QueryResult<Option<(i64, i64, Option<i64>)>> {
        self.get_result(pg).optional()
    }
}

/// The append, and `message` queued in the same statement when given (its position is
/// returned).
pub(super) fn append(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
    message: Option<&MessagePart<'_>>,
) -> Result<(AppendOutcome, Option<i64>), StoreError> {
    let DbConnection::Pg(pg) = conn else { unreachable!("the PostgreSQL append runs on PostgreSQL") };
    let stream_id = stream.stream_id();
    let many = events.len() > 1;
    macro_rules! query {
        ($kind:expr, $expected:expr) => {{
            macro_rules! with {
                ($msg:expr, $many:expr) => {
                    AppendQuery::<{ $kind }, { $msg }, { $many }> {
                        stream_id: &stream_id,
                        stream,
                        topic: outbox_topic,
                        count: i64::try_from(events.len()).expect("fewer than 2^63 events"),
                        at: now(),
                        expected: $expected,
                        events,
                        event_ids: events.iter().map(|e| e.event_id.to_string()).collect(),
                        event_types: if $many {
                            events.iter().map(|e| e.event_type.as_str()).collect()
                        } else {
                            Vec::new()
                        },
                        payloads: if $many {
                            events.iter().map(|e| e.payload.as_slice()).collect()
                        } else {
                            Vec::new()
                        },
                        meta,
                        message,
                    }
                    .run(pg)
                };
            }
            match (message.is_some(), many) {
                (false, false) => with!(false, false),
                (false, true) => with!(false, true),
                (true, false) => with!(true, false),
                (true, true) => with!(true, true),
            }
        }};
    }
    let result = match expected {
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => query!(NEW, 0),
        ExpectedVersion::Exact(version) => query!(EXACT, version),
        ExpectedVersion::Any => query!(ANY, 0),
    };
    match result {
        Ok(Some((last_version, first_position, message_position))) => {
            Ok((AppendOutcome { first_position: Some(first_position), last_version }, message_position))
        }
        Ok(None) => {
            let actual = read::version_of(conn, &stream_id)?;
            Err(conflict(&stream_id, expected, actual))
        }
        Err(error) if is_event_id_violation(&error) => Err(duplicate_event(conn, &error, events)),
        Err(error) => Err(error.into()),
    }
}
