//! The error type of the event store and the helpers that classify diesel errors.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version; the caller should reload and decide again.
    #[error("stream {stream_id} is at version {actual}, expected {expected}")]
    Conflict { stream_id: String, expected: i64, actual: i64 },
    /// An event id was appended before; retried commands land here, not on `Conflict`.
    #[error("event {event_id} was already appended")]
    DuplicateEvent { event_id: String },
    #[error("database error: {0}")]
    Database(#[from] DieselError),
    #[error("connection pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("database task failed: {0}")]
    Task(String),
    /// Stored rows that contradict each other (an outbox retry whose event is gone).
    #[error("inconsistent store: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True for an optimistic concurrency conflict, the error a command handler retries.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// True when the database cannot be reached or dropped the connection (PostgreSQL
    /// restarting, a network cut, no connection free within the pool's timeout): the same
    /// request may succeed later. Callers are told UNAVAILABLE; consumers retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Pool(_) | StoreError::Connect(_) => true,
            StoreError::Database(error) => is_connection_lost(error),
            _ => false,
        }
    }

    /// What a client is told of a conflict (gRPC `ABORTED`); `None` for other errors, which
    /// are internal and not shown.
    pub fn conflict_advice(&self) -> Option<String> {
        match self {
            StoreError::Conflict { stream_id, expected, actual } => Some(format!(
                "{stream_id} changed concurrently: expected version {expected}, found {actual}; reload and retry"
            )),
            _ => None,
        }
    }
}

/// What libpq and PostgreSQL say when the connection is gone or the server cannot serve yet
/// (diesel reports most of them as `DatabaseErrorKind::Unknown`).
const CONNECTION_LOST: &[&str] = &[
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    // What a backend says as PostgreSQL stops at once (`pg_ctl stop -m immediate`) or restarts
    // after another backend crashed (PostgreSQL 14 and later word them so).
    "terminating connection due to immediate shutdown command",
    "terminating connection because of crash of another server process",
    "terminating connection because of unexpected SIGQUIT signal",
    "terminating connection due to crash of another server process",
    "no connection to the server",
    "could not connect to server",
    "connection to server",
    "could not receive data from server",
    "could not send data to server",
    "SSL connection has been closed unexpectedly",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "Connection refused",
    "Connection reset by peer",
    "SSL SYSCALL error",
    "SSL error: unexpected eof",
];

/// True when `error` means the connection to the database is gone or the server cannot
/// serve yet, rather than a refused statement.
pub fn is_connection_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        // `UnableToSendCommand`: libpq could not send the statement, or got no result back
        // (diesel's kind for a failed `PQsendQuery` or a null result), which a dead socket
        // causes and so does a bug (`another command is already in progress`): told apart by
        // what libpq says, as for the errors that carry no SQLSTATE diesel knows.
        DieselError::DatabaseError(DatabaseErrorKind::Unknown | DatabaseErrorKind::UnableToSendCommand, info) => {
            CONNECTION_LOST.iter().any(|phrase| info.message().contains(phrase))
        }
        // The commit failed and so did the rollback: the connection went in between. (Its
        // outcome is unknown; gRPC's UNAVAILABLE says as much for a non-idempotent call.)
        DieselError::RollbackErrorOnCommit { commit_error, rollback_error } => {
            is_connection_lost(commit_error) || is_connection_lost(rollback_error)
        }
        // Not `BrokenTransactionManager`: diesel reports it for a connection used again after
        // an error (a lost connection's first error is classified above) and for transaction
        // misuse, a bug that retrying forever would hide.
        _ => false,
    }
}

/// True when `error` is a unique constraint violation.
pub(crate) fn is_unique_violation(error: &DieselError) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// True when a unique violation came from `events.event_id` rather than `(stream_id, version)`.
///
/// PostgreSQL names the constraint; SQLite only names the columns in its message.
pub(crate) fn is_event_id_violation(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.constraint_name() == Some("events_event_id_key") || info.message().contains("events.event_id")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_refused_statement_is_not() {
        let lost = [
            db_error(DatabaseErrorKind::ClosedConnection, "connection closed"),
            db_error(DatabaseErrorKind::Unknown, "server closed the connection unexpectedly"),
            db_error(DatabaseErrorKind::Unknown, "FATAL: terminating connection due to administrator command"),
            db_error(DatabaseErrorKind::Unknown, "FATAL: the database system is starting up"),
            db_error(DatabaseErrorKind::UnableToSendCommand, "no connection to the server\n"),
            db_error(DatabaseErrorKind::UnableToSendCommand, "could not send data to server: Broken pipe\n"),
            db_error(
                DatabaseErrorKind::Unknown,
                "WARNING: terminating connection because of crash of another server process",
            ),
            db_error(DatabaseErrorKind::Unknown, "SSL SYSCALL error: EOF detected\n"),
        ];
        let on_commit = DieselError::RollbackErrorOnCommit {
            commit_error: Box::new(db_error(DatabaseErrorKind::Unknown, "no connection to the server\n")),
            rollback_error: Box::new(db_error(DatabaseErrorKind::Unknown, "no connection to the server\n")),
        };
        for error in lost.into_iter().chain([on_commit]) {
            assert!(is_connection_lost(&error), "{error}");
            assert!(StoreError::Database(error).is_unavailable());
        }
        for error in [
            db_error(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            db_error(DatabaseErrorKind::Unknown, "syntax error at or near \"SELEC\""),
            db_error(DatabaseErrorKind::UnableToSendCommand, "another command is already in progress\n"),
            DieselError::BrokenTransactionManager,
            DieselError::NotFound,
        ] {
            assert!(!is_connection_lost(&error), "{error}");
        }
        assert!(StoreError::Connect("refused".into()).is_unavailable());
        assert!(!StoreError::Conflict { stream_id: "s".into(), expected: 1, actual: 2 }.is_unavailable());
    }
}
