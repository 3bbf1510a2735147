//! Integration tests of fleuve-order: the order service's transactions and the orchestrator's
//! consumer on real SQLite and PostgreSQL databases, with the replies of stock and billing fed
//! as the consumer runtime would. One test binary keeps link time down.

/// Runs each listed `async fn(Harness) -> anyhow::Result<()>` of the calling module on a
/// fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        fleuve_store::on_both_backends!(crate::support::sqlite, crate::support::postgres; $($name),*);
    };
}

mod orders;
mod saga;
mod support;
