//! Integration tests of fleuve-stock: the saga participant, the commands and queries, the
//! no-oversell guarantee under concurrency and the gRPC adapter, on real SQLite and PostgreSQL
//! databases. One test binary keeps link time down.

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
