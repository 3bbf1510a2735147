//! Registry errors and the HTTP status and Confluent `error_code` of each (rendered by `http`).

use axum::http::StatusCode;

/// Everything the registry can refuse; each variant maps onto a Confluent error code so existing
/// serializers (which branch on `error_code`) behave as they would against the real registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("subject '{0}' not found")]
    SubjectNotFound(String),
    #[error("version {version} not found for subject '{subject}'")]
    VersionNotFound { subject: String, version: String },
    #[error("schema not found")]
    SchemaNotFound,
    #[error("schema {0} not found")]
    SchemaIdNotFound(u32),
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    #[error("invalid version '{0}'")]
    InvalidVersion(String),
    #[error("invalid compatibility level '{0}'")]
    InvalidCompatibilityLevel(String),
    #[error(
        "schema being registered is incompatible with an earlier schema for subject '{subject}', details: {details:?}"
    )]
    Incompatible { subject: String, details: Vec<String> },
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// The registry's journal could not be read or written.
    #[error("{0}")]
    Storage(String),
}

impl RegistryError {
    /// The HTTP status and the Confluent `error_code` for this error.
    pub fn codes(&self) -> (StatusCode, u32) {
        match self {
            Self::SubjectNotFound(_) => (StatusCode::NOT_FOUND, 40401),
            Self::VersionNotFound { .. } => (StatusCode::NOT_FOUND, 40402),
            Self::SchemaNotFound | Self::SchemaIdNotFound(_) => (StatusCode::NOT_FOUND, 40403),
            Self::InvalidSchema(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            Self::InvalidVersion(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            Self::InvalidCompatibilityLevel(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            Self::Incompatible { .. } => (StatusCode::CONFLICT, 409),
            Self::MalformedBody(_) => (StatusCode::BAD_REQUEST, 400),
            Self::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50001),
        }
    }
}
