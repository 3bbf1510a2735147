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
    /// [`DomainError::Invalid`] for named fields of the request (`equipment.brand`), every
    /// one refused at once: the caller is told which field says what (a `google.rpc.BadRequest`
    /// detail), so a form can mark them all.
    #[error("{}", .0.iter().map(|v| v.description.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<fleuve_mesh::FieldViolation>),
    /// The aggregate's current state refuses the command (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
    /// The aggregate does not exist (NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not issue this command on this aggregate (PERMISSION_DENIED).
    #[error("{0}")]
    Forbidden(String),
    /// What the command would create exists already: a unique name, email or number taken
    /// (ALREADY_EXISTS).
    #[error("{0}")]
    AlreadyExists(String),
    /// The credentials a command presents do not prove who the caller is: identity's login
    /// (UNAUTHENTICATED).
    #[error("{0}")]
    Unauthenticated(String),
}

impl DomainError {
    /// One field refused: `message` about the request field at `field`.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError::InvalidFields(vec![fleuve_mesh::FieldViolation {
            field: field.into(),
            description: message.into(),
        }])
    }
}

/// Collects every refused field of a request, so all of them are reported in one answer:
/// [`Violations::check`] each value, then [`Violations::finish`].
#[derive(Debug, Default)]
pub struct Violations(Vec<fleuve_mesh::FieldViolation>);

impl Violations {
    /// The value, or `None` with the refusal recorded against `field`.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(DomainError::InvalidFields(violations)) => {
                self.0.extend(violations);
                None
            }
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(fleuve_mesh::FieldViolation { field: field.into(), description: message.into() });
    }

    /// `Ok` when nothing was refused, else every refusal in one error.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::InvalidFields(self.0)) }
    }
}

/// The saga (order) id of a participant's message: the step must be there with an id. What a
/// participant needs before it can load the stream the message is about.
pub fn saga_id(step: Option<&fleuve_proto::common::v1::SagaStep>) -> Result<&str, DomainError> {
    identified(step).map(|step| step.saga_id.as_str())
}

/// The step, when it is there with a saga id.
fn identified(
    step: Option<&fleuve_proto::common::v1::SagaStep>,
) -> Result<&fleuve_proto::common::v1::SagaStep, DomainError> {
    let step = step.ok_or_else(|| DomainError::Invalid("saga step is missing".into()))?;
    if step.saga_id.trim().is_empty() {
        return Err(DomainError::Invalid("saga id is missing".into()));
    }
    Ok(step)
}

/// The saga step a participant's command carries, checked: present, with a saga id, and of the
/// `kind` the command answers (a request of another step can never apply).
pub fn saga_step(
    step: Option<&fleuve_proto::common::v1::SagaStep>,
    kind: fleuve_proto::common::v1::SagaStepKind,
) -> Result<fleuve_proto::common::v1::SagaStep, DomainError> {
    let step = identified(step)?;
    if step.kind() != kind {
        return Err(DomainError::Invalid(format!(
            "expected a {} step, got {}",
            kind.as_str_name(),
            step.kind().as_str_name()
        )));
    }
    Ok(step.clone())
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
            DomainError::InvalidFields(violations) => ServiceError::InvalidFields(violations),
            DomainError::Precondition(m) => ServiceError::FailedPrecondition(m),
            DomainError::NotFound(m) => ServiceError::NotFound(m),
            DomainError::Forbidden(m) => ServiceError::PermissionDenied(m),
            DomainError::AlreadyExists(m) => ServiceError::AlreadyExists(m),
            DomainError::Unauthenticated(m) => ServiceError::Unauthenticated(m),
        }
    }
}

impl From<DomainError> for tonic::Status {
    fn from(error: DomainError) -> Self {
        fleuve_mesh::ServiceError::from(error).into()
    }
}

/// Why a command, a query or a saga message failed: the one application error of every
/// service, with one mapping to what a gRPC caller is told ([`fleuve_mesh::ServiceError`]) and
/// one to what the consumer runtime does with a record ([`fleuve_handler::HandlerError`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Service(#[from] fleuve_mesh::ServiceError),
    #[error(transparent)]
    Store(#[from] fleuve_store::StoreError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("stored record cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
    /// Stored data the code cannot read, or a decision the code never produces: a bug, not a
    /// request to refuse. Logged, never shown to the caller.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(message: impl std::fmt::Display) -> AppError {
        AppError::Internal(message.to_string())
    }
}

/// A unique constraint violation: another transaction wrote the same row first.
fn is_unique_violation(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(error, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

impl IsConflict for AppError {
    /// Lost a race with another transaction (the stream moved, or the same row was written
    /// first): loading and deciding again may succeed.
    fn is_conflict(&self) -> bool {
        match self {
            AppError::Store(e) => e.is_conflict(),
            AppError::Database(e) => is_unique_violation(e),
            _ => false,
        }
    }
}

/// UNAVAILABLE for a database that cannot be reached; the cause is logged, not sent.
fn unavailable(cause: &dyn std::fmt::Display) -> fleuve_mesh::ServiceError {
    tracing::warn!(error = %cause, "request failed: database unavailable");
    fleuve_mesh::ServiceError::Unavailable("the database is unavailable; retry".into())
}

impl From<AppError> for fleuve_mesh::ServiceError {
    fn from(error: AppError) -> Self {
        use fleuve_mesh::ServiceError;
        match error {
            AppError::Domain(e) => e.into(),
            AppError::Store(e) if e.is_conflict() => ServiceError::Conflict(e.conflict_advice().unwrap_or_default()),
            AppError::Database(e) if is_unique_violation(&e) => {
                ServiceError::Conflict("a concurrent request wrote the same record; retry".into())
            }
            // The database is down or restarting: worth retrying, not a bug.
            AppError::Store(e) if e.is_unavailable() => unavailable(&e),
            AppError::Database(e) if fleuve_store::is_connection_lost(&e) => unavailable(&e),
            AppError::Service(e) => e,
            other => ServiceError::internal(other),
        }
    }
}

impl From<AppError> for tonic::Status {
    fn from(error: AppError) -> Self {
        fleuve_mesh::ServiceError::from(error).into()
    }
}

impl From<AppError> for fleuve_handler::HandlerError {
    /// In a consumer: a lost race is retried at once on fresh state, database trouble with
    /// backoff (for as long as it lasts when the database is unreachable); a message the domain refuses, or data that cannot be read, can never apply and
    /// is parked.
    fn from(error: AppError) -> Self {
        use fleuve_handler::HandlerError;
        match error {
            AppError::Store(e) => e.into(),
            AppError::Database(e) => e.into(),
            refused => HandlerError::Permanent(refused.to_string()),
        }
    }
}
