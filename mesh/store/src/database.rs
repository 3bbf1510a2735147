//! `Database`: the pool, the backend it talks to, and running blocking diesel work in transactions.

mod migrate;
mod pool;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};

use crate::connection::DbConnection;
use crate::error::StoreError;

pub use migrate::MigrationSet;
pub use pool::DbConnectionManager;
use pool::Target;

/// The longest a transaction waits for a pooled connection before it fails (unavailable).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection pool behind a `Database`.
pub type Pool = r2d2::Pool<DbConnectionManager>;

/// Which database engine a `Database` or a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Pg(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A pooled database; cloning it is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    backend: Backend,
    /// SQLite has one writer per file: queueing write transactions here is fairer and cheaper
    /// than letting them spin in the busy handler. A std mutex (not tokio's) so the blocking
    /// entry points and `migrate` can take it from any thread, async context or not.
    write_lock: Option<Arc<Mutex<()>>>,
    /// Signalled after each committed transaction of this process, so that the outbox relay
    /// sharing the database handle looks at once instead of at its next poll.
    committed: Arc<tokio::sync::Notify>,
    /// Reports the pool's connections to the metrics while a clone of the database lives.
    _metrics: Arc<fleuve_metrics::Registration>,
}

impl Database {
    /// Opens a pool of at most `max_connections` connections to `url`.
    ///
    /// `url` is `postgres://…`, `postgresql://…`, `sqlite://<path>` (the file and its parent
    /// directory are created) or `sqlite::memory:` (one connection that is never recycled,
    /// since each in-memory connection is its own database). Blocks until one connection is
    /// open, so a bad URL fails here rather than on first use.
    pub fn connect(url: &str, max_connections: u32) -> Result<Database, StoreError> {
        let target = Target::parse(url)?;
        if let Target::SqliteFile(path) = &target
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Connect(format!("cannot create {}: {e}", parent.display())))?;
        }
        let backend = match target {
            Target::Postgres(_) => Backend::Postgres,
            Target::SqliteFile(_) | Target::SqliteMemory => Backend::Sqlite,
        };
        let memory = target == Target::SqliteMemory;
        let label = target.label();
        let manager = DbConnectionManager::new(target);
        // r2d2 would retry a failing URL until its timeout and then report a generic error.
        r2d2::ManageConnection::connect(&manager).map_err(|e| StoreError::Connect(e.to_string()))?;

        let mut builder = r2d2::Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            // How long a transaction waits for a connection: when the database is down, the
            // caller learns it (UNAVAILABLE) within this, not at its own deadline.
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A ping per checkout is a round trip per transaction; broken connections are
            // caught by `has_broken` and by the query that fails on them instead.
            .test_on_check_out(false);
        if memory {
            builder = builder.max_size(1).idle_timeout(None).max_lifetime(None);
        }
        let pool = builder.build(manager)?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let probed = pool.clone();
        let backend_name = match backend {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        };
        let registration = fleuve_metrics::register_pool(label, backend_name, move || {
            let state = probed.state();
            fleuve_metrics::PoolState {
                connections: state.connections,
                idle: state.idle_connections,
                max: probed.max_size(),
            }
        });
        Ok(Database {
            pool,
            backend,
            write_lock,
            committed: Arc::new(tokio::sync::Notify::new()),
            _metrics: Arc::new(registration),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for callers that manage connections themselves.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `f` inside one transaction on a blocking thread; commits on `Ok`, rolls back on `Err`.
    ///
    /// On SQLite the transaction is `BEGIN IMMEDIATE` and queued behind the other write
    /// transactions of this process. Dropping the returned future does not stop `f`: once
    /// started, the transaction runs to its commit or rollback. A panic in `f` rolls back
    /// (the connection is discarded) and resumes in the caller.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    {
        let database = self.clone();
        join(tokio::task::spawn_blocking(move || database.transaction_blocking(f)).await)
    }

    /// Runs `f` on a pooled connection on a blocking thread, without a transaction (for reads).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let database = self.clone();
        join(tokio::task::spawn_blocking(move || database.run_blocking(f)).await)
    }

    /// Whether the database answers a trivial query on a pooled connection now: tells an
    /// outage from a statement that lost its own connection.
    pub async fn answers(&self) -> bool {
        use diesel::RunQueryDsl as _;
        self.run(|conn| diesel::sql_query("SELECT 1").execute(conn).map_err(StoreError::from)).await.is_ok()
    }

    /// `transaction` for plain threads; blocks the calling thread, so never call it on an
    /// async worker.
    pub fn transaction_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError> + From<diesel::result::Error>,
    {
        let _writer = self.lock_writes();
        let mut conn = self.checkout()?;
        take_outbox_written();
        let result = in_transaction(&mut conn, f);
        if take_outbox_written() && result.is_ok() {
            // One stored permit: a relay busy right now drains once more when it is done.
            self.committed.notify_one();
        }
        result
    }

    /// Completes after a transaction of this process committed events to publish (at once if one
    /// did since the last call returned). Wakes the outbox relay; other processes' commits
    /// are seen by its polling. Transactions that queue nothing (read models, the relay's
    /// own marks) do not wake it.
    pub async fn committed(&self) {
        self.committed.notified().await;
    }

    /// `run` for plain threads; blocks the calling thread.
    pub fn run_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError>,
    {
        let mut conn = self.checkout()?;
        take_outbox_written();
        let result = f(&mut conn);
        // Outside a transaction an append commits on its own, whatever `f` returns after it.
        if take_outbox_written() {
            self.committed.notify_one();
        }
        result
    }

    /// A connection from the pool, timed for the metrics (a checkout that found no idle
    /// connection counts as a wait).
    fn checkout(&self) -> Result<r2d2::PooledConnection<DbConnectionManager>, StoreError> {
        let waited = self.pool.state().idle_connections == 0;
        let started = std::time::Instant::now();
        let conn = self.pool.get().map_err(StoreError::from)?;
        fleuve_metrics::metrics().pool_checkout(started.elapsed().as_secs_f64(), waited);
        Ok(conn)
    }

    fn lock_writes(&self) -> Option<MutexGuard<'_, ()>> {
        // The mutex guards no data, so a panic while holding it leaves nothing inconsistent.
        self.write_lock.as_ref().map(|lock| lock.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn join<T, E: From<StoreError>>(joined: Result<Result<T, E>, tokio::task::JoinError>) -> Result<T, E> {
    match joined {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(StoreError::Task(error.to_string()).into()),
    }
}

/// diesel's `Connection::transaction` with `BEGIN IMMEDIATE` on SQLite.
///
/// A deferred SQLite transaction that reads and then writes fails with SQLITE_BUSY, without
/// waiting, when another connection wrote in between; taking the write lock up front makes it
/// wait in the busy handler instead. That also covers writers in other processes, which the
/// in-process mutex cannot see.
fn in_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?,
        DbConnection::Pg(_) => Manager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Runs `f` atomically: inline when the caller already opened a transaction, else in a new one.
pub(crate) fn atomically<T, F>(conn: &mut DbConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    if Manager::transaction_manager_status_mut(conn).transaction_depth()?.is_some() {
        f(conn)
    } else {
        in_transaction(conn, f)
    }
}

thread_local! {
    /// Set by the event store when a statement on this thread appended events to publish; the
    /// transaction (or `run`) that started on this thread reads and clears it, so only
    /// commits with something to relay wake the relay. Each transaction runs on one thread
    /// from start to commit.
    static OUTBOX_WRITTEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes that the current statement appends events to publish (see [`Database::committed`]).
pub(crate) fn outbox_written() {
    OUTBOX_WRITTEN.set(true);
}

fn take_outbox_written() -> bool {
    OUTBOX_WRITTEN.replace(false)
}
