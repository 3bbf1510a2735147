//! Integration tests of fleuve-billing on real SQLite and PostgreSQL databases: the saga
//! participant driven the way the consumer runtime drives it, concurrent deliveries, the staff
//! commands and queries, and the gRPC adapter. One test binary keeps link time down.

/// Runs each listed `async fn(Harness) -> anyhow::Result<()>` of the calling module on a
/// fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        fleuve_store::on_both_backends!(crate::support::Harness::sqlite, crate::support::Harness::postgres; $($name),*);
    };
}

mod commands;
mod concurrency;
mod grpc;
mod participant;
mod support;
