//! Databases, events as the consumer runtime hands them over, and small polling helpers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_handler::{ConsumedEvent, HandlerError, Projection};
use fleuve_notification::{NotificationProjection, Notifications, Settings};
use fleuve_proto::homologation::v1::{self as pb, certificate_event, dossier_event};
use fleuve_store::testing::TestDatabase;
use prost::Message;

pub async fn sqlite() -> TestDatabase {
    TestDatabase::sqlite(&[fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_notification::MIGRATIONS]).await.unwrap()
}

pub async fn postgres() -> TestDatabase {
    TestDatabase::postgres(&[fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_notification::MIGRATIONS]).await.unwrap()
}

/// Settings with short waits, log channel only.
pub fn quick_settings() -> Settings {
    Settings {
        log: true,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        worker_poll: Duration::from_millis(200),
        scheduler_interval: Duration::from_millis(100),
        watch_poll: Duration::from_millis(200),
        ..Settings::default()
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn consumed(
    topic: &str,
    message: &str,
    kind: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    payload: Vec<u8>,
) -> ConsumedEvent {
    ConsumedEvent {
        topic: topic.to_owned(),
        partition: 0,
        offset: 0,
        key: Some(aggregate_id.to_owned()),
        message: message.to_owned(),
        payload,
        event_id: new_id(),
        event_type: kind.to_owned(),
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        aggregate_version: 1,
        correlation_id: new_id(),
        causation_id: None,
        actor: "system".to_owned(),
        traceparent: None,
        recorded_at: Utc::now(),
    }
}

pub fn dossier_event(dossier_id: &str, kind: &str, event: dossier_event::Event) -> ConsumedEvent {
    let payload = pb::DossierEvent { occurred_at: Some(ts(Utc::now())), event: Some(event) }.encode_to_vec();
    consumed("homologation.dossier.v1", "fleuve.homologation.v1.DossierEvent", kind, "dossier", dossier_id, payload)
}

pub fn certificate_event(number: &str, kind: &str, event: certificate_event::Event) -> ConsumedEvent {
    let payload = pb::CertificateEvent { occurred_at: Some(ts(Utc::now())), event: Some(event) }.encode_to_vec();
    consumed(
        "homologation.certificate.v1",
        "fleuve.homologation.v1.CertificateEvent",
        kind,
        "certificate",
        number,
        payload,
    )
}

pub fn equipment() -> pb::Equipment {
    pb::Equipment {
        brand: "Tecno".into(),
        model: "Spark 20".into(),
        category: pb::EquipmentCategory::MobileTerminal.into(),
        ..Default::default()
    }
}

/// A dossier of `applicant`: its DossierCreated event.
pub fn created(dossier_id: &str, applicant: &str) -> ConsumedEvent {
    dossier_event(
        dossier_id,
        "DossierCreated",
        dossier_event::Event::Created(pb::DossierCreated {
            dossier_id: dossier_id.to_owned(),
            organisation_id: "org-1".to_owned(),
            applicant_id: applicant.to_owned(),
            equipment: Some(equipment()),
        }),
    )
}

pub fn issued(number: &str, dossier_id: &str, valid_until: DateTime<Utc>) -> ConsumedEvent {
    certificate_event(
        number,
        "CertificateIssued",
        certificate_event::Event::Issued(pb::CertificateIssued {
            certificate_number: number.to_owned(),
            dossier_id: dossier_id.to_owned(),
            organisation_id: "org-1".to_owned(),
            equipment: Some(equipment()),
            valid_from: Some(ts(valid_until - chrono::Duration::days(5 * 365))),
            valid_until: Some(ts(valid_until)),
        }),
    )
}

/// Applies `event` as the consumer runtime does: in one transaction, then the after-commit hook.
pub async fn apply(
    db: &TestDatabase,
    projection: &NotificationProjection,
    event: &ConsumedEvent,
) -> Result<(), HandlerError> {
    let p = projection.clone();
    let e = event.clone();
    db.database().transaction(move |conn| p.apply(conn, &e)).await?;
    projection.applied(event).await;
    Ok(())
}

pub fn app(db: &TestDatabase, settings: Settings) -> Notifications {
    Notifications::new(db.database().clone(), settings)
}

/// Rows of a notification table.
pub fn count(db: &TestDatabase, table: &str) -> i64 {
    use fleuve_notification::schema::*;
    let mut conn = db.database().pool().get().unwrap();
    match table {
        "notifications" => notifications::table.count().get_result(&mut *conn).unwrap(),
        "notification_deliveries" => notification_deliveries::table.count().get_result(&mut *conn).unwrap(),
        "notification_reminders" => notification_reminders::table.count().get_result(&mut *conn).unwrap(),
        "notification_certificates" => notification_certificates::table.count().get_result(&mut *conn).unwrap(),
        other => panic!("no table {other}"),
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A shutdown signal for the spawned tasks.
pub fn shutdown() -> (tokio::sync::oneshot::Sender<()>, impl std::future::Future<Output = ()> + Send + 'static) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}
