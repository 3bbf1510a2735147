//! The runtime every Fleuve service is assembled from: layered configuration, JSON logs and
//! traces, JWT authentication, the one mapping from errors to gRPC status codes, and the one
//! gRPC server builder that wraps every service in the same layers.

pub mod admin;
pub mod auth;
pub mod config;
pub mod context;
pub mod error;
pub mod grpc;
pub mod page;
pub mod shutdown;
pub mod telemetry;

pub use auth::{Principal, Role};
pub use config::MeshConfig;
pub use context::RequestContext;
pub use error::{FieldViolation, ServiceError};
