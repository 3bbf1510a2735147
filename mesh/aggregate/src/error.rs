//! The one domain error of every service, and what the repository needs to know of a service's
//! application error.

/// A refused command. Messages are lowercase without trailing punctuation, so the edge can
/// show them as they are; each variant maps to one gRPC status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value of the command is malformed whatever the state (INVALID_ARGUMENT; a saga
    /// message that cannot be valid is parked).
    #[error("{0}")]
    Invalid(String),
    /// The aggregate's current state refuses the command (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
    /// The aggregate does not exist (NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not issue this command on this aggregate (PERMISSION_DENIED).
    #[error("{0}")]
    Forbidden(String),
}

/// An error that may be an optimistic concurrency conflict, which [`crate::repository::transact`]
/// answers by running the transaction again on a fresh load.
pub trait IsConflict {
    fn is_conflict(&self) -> bool;
}

impl IsConflict for fleuve_store::StoreError {
    fn is_conflict(&self) -> bool {
        fleuve_store::StoreError::is_conflict(self)
    }
}

/// The one mapping of a refusal to what a caller is told.
impl From<DomainError> for fleuve_mesh::ServiceError {
    fn from(error: DomainError) -> Self {
        use fleuve_mesh::ServiceError;
        match error {
            DomainError::Invalid(m) => ServiceError::InvalidArgument(m),
            DomainError::Precondition(m) => ServiceError::FailedPrecondition(m),
            DomainError::NotFound(m) => ServiceError::NotFound(m),
            DomainError::Forbidden(m) => ServiceError::PermissionDenied(m),
        }
    }
}

impl From<DomainError> for tonic::Status {
    fn from(error: DomainError) -> Self {
        fleuve_mesh::ServiceError::from(error).into()
    }
}
