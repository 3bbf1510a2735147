//! The connection type every query runs on: one enum over PostgreSQL and SQLite.
//!
//! This module holds nothing else because the derive expands into a private module that
//! glob-imports this one, and unrelated names here could clash with its generated code.

use diesel::{PgConnection, SqliteConnection};

/// A connection to either backend; queries written once with the diesel DSL run on both.
///
/// Match the variant for the rare backend-specific statement (the store does so only for
/// migrations and for `BEGIN IMMEDIATE` on SQLite).
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}
