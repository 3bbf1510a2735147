//! Integration tests of the homologation service against real databases (SQLite and the
//! PostgreSQL of `FLEUVE_TEST_PG_URL`) and the real Redis of `FLEUVE_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`): the public certificate registry, its projection,
//! rebuild and read-through cache.

mod read_through;
mod registry;
mod support;

/// Expands to one `#[tokio::test]` per listed test and backend, each handed a fresh database.
macro_rules! on_both_backends {
    ($($module:ident::$test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() -> anyhow::Result<()> {
                    let db = crate::support::TestDb::sqlite().await?;
                    crate::$module::$test(&db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() -> anyhow::Result<()> {
                    let db = crate::support::TestDb::postgres().await?;
                    crate::$module::$test(&db).await
                }
            )*
        }
    };
}

on_both_backends!(
    registry::lifecycle_is_projected,
    registry::old_versions_are_ignored,
    registry::event_before_issue_is_parked,
    registry::shadow_copy_gives_the_live_rows,
    registry::search_reads_the_registry,
    read_through::verify_reads_through_redis_and_projection_invalidates,
    read_through::verify_is_eventually_consistent,
    read_through::swap_flushes_the_cache,
);
