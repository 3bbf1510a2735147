//! The one place where service errors become gRPC status codes.

use tonic::{Code, Status};

/// One refused request field and why (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request message, protobuf names: `equipment.characteristics[0].name`.
    pub field: String,
    pub description: String,
}

/// Every service's errors end up as one of these; `From<ServiceError> for Status` is the only
/// mapping to gRPC codes in the codebase.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidArgument(String),
    /// Malformed fields, each named by its path in the request (`equipment.brand`,
    /// `equipment.frequency_bands[1]`): INVALID_ARGUMENT with a `google.rpc.BadRequest` detail,
    /// so a form can show each message beside its field.
    #[error("{}", .0.iter().map(|v| v.description.as_str()).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid but the aggregate's state refuses it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Optimistic concurrency: somebody else changed the aggregate first; retry.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an infrastructure failure; the cause is logged, never sent to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }

    pub fn denied(msg: impl Into<String>) -> Self {
        Self::PermissionDenied(msg.into())
    }

    pub fn precondition(msg: impl Into<String>) -> Self {
        Self::FailedPrecondition(msg.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) | Self::InvalidFields(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Conflict(_) => Code::Aborted,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        if let ServiceError::Internal(cause) = &err {
            // The boundary: log the whole chain once, answer opaquely.
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        if let ServiceError::InvalidFields(violations) = &err {
            use tonic_types::{ErrorDetails, StatusExt};
            let details = ErrorDetails::with_bad_request(
                violations
                    .iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field.clone(), v.description.clone()))
                    .collect::<Vec<_>>(),
            );
            return Status::with_error_details(err.code(), err.to_string(), details);
        }
        Status::new(err.code(), err.to_string())
    }
}

/// Shorthand for handler results.
pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn invalid_fields_travel_as_bad_request_details() {
        let error = ServiceError::InvalidFields(vec![
            FieldViolation { field: "equipment.brand".into(), description: "equipment brand is required".into() },
            FieldViolation { field: "equipment.category".into(), description: "equipment category is required".into() },
        ]);
        let status = Status::from(error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "equipment brand is required; equipment category is required");
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("a BadRequest detail");
        let fields: Vec<_> =
            bad_request.field_violations.iter().map(|v| (v.field.as_str(), v.description.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("equipment.brand", "equipment brand is required"),
                ("equipment.category", "equipment category is required")
            ]
        );
    }

    #[test]
    fn a_plain_invalid_argument_has_no_details() {
        let status = Status::from(ServiceError::invalid("page size must be at most 100"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.get_error_details().bad_request().is_none());
    }
}
