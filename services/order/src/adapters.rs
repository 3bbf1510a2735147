//! The order service's edges.

pub mod grpc;
