//! The PostgreSQL append: ONE statement (a data-modifying CTE) claims the stream version,
//! inserts the events and queues their outbox rows. It is a named prepared statement cached
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

/// How the stream row is claimed. EXACT moves it from `expected` to `expected + n`: concurrent
/// appenders queue on its row lock and the losers, re-checking the version under READ
/// COMMITTED, match nothing. NEW inserts it; a concurrent creator makes ON CONFLICT DO NOTHING
/// return no row. Either way no row means a conflict and nothing else is written.
fn claim(kind: u8) -> &'static str {
    match kind {
        NEW => {
            "INSERT INTO streams (stream_id, aggregate_type, version, updated_at) \
             SELECT stream_id, aggregate_type, n, at FROM p ON CONFLICT (stream_id) DO NOTHING RETURNING version"
        }
        EXACT => {
            "UPDATE streams SET version = streams.version + p.n, updated_at = p.at FROM p \
             WHERE streams.stream_id = p.stream_id AND streams.version = p.expected RETURNING streams.version"
        }
        _ => {
            "INSERT INTO streams (stream_id, aggregate_type, version, updated_at) \
             SELECT stream_id, aggregate_type, n, at FROM p ON CONFLICT (stream_id) \
             DO UPDATE SET version = streams.version + EXCLUDED.version, updated_at = EXCLUDED.updated_at \
             RETURNING version"
        }
    }
}

const EVENTS_AND_OUTBOX: &str = "), \
    e AS (INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, event_type, payload, \
                              correlation_id, causation_id, actor, trace_context, recorded_at) \
          SELECT p.stream_id, p.aggregate_type, p.aggregate_id, s.version - p.n + u.ord, u.event_id, u.event_type, \
                 u.payload, p.correlation_id, p.causation_id, p.actor, p.trace_context, p.at \
          FROM p, s, unnest(p.event_ids, p.event_types, p.payloads) WITH ORDINALITY AS u(event_id, event_type, payload, ord) \
          RETURNING position), \
    o AS (INSERT INTO outbox (position, topic, created_at) SELECT e.position, p.topic, p.at FROM e, p WHERE p.topic IS NOT NULL)";

/// The message queued beside the append (see `message.rs`): one event of its per-(topic, key)
/// stream, claimed like an `Any` append, and its outbox row; written only when the append's
/// claim succeeded.
const MESSAGE: &str = ", \
    ms AS (INSERT INTO streams (stream_id, aggregate_type, version, updated_at) \
           SELECT m.stream_id, m.topic, 1, p.at FROM m, p WHERE EXISTS (SELECT 1 FROM s) \
           ON CONFLICT (stream_id) DO UPDATE SET version = streams.version + 1, updated_at = EXCLUDED.updated_at \
           RETURNING version), \
    me AS (INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, event_type, payload, \
                               correlation_id, causation_id, actor, trace_context, recorded_at) \
           SELECT m.stream_id, m.topic, m.key, ms.version, m.event_id, m.event_type, m.payload, \
                  p.correlation_id, p.causation_id, p.actor, p.trace_context, p.at \
           FROM m, ms, p RETURNING position), \
    mo AS (INSERT INTO outbox (position, topic, created_at) SELECT me.position, m.topic, p.at FROM me, m, p) \
    SELECT (SELECT version FROM s), (SELECT min(position) FROM e), (SELECT position FROM me)";

const NO_MESSAGE: &str = " SELECT (SELECT version FROM s), (SELECT min(position) FROM e), NULL::bigint";

/// A message to queue in the append's statement.
pub(super) struct MessagePart<'a> {
    pub stream_id: String,
    pub topic: &'a str,
    pub key: &'a str,
    pub event_id: String,
    pub event_type: &'a str,
    pub payload: &'a [u8],
}

/// The append statement; every value is bound once, in the parameter CTEs `p` (and `m`, the
/// message queued with it, when `MSG`).
struct AppendQuery<'a, const KIND: u8, const MSG: bool> {
    stream_id: &'a str,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    topic: Option<&'a str>,
    count: i64,
    at: chrono::NaiveDateTime,
    expected: i64,
    event_ids: Vec<String>,
    event_types: Vec<&'a str>,
    payloads: Vec<&'a [u8]>,
    meta: &'a EventMetadata,
    message: Option<&'a MessagePart<'a>>,
}

/// One cached statement per claim kind, with or without a message.
struct AppendQueryId<const KIND: u8, const MSG: bool>;

impl<const KIND: u8, const MSG: bool> QueryId for AppendQuery<'_, KIND, MSG> {
    type QueryId = AppendQueryId<KIND, MSG>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const KIND: u8, const MSG: bool> Query for AppendQuery<'_, KIND, MSG> {
    type SqlType = (Nullable<BigInt>, Nullable<BigInt>, Nullable<BigInt>);
}

impl<const KIND: u8, const MSG: bool> RunQueryDsl<PgConnection> for AppendQuery<'_, KIND, MSG> {}

impl<const KIND: u8, const MSG: bool> QueryFragment<Pg> for AppendQuery<'_, KIND, MSG> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH p AS (SELECT ");
        out.push_bind_param::<Text, _>(&self.stream_id)?;
        out.push_sql("::text AS stream_id, ");
        out.push_bind_param::<Text, _>(&self.aggregate_type)?;
        out.push_sql("::text AS aggregate_type, ");
        out.push_bind_param::<Text, _>(&self.aggregate_id)?;
        out.push_sql("::text AS aggregate_id, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.topic)?;
        out.push_sql("::text AS topic, ");
        out.push_bind_param::<BigInt, _>(&self.count)?;
        out.push_sql("::bigint AS n, ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql("::timestamp AS at, ");
        out.push_bind_param::<BigInt, _>(&self.expected)?;
        out.push_sql("::bigint AS expected, ");
        out.push_bind_param::<Array<Text>, _>(&self.event_ids)?;
        out.push_sql("::text[] AS event_ids, ");
        out.push_bind_param::<Array<Text>, _>(&self.event_types)?;
        out.push_sql("::text[] AS event_types, ");
        out.push_bind_param::<Array<Binary>, _>(&self.payloads)?;
        out.push_sql("::bytea[] AS payloads, ");
        out.push_bind_param::<Text, _>(&self.meta.correlation_id)?;
        out.push_sql("::text AS correlation_id, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.meta.causation_id)?;
        out.push_sql("::text AS causation_id, ");
        out.push_bind_param::<Text, _>(&self.meta.actor)?;
        out.push_sql("::text AS actor, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.meta.trace_context)?;
        out.push_sql("::text AS trace_context), ");
        if let Some(m) = self.message.filter(|_| MSG) {
            out.push_sql("m AS (SELECT ");
            out.push_bind_param::<Text, _>(&m.stream_id)?;
            out.push_sql("::text AS stream_id, ");
            out.push_bind_param::<Text, _>(&m.topic)?;
            out.push_sql("::text AS topic, ");
            out.push_bind_param::<Text, _>(&m.key)?;
            out.push_sql("::text AS key, ");
            out.push_bind_param::<Text, _>(&m.event_id)?;
            out.push_sql("::text AS event_id, ");
            out.push_bind_param::<Text, _>(&m.event_type)?;
            out.push_sql("::text AS event_type, ");
            out.push_bind_param::<Binary, _>(&m.payload)?;
            out.push_sql("::bytea AS payload), ");
        }
        out.push_sql("s AS (");
        out.push_sql(claim(KIND));
        out.push_sql(EVENTS_AND_OUTBOX);
        out.push_sql(if MSG { MESSAGE } else { NO_MESSAGE });
        Ok(())
    }
}

impl<'a, const KIND: u8, const MSG: bool> AppendQuery<'a, KIND, MSG> {
    fn run(self, pg: &mut PgConnection) -> QueryResult<(Option<i64>, Option<i64>, Option<i64>)> {
        self.get_result(pg)
    }
}

pub(super) fn append(
    conn: &mut DbConnection,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &EventMetadata,
    outbox_topic: Option<&str>,
) -> Result<AppendOutcome, StoreError> {
    Ok(append_with(conn, stream, expected, events, meta, outbox_topic, None)?.0)
}

/// The append, and `message` queued in the same statement (its position is returned).
pub(super) fn append_with(
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
    macro_rules! query {
        ($kind:expr, $expected:expr) => {{
            macro_rules! with {
                ($msg:expr) => {
                    AppendQuery::<{ $kind }, { $msg }> {
                        stream_id: &stream_id,
                        aggregate_type: &stream.aggregate_type,
                        aggregate_id: &stream.aggregate_id,
                        topic: outbox_topic,
                        count: i64::try_from(events.len()).expect("fewer than 2^63 events"),
                        at: now(),
                        expected: $expected,
                        event_ids: events.iter().map(|e| e.event_id.to_string()).collect(),
                        event_types: events.iter().map(|e| e.event_type.as_str()).collect(),
                        payloads: events.iter().map(|e| e.payload.as_slice()).collect(),
                        meta,
                        message,
                    }
                    .run(pg)
                };
            }
            if message.is_some() { with!(true) } else { with!(false) }
        }};
    }
    let result = match expected {
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => query!(NEW, 0),
        ExpectedVersion::Exact(version) => query!(EXACT, version),
        ExpectedVersion::Any => query!(ANY, 0),
    };
    match result {
        Ok((Some(last_version), first_position, message_position)) => {
            Ok((AppendOutcome { first_position, last_version }, message_position))
        }
        Ok((None, _, _)) => {
            let actual = read::version_of(conn, &stream_id)?;
            Err(conflict(&stream_id, expected, actual))
        }
        Err(error) if is_event_id_violation(&error) => Err(duplicate_event(conn, &error, events)),
        Err(error) => Err(error.into()),
    }
}
