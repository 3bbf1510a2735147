//! Conformance suite of the event store: every test runs once on SQLite and once on PostgreSQL.
//!
//! PostgreSQL tests create a throwaway database on `FLEUVE_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); SQLite tests use a temporary file.

mod append;
mod concurrency;
mod database;
mod inbox;
mod outbox;
mod reads;
mod sequence;
mod snapshot;
mod support;

/// Expands to one `#[tokio::test]` per listed test, each handed a fresh database from `$make`.
macro_rules! conformance_suite {
    ($backend:ident, $make:path) => {
        mod $backend {
            conformance_suite!(@tests $make;
                append::new_stream_round_trip,
                append::wrong_expected_version_conflicts,
                append::empty_append_writes_nothing,
                append::duplicate_event_id_is_rejected,
                append::any_appends_after_current_version,
                concurrency::concurrent_appends_at_same_version,
                concurrency::concurrent_first_appends,
                concurrency::concurrent_any_appends_stay_contiguous,
                concurrency::blocked_appender_sees_winner_commit,
                concurrency::sequence_creation_race_waits_for_creator,
                concurrency::two_pools_read_then_write,
                reads::positions_increase_across_streams,
                reads::read_all_pages,
                reads::read_by_type_filters,
                outbox::outbox_rows_follow_events,
                outbox::rolled_back_append_leaves_nothing,
                outbox::the_log_is_read_in_bounded_windows,
                outbox::a_message_is_queued_with_its_append_or_not_at_all,
                outbox::outbox_rows_survive_the_move_to_the_log,
                outbox::writers_committing_out_of_order_are_never_skipped,
                outbox::a_long_transaction_holds_the_watermark_back,
                snapshot::snapshots_save_replace_load,
                snapshot::snapshot_and_tail_load_in_one_statement,
                sequence::sequence_is_gapless_under_concurrency,
                sequence::rolled_back_sequence_is_given_back,
                database::migrate_is_idempotent,
                database::panic_rolls_back_and_pool_recovers,
                database::append_outside_transaction_is_atomic,
                database::prepared_statements_count_rows_and_stay_prepared,
                inbox::inbox_claims_once_and_waits_behind_parked_keys,
                inbox::concurrent_claims_of_one_event,
                inbox::inbox_prunes_rows_past_the_retention_only,
            );
        }
    };
    (@tests $make:path; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() -> anyhow::Result<()> {
                crate::$module::$test($make().await?).await
            }
        )*
    };
}

conformance_suite!(sqlite, crate::support::sqlite);
conformance_suite!(postgres, crate::support::postgres);

/// `sqlite::memory:` keeps one connection, so the database survives between transactions.
#[tokio::test]
async fn sqlite_memory_database_keeps_its_data() -> anyhow::Result<()> {
    let db = fleuve_store::Database::connect("sqlite::memory:", 4)?;
    db.migrate(&[fleuve_store::EVENT_STORE_MIGRATIONS])?;
    let stream = support::stream("memory");
    support::append(&db, &stream, fleuve_store::event_store::ExpectedVersion::NoStream, 2, None).await?;
    let read = support::read_stream(&db, &stream).await?;
    assert_eq!(read.len(), 2);
    Ok(())
}

/// A pooled connection whose server process is gone, as a crash or a restart of PostgreSQL
/// ends them all: the statement that finds out and every later one on that connection
/// (which libpq then refuses to send: diesel's `UnableToSendCommand`) are a lost connection,
/// UNAVAILABLE to a caller, never an internal error; and the pool hands out a live
/// connection next. (A transaction begun on that connection afterwards fails with diesel's
/// `BrokenTransactionManager`, which is left internal: it also means transaction misuse.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_connection_whose_server_process_died_is_unavailable_and_replaced() -> anyhow::Result<()> {
    use diesel::{Connection as _, RunQueryDsl as _};
    use fleuve_store::{DbConnection, StoreError, is_connection_lost};

    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }

    let test = support::postgres().await?;
    let url = test.url().to_owned();
    let errors = test
        .database()
        .run(move |conn| -> anyhow::Result<Vec<diesel::result::Error>> {
            let DbConnection::Pg(pg) = conn else { anyhow::bail!("a PostgreSQL connection") };
            let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(pg)?.pid;
            let mut other = diesel::PgConnection::establish(&url)?;
            // Waits (up to 5 s) until the process has exited.
            #[derive(diesel::QueryableByName)]
            struct Terminated {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                done: bool,
            }
            let terminated = diesel::sql_query(format!("SELECT pg_terminate_backend({pid}, 5000) AS done"))
                .get_result::<Terminated>(&mut other)?;
            anyhow::ensure!(terminated.done, "backend {pid} still running 5 s after pg_terminate_backend");
            let mut errors = Vec::new();
            for _ in 0..2 {
                errors.push(diesel::sql_query("SELECT 1").execute(conn).expect_err("the connection is dead"));
            }
            Ok(errors)
        })
        .await?;
    for error in errors {
        let described = format!("{error:?}");
        assert!(is_connection_lost(&error), "not seen as a lost connection: {described}");
        assert!(StoreError::Database(error).is_unavailable(), "{described}");
    }
    for _ in 0..4 {
        assert!(test.database().answers().await, "the pool replaces the dead connection");
    }
    Ok(())
}
