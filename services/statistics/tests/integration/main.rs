//! Integration tests of fleuve-statistics: the projection, the rebuild and the queries on real
//! SQLite and PostgreSQL databases, and the gRPC adapter. One test binary keeps link time down.

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

mod grpc;
mod projection;
mod rebuild;
mod support;
