//! Why the domain refused a command; each variant maps to one gRPC status code at the edge.

/// A refused command. Messages are lowercase and end without punctuation so the edge can embed
/// them as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// A value of the command is malformed whatever the state (INVALID_ARGUMENT).
    #[error("{0}")]
    Invalid(String),
    /// The aggregate's current state refuses the command (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
    /// The caller may not issue this command on this aggregate (PERMISSION_DENIED).
    #[error("{0}")]
    Forbidden(String),
}
