//! Statements diesel will not keep prepared, kept prepared.
//!
//! Diesel prepares every statement, but keeps (caches per connection) only those it knows to
//! be bounded in number: never an `UPDATE` (its `SET` may skip optional values, so its SQL
//! could take many shapes) nor an `INSERT` of a struct with optional columns. Those are
//! parsed, analysed and planned by PostgreSQL on every execution: in the saga bench, eleven
//! such statements per order, a visible share of the server's CPU (its parser and planner in
//! the profile).
//!
//! [`Prepared`] wraps such a statement whose shapes are few (an update of fixed columns, say)
//! and declares it safe to keep: the connection's cache then keys it by its SQL text (the
//! wrapper has no static query id), so each distinct shape is prepared once per connection and
//! reused. Wrap only statements with a bounded number of shapes: each shape stays prepared on
//! every pooled connection.
//!
//! Two things undo the wrapper, both found by logging the server's statements: running it
//! through [`DbConnection`] (diesel's multi-connection re-wraps the statement), and `execute`
//! (diesel passes the statement on by reference, and a reference asks the statement itself).
//! So [`Prepared`] is for statements that return rows, run on the backend's own connection
//! (`get_result`, `load`); [`execute_prepared`] runs an `UPDATE` or `INSERT` without
//! `RETURNING` on either backend: on PostgreSQL as `WITH changed AS (… RETURNING 1) SELECT
//! count(*) FROM changed`, loaded (so kept prepared), which also gives the rows it changed; on
//! SQLite as diesel runs it (preparing there is an in-process call).

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};

use crate::connection::DbConnection;

/// Executes `query` (an `UPDATE` or `INSERT` with a bounded number of shapes), kept prepared on
/// PostgreSQL; returns the rows it changed. See the module's text.
pub fn execute_prepared<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<usize>
where
    Q: QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId,
{
    match conn {
        DbConnection::Pg(pg) => {
            let changed: i64 = Prepared(Counted(query)).get_result(pg)?;
            Ok(usize::try_from(changed).unwrap_or(0))
        }
        DbConnection::Sqlite(sqlite) => diesel::query_dsl::methods::ExecuteDsl::execute(query, sqlite),
    }
}

/// `WITH changed AS (<statement> RETURNING 1) SELECT count(*) FROM changed`: the statement as a
/// query that returns the rows it changed. It must not have a `RETURNING` clause of its own.
struct Counted<Q>(Q);

impl<Q> Query for Counted<Q> {
    type SqlType = BigInt;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Counted<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("WITH changed AS (");
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" RETURNING 1) SELECT count(*) FROM changed");
        Ok(())
    }
}

/// A statement kept prepared per connection, keyed by its SQL text. See the module's text.
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for Prepared<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}
