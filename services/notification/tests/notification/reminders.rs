//! The durable scheduler: reminders 60 and 30 days before the end of validity, fired once,
//! moved by renewals, cancelled by revocation and expiry, and still there after a restart.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_notification::Notifications;
use fleuve_notification::schema::notification_reminders as reminders;
use fleuve_proto::homologation::v1::{self as pb, certificate_event::Event as C};
use fleuve_store::testing::TestDatabase;

use crate::support::*;

type Row = (String, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);

/// (kind, valid_until, due_at, fired_at, cancelled_at) of a certificate's reminders.
fn reminder_rows(db: &TestDatabase, number: &str) -> Vec<Row> {
    let mut conn = db.database().pool().get().unwrap();
    reminders::table
        .filter(reminders::certificate_number.eq(number))
        .order((reminders::valid_until, reminders::due_at))
        .select((
            reminders::kind,
            reminders::valid_until,
            reminders::due_at,
            reminders::fired_at,
            reminders::cancelled_at,
        ))
        .load(&mut *conn)
        .unwrap()
}

/// A certificate of a fresh applicant, issued through the projection.
async fn certificate(db: &TestDatabase, app: &Notifications, number: &str, valid_until: &str) -> String {
    let projection = app.projection();
    let applicant = new_id();
    let dossier = new_id();
    apply(db, &projection, &created(&dossier, &applicant)).await.unwrap();
    apply(db, &projection, &issued(number, &dossier, at(valid_until))).await.unwrap();
    applicant
}

pub async fn scheduled_60_and_30_days_before_and_fired_once(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let applicant = certificate(&db, &app, "ARPCE-2026-0100", "2031-06-30T12:00:00Z").await;

    let rows = reminder_rows(&db, "ARPCE-2026-0100");
    let due: Vec<(String, String)> = rows.iter().map(|r| (r.0.clone(), r.2.to_string())).collect();
    assert_eq!(
        due,
        [
            ("certificate.expiring_60d".to_owned(), "2031-05-01 12:00:00".to_owned()),
            ("certificate.expiring_30d".to_owned(), "2031-05-31 12:00:00".to_owned()),
        ]
    );

    // Before either is due nothing fires.
    let fired = app.fire_due(at("2031-05-01T11:59:59Z")).await.unwrap();
    assert!(fired.notifications.is_empty());

    let fired = app.fire_due(at("2031-05-10T00:00:00Z")).await.unwrap();
    assert_eq!(fired.notifications.len(), 1);
    let sixty = app.get(fired.notifications[0]).await.unwrap().unwrap();
    assert_eq!(sixty.kind, "certificate.expiring_60d");
    assert_eq!(sixty.recipient_id, applicant);
    assert!(sixty.subject.contains("60 days") && sixty.body.contains("2031-06-30"), "{sixty:?}");
    assert_eq!(sixty.references.get("certificate_number").map(String::as_str), Some("ARPCE-2026-0100"));
    assert_eq!(sixty.deliveries.len(), 1);

    // Fired once: the same time again, or later before the 30-day one, fires nothing.
    assert!(app.fire_due(at("2031-05-10T00:00:00Z")).await.unwrap().notifications.is_empty());
    assert!(app.fire_due(at("2031-05-30T00:00:00Z")).await.unwrap().notifications.is_empty());

    let fired = app.fire_due(at("2031-06-15T00:00:00Z")).await.unwrap();
    assert_eq!(fired.notifications.len(), 1);
    assert_eq!(app.get(fired.notifications[0]).await.unwrap().unwrap().kind, "certificate.expiring_30d");
    assert!(app.fire_due(at("2031-06-20T00:00:00Z")).await.unwrap().notifications.is_empty());

    assert_eq!(count(&db, "notifications"), 2);
    assert!(reminder_rows(&db, "ARPCE-2026-0100").iter().all(|r| r.3.is_some() && r.4.is_none()));
}

pub async fn renewal_reschedules(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let projection = app.projection();
    certificate(&db, &app, "ARPCE-2026-0101", "2031-06-30T00:00:00Z").await;
    let renewed = certificate_event(
        "ARPCE-2026-0101",
        "CertificateRenewed",
        C::Renewed(pb::CertificateRenewed { valid_until: Some(ts(at("2036-06-30T00:00:00Z"))) }),
    );
    apply(&db, &projection, &renewed).await.unwrap();
    // Replaying the renewal schedules nothing more.
    apply(&db, &projection, &renewed).await.unwrap();

    let rows = reminder_rows(&db, "ARPCE-2026-0101");
    assert_eq!(rows.len(), 4);
    assert!(rows[..2].iter().all(|r| r.4.is_some()), "old reminders cancelled: {rows:?}");
    assert!(rows[2..].iter().all(|r| r.3.is_none() && r.4.is_none()), "new reminders open: {rows:?}");

    // The old dates pass without a reminder; the new ones fire.
    assert!(app.fire_due(at("2031-06-15T00:00:00Z")).await.unwrap().notifications.is_empty());
    let fired = app.fire_due(at("2036-05-15T00:00:00Z")).await.unwrap();
    assert_eq!(fired.notifications.len(), 1);
    let sixty = app.get(fired.notifications[0]).await.unwrap().unwrap();
    assert!(sixty.body.contains("2036-06-30"), "{}", sixty.body);
}

pub async fn revocation_and_expiry_cancel(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let projection = app.projection();
    let applicant = certificate(&db, &app, "ARPCE-2026-0102", "2031-06-30T00:00:00Z").await;
    let suspended = certificate_event(
        "ARPCE-2026-0102",
        "CertificateSuspended",
        C::Suspended(pb::CertificateSuspended { reason: "market surveillance".into() }),
    );
    let reinstated = certificate_event(
        "ARPCE-2026-0102",
        "CertificateReinstated",
        C::Reinstated(pb::CertificateReinstated { note: "cleared".into() }),
    );
    let revoked = certificate_event(
        "ARPCE-2026-0102",
        "CertificateRevoked",
        C::Revoked(pb::CertificateRevoked { reason: "non-conforming units sold".into() }),
    );
    for event in [&suspended, &reinstated, &revoked] {
        apply(&db, &projection, event).await.unwrap();
    }
    let page = app.list(applicant, None, 10).await.unwrap();
    let kinds: Vec<&str> = page.items.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["certificate.revoked", "certificate.suspended"]);
    assert!(page.items[0].body.contains("non-conforming units sold"));
    assert!(reminder_rows(&db, "ARPCE-2026-0102").iter().all(|r| r.4.is_some()));
    assert!(app.fire_due(at("2031-06-29T00:00:00Z")).await.unwrap().notifications.is_empty());

    // Expiry cancels too.
    certificate(&db, &app, "ARPCE-2026-0103", "2031-06-30T00:00:00Z").await;
    let expired = certificate_event("ARPCE-2026-0103", "CertificateExpired", C::Expired(pb::CertificateExpired {}));
    apply(&db, &projection, &expired).await.unwrap();
    assert!(reminder_rows(&db, "ARPCE-2026-0103").iter().all(|r| r.4.is_some()));
    assert_eq!(count(&db, "notifications"), 2);
}

pub async fn lapsed_reminders_close_without_notifying(db: TestDatabase) {
    let app = app(&db, quick_settings());
    certificate(&db, &app, "ARPCE-2026-0104", "2031-06-30T00:00:00Z").await;
    // The service was down past the end of validity: a warning now would come too late.
    let fired = app.fire_due(at("2031-07-02T00:00:00Z")).await.unwrap();
    assert!(fired.notifications.is_empty());
    assert_eq!(fired.lapsed, 2);
    assert!(app.fire_due(at("2031-07-03T00:00:00Z")).await.unwrap() == Default::default());
    assert_eq!(count(&db, "notifications"), 0);
}

pub async fn scheduler_fires_after_a_restart(db: TestDatabase) {
    // The first instance schedules, then goes away without ever running its scheduler.
    let valid_until = (Utc::now() + chrono::Duration::days(45)).to_rfc3339();
    let applicant = {
        let first = app(&db, quick_settings());
        certificate(&db, &first, "ARPCE-2026-0105", &valid_until).await
    };
    // A new instance on the same database: its scheduler finds the 60-day reminder overdue.
    let second = app(&db, quick_settings());
    let (stop, shutdown) = shutdown();
    let task = second.spawn_scheduler(shutdown);
    let page = eventually("the 60-day reminder", Duration::from_secs(10), || {
        let second = second.clone();
        let applicant = applicant.clone();
        async move { Some(second.list(applicant, None, 10).await.unwrap()).filter(|p| !p.items.is_empty()) }
    })
    .await;
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].kind, "certificate.expiring_60d");
    // Several more rounds fire nothing else (the 30-day one is not due for 15 days).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(count(&db, "notifications"), 1);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("scheduler stops").unwrap();
}
