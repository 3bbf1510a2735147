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
}

impl StoreError {
    /// True for an optimistic concurrency conflict, the error a command handler retries.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
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
