//! The notification service against real databases, a real SMTP server (aiosmtpd) and a real
//! HTTP server: every test runs once on SQLite and once on PostgreSQL.
//!
//! PostgreSQL tests create a throwaway database on `FLEUVE_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`); SQLite tests use a temporary file.
//! The SMTP test runs `python -m aiosmtpd` from `${FLEUVE_TOOLS:-~/.cache/fleuve/tools}/venv`
//! (installed by `scripts/test`) and fails when it is missing.

mod delivery;
mod projection;
mod reminders;
mod support;
mod watch;

/// Expands to one `#[tokio::test]` per listed test, each handed a fresh database from `$make`.
macro_rules! on_both_backends {
    ($backend:ident, $make:path) => {
        mod $backend {
            on_both_backends!(@tests $make;
                projection::one_notification_per_relevant_event,
                projection::redelivered_event_does_not_duplicate,
                projection::certificate_before_its_dossier_is_retried,
                projection::other_sources_use_the_same_model,
                reminders::scheduled_60_and_30_days_before_and_fired_once,
                reminders::renewal_reschedules,
                reminders::revocation_and_expiry_cancel,
                reminders::lapsed_reminders_close_without_notifying,
                reminders::scheduler_fires_after_a_restart,
                delivery::smtp_delivers_to_a_real_server,
                delivery::webhook_retries_until_accepted,
                delivery::gives_up_after_max_attempts,
                delivery::two_workers_send_each_delivery_once,
                watch::list_shows_own_notifications_with_deliveries,
                watch::watch_receives_notifications_created_after_it_started,
                watch::watch_sees_notifications_written_by_another_process,
            );
        }
    };
    (@tests $make:path; $($module:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                crate::$module::$test($make().await).await
            }
        )*
    };
}

on_both_backends!(sqlite, crate::support::sqlite);
on_both_backends!(postgres, crate::support::postgres);

/// The topic names are the producers': the homologation events and the order saga's outcomes
/// (`fleuve-order`'s `order.confirmed` and `order.failed`). A rename there must show here.
#[test]
fn consumes_the_homologation_topics_and_the_order_outcomes() {
    use fleuve_handler::Projection;
    let order_outcomes = fleuve_order::topics::PRODUCED
        .into_iter()
        .filter(|(t, _, _)| [fleuve_order::topics::ORDER_CONFIRMED, fleuve_order::topics::ORDER_FAILED].contains(t));
    let app_topics: Vec<(String, String, String)> = fleuve_homologation::app::EVENT_TOPICS
        .into_iter()
        .chain(order_outcomes)
        .map(|(t, m, f)| (t.to_owned(), m.to_owned(), f.to_owned()))
        .collect();
    let db = fleuve_store::Database::connect("sqlite::memory:", 1).unwrap();
    let projection = fleuve_notification::Notifications::new(db, Default::default()).projection();
    let consumed: Vec<(String, String, String)> =
        projection.topics().into_iter().map(|s| (s.topic, s.message, s.file)).collect();
    assert_eq!(consumed, app_topics);
    assert_eq!(projection.name(), "notification");
}
