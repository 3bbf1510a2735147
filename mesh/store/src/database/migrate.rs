//! Applying the migration sets of several crates to one database, in each backend's dialect.

use diesel::RunQueryDsl;
use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::Database;
use crate::connection::DbConnection;
use crate::error::StoreError;

/// One crate's migrations in both dialects.
///
/// Every crate's sets share the `__diesel_schema_migrations` table, so each crate takes its own
/// range of versions (fleuve-store uses `00000000000100_…`). A migration whose SQL is the same
/// for both backends lives once, in `common` (`migrations/common`); the others in the
/// dialect's directory. The two are applied as one list, in version order. A crate whose SQL
/// is all common has no dialect directories (`None`).
pub struct MigrationSet {
    pub name: &'static str,
    pub postgres: Option<EmbeddedMigrations>,
    pub sqlite: Option<EmbeddedMigrations>,
    pub common: Option<EmbeddedMigrations>,
}

impl std::fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationSet").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Key of the PostgreSQL advisory lock that makes concurrent `migrate` calls take turns.
const MIGRATION_LOCK_KEY: i64 = 0x666c_6575_7665; // "fleuve"

impl Database {
    /// Runs the pending migrations of each set, in order, on this database's backend.
    ///
    /// Blocks the calling thread; meant for startup. Several processes may migrate the same
    /// PostgreSQL database at once: they queue on an advisory lock.
    pub fn migrate(&self, sets: &[MigrationSet]) -> Result<(), StoreError> {
        let _writer = self.lock_writes();
        let mut conn = self.pool.get()?;
        match &mut *conn {
            DbConnection::Pg(pg) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(pg)?;
                let applied = sets.iter().try_for_each(|set| apply(pg, set.name, set.source(&set.postgres)));
                let unlocked =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(pg);
                applied?;
                unlocked?;
            }
            DbConnection::Sqlite(sqlite) => {
                for set in sets {
                    apply(sqlite, set.name, set.source(&set.sqlite))?;
                }
            }
        }
        Ok(())
    }
}

impl Database {
    /// The versions of `sets` not yet applied to this database (`set/version`), in order:
    /// empty once the schema is current. Reads only: diesel's own `pending_migrations` would
    /// first create its bookkeeping table, which a process that does not migrate must not do
    /// (nor may need the right to).
    pub fn pending_migrations(&self, sets: &[MigrationSet]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get()?;
        let applied = match &mut *conn {
            DbConnection::Pg(pg) => {
                applied_versions(pg, "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present")
            }
            DbConnection::Sqlite(sqlite) => applied_versions(
                sqlite,
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
                 AND name = '__diesel_schema_migrations') AS present",
            ),
        }?;
        let mut pending = Vec::new();
        for set in sets {
            let source = match &*conn {
                DbConnection::Pg(_) => versions_of::<diesel::pg::Pg>(set.source(&set.postgres)),
                DbConnection::Sqlite(_) => versions_of::<diesel::sqlite::Sqlite>(set.source(&set.sqlite)),
            }
            .map_err(|e| StoreError::Migration(format!("{}: {e}", set.name)))?;
            pending.extend(source.into_iter().filter(|v| !applied.contains(v)).map(|v| format!("{}/{v}", set.name)));
        }
        Ok(pending)
    }
}

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// The versions recorded in diesel's table; none when the table does not exist yet.
fn applied_versions<C>(conn: &mut C, exists: &str) -> Result<std::collections::HashSet<String>, StoreError>
where
    C: diesel::Connection,
    Present: diesel::deserialize::QueryableByName<C::Backend>,
    AppliedVersion: diesel::deserialize::QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery:
        diesel::query_dsl::LoadQuery<'static, C, Present> + diesel::query_dsl::LoadQuery<'static, C, AppliedVersion>,
{
    let present: Vec<Present> = diesel::sql_query(exists).load(conn)?;
    if !present.first().is_some_and(|p| p.present) {
        return Ok(Default::default());
    }
    let rows: Vec<AppliedVersion> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load(conn)?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// The versions a migration source holds, as diesel records them.
fn versions_of<DB: diesel::backend::Backend>(migrations: Merged<'_>) -> diesel::migration::Result<Vec<String>> {
    Ok(MigrationSource::<DB>::migrations(&migrations)?.iter().map(|m| m.name().version().to_string()).collect())
}

#[cfg(feature = "testing")]
impl Database {
    /// Reverts the most recently applied migration of `set` (runs its `down.sql`) and returns
    /// its version. For tests of a migration over existing rows: revert it, write rows of the
    /// old shape, then `migrate` again.
    pub fn revert_last_migration(&self, set: &MigrationSet) -> Result<String, StoreError> {
        let _writer = self.lock_writes();
        let mut conn = self.pool.get()?;
        let reverted = match &mut *conn {
            DbConnection::Pg(pg) => pg.revert_last_migration(set.source(&set.postgres)).map(|v| v.to_string()),
            DbConnection::Sqlite(sqlite) => {
                sqlite.revert_last_migration(set.source(&set.sqlite)).map(|v| v.to_string())
            }
        };
        reverted.map_err(|e| StoreError::Migration(format!("{}: {e}", set.name)))
    }

    /// Reverts the migrations of `set` newest first, down to and including the one whose
    /// version ends with `version`, and returns the versions reverted (for a migration that
    /// is no longer the last).
    pub fn revert_migrations_through(&self, set: &MigrationSet, version: &str) -> Result<Vec<String>, StoreError> {
        let mut reverted = Vec::new();
        loop {
            let last = self.revert_last_migration(set)?;
            let done = last.ends_with(version);
            reverted.push(last);
            if done {
                return Ok(reverted);
            }
        }
    }
}

fn apply<DB, C>(conn: &mut C, name: &str, migrations: Merged<'_>) -> Result<(), StoreError>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
{
    let versions =
        conn.run_pending_migrations(migrations).map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
    for version in versions {
        tracing::info!(set = name, %version, "applied migration");
    }
    Ok(())
}

impl MigrationSet {
    /// The dialect's migrations with the common ones.
    fn source<'a>(&'a self, dialect: &'a Option<EmbeddedMigrations>) -> Merged<'a> {
        Merged { dialect: dialect.as_ref(), common: self.common.as_ref() }
    }
}

/// A dialect's migrations and the common ones as one source, in version order.
/// (`EmbeddedMigrations` is a migration source only by value and is neither `Clone` nor
/// `Copy`; this borrows them from the caller's `MigrationSet`.)
struct Merged<'a> {
    dialect: Option<&'a EmbeddedMigrations>,
    common: Option<&'a EmbeddedMigrations>,
}

impl<DB: diesel::backend::Backend> MigrationSource<DB> for Merged<'_> {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        let mut all = Vec::new();
        for source in [self.dialect, self.common].into_iter().flatten() {
            all.extend(MigrationSource::<DB>::migrations(source)?);
        }
        all.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
        // diesel keys migrations by version: a version in both directories would run once.
        if let Some(pair) = all.windows(2).find(|pair| pair[0].name().version() == pair[1].name().version()) {
            return Err(format!("migration {} is both common and the dialect's", pair[0].name()).into());
        }
        Ok(all)
    }
}
