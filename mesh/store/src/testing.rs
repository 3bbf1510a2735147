//! Throwaway databases for tests (feature `testing`): a fresh PostgreSQL database or SQLite file,
//! migrated with the given sets and removed on drop.

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::{Backend, Database, MigrationSet, StoreError};

/// Environment variable naming the PostgreSQL server's admin URL.
pub const PG_URL_ENV: &str = "FLEUVE_TEST_PG_URL";
/// Admin URL used when `FLEUVE_TEST_PG_URL` is unset.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Pool size of the `Database` a `TestDatabase` hands out; open another pool on `url()` for more.
const POOL_SIZE: u32 = 8;

/// A migrated database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestDatabase {
    database: Database,
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite { dir: PathBuf },
}

impl TestDatabase {
    /// Creates `fleuve_t_<random>` on the server of `FLEUVE_TEST_PG_URL` and applies `sets`.
    pub async fn postgres(sets: &[MigrationSet]) -> Result<TestDatabase, StoreError> {
        let admin_url = std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let name = format!("fleuve_t_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name);
        blocking(|| {
            let mut admin =
                PgConnection::establish(&admin_url).map_err(|e| StoreError::Connect(format!("{admin_url}: {e}")))?;
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin)?;
            // From here on Drop removes the database, whatever fails next.
            let cleanup = Cleanup::Postgres { admin_url, name };
            let database = Database::connect(&url, POOL_SIZE)?;
            let test = TestDatabase { database, url, cleanup };
            test.database.migrate(sets)?;
            Ok(test)
        })
    }

    /// Creates a SQLite file in a fresh temporary directory and applies `sets`.
    pub async fn sqlite(sets: &[MigrationSet]) -> Result<TestDatabase, StoreError> {
        let dir = std::env::temp_dir().join(format!("fleuve-store-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", dir.join("store.db").display());
        blocking(|| {
            let cleanup = Cleanup::Sqlite { dir };
            let database = Database::connect(&url, POOL_SIZE)?;
            let test = TestDatabase { database, url, cleanup };
            test.database.migrate(sets)?;
            Ok(test)
        })
    }

    /// The migrated database (a pool of 8 connections).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// URL of the database, for `Database::connect` with another pool size or for a service
    /// under test.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.database.backend()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Postgres { admin_url, name } => {
                // FORCE ends the connections still open in pools cloned from this one.
                let dropped = PgConnection::establish(admin_url).map_err(|e| e.to_string()).and_then(|mut admin| {
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .map_err(|e| e.to_string())
                });
                if let Err(error) = dropped {
                    tracing::warn!(database = %name, %error, "cannot drop test database");
                }
            }
            Cleanup::Sqlite { dir } => {
                if let Err(error) = std::fs::remove_dir_all(dir) {
                    tracing::warn!(dir = %dir.display(), %error, "cannot remove test database");
                }
            }
        }
    }
}

/// Runs blocking setup work from an async test: off the scheduler on a multi-thread runtime,
/// inline on a current-thread one (where nothing else is waiting to run during setup).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `admin_url` with its database name replaced by `name`, keeping any query string.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut url = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(with_database("postgresql://u:p@h/db?sslmode=disable", "x"), "postgresql://u:p@h/x?sslmode=disable");
    }
}

/// Runs each listed `async fn(H) -> anyhow::Result<()>` of the calling module twice: on the
/// harness `$sqlite().await?` gives (a fresh SQLite file) and on the one `$postgres().await?`
/// gives (a fresh PostgreSQL database), as `sqlite::name` and `postgres::name` tests.
#[macro_export]
macro_rules! on_both_backends {
    ($sqlite:path, $postgres:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($sqlite().await?).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($postgres().await?).await
                }
            )*
        }
    };
}
