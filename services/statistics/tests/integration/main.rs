//! Integration tests of fleuve-statistics: the projection, the rebuild and the queries on real
//! SQLite and PostgreSQL databases, and the gRPC adapter. One test binary keeps link time down.

/// Runs each listed `async fn(Harness) -> anyhow::Result<()>` of the calling module on a
/// fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        fleuve_store::on_both_backends!(crate::support::sqlite, crate::support::postgres; $($name),*);
    };
}

mod grpc;
mod projection;
mod rebuild;
mod support;
