//! Connection URLs and the r2d2 manager that opens `DbConnection`s for one backend.

use std::path::PathBuf;

use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::connection::DbConnection;
use crate::error::StoreError;

/// What a connection URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Postgres(String),
    SqliteFile(PathBuf),
    SqliteMemory,
}

impl Target {
    /// The database's name for the metrics: the PostgreSQL database or the SQLite file's stem,
    /// never credentials or hosts.
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Postgres(url) => {
                let path = url.split('?').next().unwrap_or(url);
                path.rsplit('/')
                    .next()
                    .filter(|name| !name.is_empty() && !name.contains('@'))
                    .unwrap_or("postgres")
                    .to_owned()
            }
            Target::SqliteFile(path) => {
                path.file_stem().map_or_else(|| "sqlite".to_owned(), |stem| stem.to_string_lossy().into_owned())
            }
            Target::SqliteMemory => "memory".to_owned(),
        }
    }

    /// Accepts `postgres://`, `postgresql://`, `sqlite://<path>`, `sqlite:<path>` and `sqlite::memory:`.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(StoreError::Connect(format!(
                "unsupported database url {url:?}: expected postgres://, postgresql:// or sqlite:"
            )));
        };
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        // Options in a query string are not supported; the connection settings are fixed.
        let path = rest.split('?').next().unwrap_or_default();
        match path {
            "" => Err(StoreError::Connect(format!("database url {url:?} names no sqlite file"))),
            ":memory:" => Ok(Target::SqliteMemory),
            path => Ok(Target::SqliteFile(PathBuf::from(path))),
        }
    }
}

/// Statements run on every new SQLite connection.
///
/// busy_timeout comes first so that switching the journal mode waits instead of failing
/// while another process holds the file.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 30000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON;";

/// Opens connections for one backend.
///
/// diesel's generic `ConnectionManager<DbConnection>` is not used: its `establish` tries every
/// backend in turn and throws away each error, so a PostgreSQL outage would surface as
/// "invalid connection url" and a typo could open a SQLite file named after the URL.
#[derive(Debug, Clone)]
pub struct DbConnectionManager {
    target: Target,
}

impl DbConnectionManager {
    pub(crate) fn new(target: Target) -> DbConnectionManager {
        DbConnectionManager { target }
    }
}

impl r2d2::ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.target {
            Target::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Pg).map_err(diesel::r2d2::Error::ConnectionError)
            }
            Target::SqliteFile(path) => open_sqlite(&path.to_string_lossy()),
            Target::SqliteMemory => open_sqlite(":memory:"),
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // A connection dropped during a panic may still be inside the panicking transaction.
        std::thread::panicking() || conn.is_broken()
    }
}

fn open_sqlite(path: &str) -> Result<DbConnection, diesel::r2d2::Error> {
    use diesel::connection::SimpleConnection;
    let mut conn = SqliteConnection::establish(path).map_err(diesel::r2d2::Error::ConnectionError)?;
    conn.batch_execute(SQLITE_SETUP).map_err(diesel::r2d2::Error::QueryError)?;
    Ok(DbConnection::Sqlite(conn))
}

#[cfg(test)]
mod tests {
    use super::Target;
    use std::path::PathBuf;

    #[test]
    fn parses_the_supported_urls() {
        let pg = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(Target::parse(pg).unwrap(), Target::Postgres(pg.into()));
        let pg = "postgresql://u:p@db/x?sslmode=disable";
        assert_eq!(Target::parse(pg).unwrap(), Target::Postgres(pg.into()));
        assert_eq!(Target::parse("sqlite::memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(
            Target::parse("sqlite:///var/lib/fleuve/a.db").unwrap(),
            Target::SqliteFile(PathBuf::from("/var/lib/fleuve/a.db"))
        );
        assert_eq!(
            Target::parse("sqlite://data/a.db?mode=rwc").unwrap(),
            Target::SqliteFile(PathBuf::from("data/a.db"))
        );
        assert_eq!(Target::parse("sqlite:a.db").unwrap(), Target::SqliteFile(PathBuf::from("a.db")));
        assert!(Target::parse("mysql://x").is_err());
        assert!(Target::parse("sqlite://").is_err());
    }
}
