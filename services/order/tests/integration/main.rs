//! Integration tests of fleuve-order: the order service's transactions and the orchestrator's
//! consumer on real SQLite and PostgreSQL databases, with the replies of stock and billing fed
//! as the consumer runtime would. One test binary keeps link time down.

/// Runs each listed `async fn(TestDatabase) -> anyhow::Result<()>` of the calling module on a
/// fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(crate::support::sqlite().await?).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(crate::support::postgres().await?).await
                }
            )*
        }
    };
}

mod orders;
mod saga;
mod support;
