//! fleuve-store: the event store of Fleuve on diesel + r2d2, one code path for PostgreSQL and SQLite.
//!
//! Services run load, decide, append and their own read-model writes in one transaction:
//!
//! ```no_run
//! # async fn demo(db: fleuve_store::Database) -> Result<(), fleuve_store::StoreError> {
//! use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
//! let stream = StreamRef::new("account", "42");
//! db.transaction(move |conn| {
//!     let version = event_store::stream_version(conn, &stream)?;
//!     let event = NewEvent::new("AccountOpened", b"{}".to_vec());
//!     let meta = EventMetadata::new("correlation-1", "alice");
//!     event_store::append(conn, &stream, ExpectedVersion::Exact(version), &[event], &meta, Some("accounts"))
//! })
//! .await?;
//! # Ok(()) }
//! ```

mod connection;
pub mod consumer;
mod database;
mod error;
pub mod event_store;
mod prepared;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use connection::DbConnection;
pub use database::{Backend, Database, DbConnectionManager, MigrationSet, Pool};
pub use error::{StoreError, is_connection_lost};
pub use prepared::{Prepared, execute_prepared};

/// This crate's tables: streams, events, snapshots, the relay's checkpoints and retries, and
/// sequences; inbox and dead letters.
pub const EVENT_STORE_MIGRATIONS: MigrationSet = MigrationSet {
    name: "fleuve-store",
    postgres: Some(diesel_migrations::embed_migrations!("migrations/postgres")),
    sqlite: Some(diesel_migrations::embed_migrations!("migrations/sqlite")),
    common: Some(diesel_migrations::embed_migrations!("migrations/common")),
};
