//! Why the domain refused a command; each variant maps to one gRPC status code at the edge.

/// A refused command. Messages are lowercase without trailing punctuation.
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
}
