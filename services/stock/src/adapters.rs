//! Adapters from the outside world to the application layer.

pub mod grpc;
