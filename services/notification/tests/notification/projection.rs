//! Events in, notifications out: one per event that matters, none for the others, none twice.

use std::collections::BTreeMap;

use fleuve_handler::HandlerError;
use fleuve_notification::domain::{Channel, DeliveryStatus, NewNotification};
use fleuve_notification::{Settings, WebhookSettings};
use fleuve_proto::common::v1::Money;
use fleuve_proto::homologation::v1::{self as pb, dossier_event::Event as D};
use fleuve_store::testing::TestDatabase;

use crate::support::*;

pub async fn one_notification_per_relevant_event(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let projection = app.projection();
    let applicant = new_id();
    let dossier = new_id();
    let valid_until = at("2031-03-01T00:00:00Z");
    let events = [
        created(&dossier, &applicant),
        dossier_event(&dossier, "DossierSubmitted", D::Submitted(pb::DossierSubmitted {})),
        dossier_event(
            &dossier,
            "DossierDeclaredIncomplete",
            D::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
                reason: "the test report is unsigned".into(),
                missing_documents: vec![pb::DocumentKind::TestReport.into()],
                reviewer_id: new_id(),
            }),
        ),
        dossier_event(&dossier, "DossierCompleted", D::Completed(pb::DossierCompleted { note: "signed".into() })),
        dossier_event(
            &dossier,
            "FeeInvoiced",
            D::FeeInvoiced(pb::FeeInvoiced {
                invoice: Some(pb::Invoice {
                    invoice_number: "INV-2026-000042".into(),
                    amount: Some(Money { currency: "XAF".into(), amount: 150_000 }),
                    issued_at: None,
                }),
            }),
        ),
        dossier_event(
            &dossier,
            "ReviewerAssigned",
            D::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id: new_id() }),
        ),
        dossier_event(
            &dossier,
            "DossierApproved",
            D::Approved(pb::DossierApproved {
                certificate_number: "ARPCE-2026-0001".into(),
                valid_from: None,
                valid_until: Some(ts(valid_until)),
                decided_by: new_id(),
            }),
        ),
    ];
    for event in &events {
        apply(&db, &projection, event).await.unwrap();
    }
    let other = new_id();
    apply(&db, &projection, &created(&other, &applicant)).await.unwrap();
    apply(
        &db,
        &projection,
        &dossier_event(
            &other,
            "DossierRejected",
            D::Rejected(pb::DossierRejected { reasons: vec!["out-of-band emissions".into()], decided_by: new_id() }),
        ),
    )
    .await
    .unwrap();

    let page = app.list(applicant.clone(), None, 50).await.unwrap();
    let kinds: Vec<&str> = page.items.iter().rev().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["dossier.incomplete", "dossier.payment_due", "dossier.approved", "dossier.rejected"]);
    assert!(page.next_token.is_empty());
    let by_kind = |kind: &str| page.items.iter().find(|n| n.kind == kind).unwrap();

    let incomplete = by_kind("dossier.incomplete");
    assert_eq!(incomplete.recipient_id, applicant);
    assert_eq!(incomplete.source_id, events[2].event_id);
    assert!(incomplete.body.contains("the test report is unsigned"), "{}", incomplete.body);
    assert!(incomplete.body.contains("test report"), "{}", incomplete.body);
    assert!(incomplete.subject.contains("Tecno Spark 20"), "{}", incomplete.subject);
    assert_eq!(incomplete.references.get("dossier_id"), Some(&dossier));

    let due = by_kind("dossier.payment_due");
    assert!(due.body.contains("150000 XAF"), "{}", due.body);
    assert_eq!(due.references.get("invoice_number").map(String::as_str), Some("INV-2026-000042"));

    let approved = by_kind("dossier.approved");
    assert!(approved.body.contains("ARPCE-2026-0001") && approved.body.contains("2031-03-01"), "{}", approved.body);
    assert_eq!(by_kind("dossier.rejected").references.get("dossier_id"), Some(&other));

    // Each notification has one pending delivery per configured channel (log only here).
    for n in &page.items {
        assert_eq!(n.deliveries.len(), 1);
        assert_eq!(n.deliveries[0].channel, Channel::Log);
        assert_eq!(n.deliveries[0].status, DeliveryStatus::Pending);
        assert_eq!(n.deliveries[0].attempts, 0);
    }
    assert_eq!(count(&db, "notifications"), 4);
    // Ids follow commit order.
    let ids: Vec<i64> = page.items.iter().rev().map(|n| n.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

pub async fn redelivered_event_does_not_duplicate(db: TestDatabase) {
    let settings = Settings {
        webhook: Some(WebhookSettings {
            url: "http://127.0.0.1:9/hook".into(),
            secret: None,
            timeout: std::time::Duration::from_secs(1),
        }),
        ..quick_settings()
    };
    let app = app(&db, settings);
    let projection = app.projection();
    let applicant = new_id();
    let dossier = new_id();
    let create = created(&dossier, &applicant);
    let rejected = dossier_event(
        &dossier,
        "DossierRejected",
        D::Rejected(pb::DossierRejected { reasons: vec!["no test report".into()], decided_by: new_id() }),
    );
    let issue = issued("ARPCE-2026-0002", &dossier, at("2031-01-01T00:00:00Z"));
    for event in [&create, &rejected, &issue, &create, &rejected, &issue, &rejected] {
        apply(&db, &projection, event).await.unwrap();
    }
    assert_eq!(count(&db, "notifications"), 1);
    // One delivery per channel: log and webhook.
    assert_eq!(count(&db, "notification_deliveries"), 2);
    assert_eq!(count(&db, "notification_reminders"), 2);
    assert_eq!(count(&db, "notification_certificates"), 1);

    // Another dossier's rejection, once the counter exists (on PostgreSQL, the one-statement
    // path), then its redelivery: one more notification, two more deliveries.
    let other = new_id();
    let other_rejected = dossier_event(
        &other,
        "DossierRejected",
        D::Rejected(pb::DossierRejected { reasons: vec!["no test report".into()], decided_by: new_id() }),
    );
    for event in [&created(&other, &applicant), &other_rejected, &other_rejected] {
        apply(&db, &projection, event).await.unwrap();
    }
    assert_eq!(count(&db, "notifications"), 2);
    assert_eq!(count(&db, "notification_deliveries"), 4);
    let page = app.list(applicant.clone(), None, 10).await.unwrap();
    let ids: Vec<i64> = page.items.iter().map(|n| n.id).collect();
    assert_eq!(ids, [2, 1], "gapless ids, newest first");
    assert!(page.items.iter().all(|n| n.deliveries.len() == 2), "{:?}", page.items);
}

pub async fn certificate_before_its_dossier_is_retried(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let projection = app.projection();
    let dossier = new_id();
    let issue = issued("ARPCE-2026-0003", &dossier, at("2031-01-01T00:00:00Z"));
    match apply(&db, &projection, &issue).await {
        Err(HandlerError::Transient(message)) => assert!(message.contains(&dossier), "{message}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert_eq!(count(&db, "notification_reminders"), 0);
    assert_eq!(count(&db, "notification_certificates"), 0);

    // Once the dossier is known the same event applies.
    apply(&db, &projection, &created(&dossier, &new_id())).await.unwrap();
    apply(&db, &projection, &issue).await.unwrap();
    assert_eq!(count(&db, "notification_reminders"), 2);

    // A record of another message is refused for good.
    let mut stray = issue.clone();
    stray.message = "fleuve.ops.v1.Something".into();
    assert!(matches!(apply(&db, &projection, &stray).await, Err(HandlerError::Permanent(_))));
}

pub async fn other_sources_use_the_same_model(db: TestDatabase) {
    let app = app(&db, quick_settings());
    let customer = new_id();
    let order = new_id();
    let new = NewNotification {
        source_id: format!("event-{order}"),
        kind: "order.confirmed".into(),
        recipient_id: customer.clone(),
        subject: "Order confirmed".into(),
        body: "Your order is confirmed.".into(),
        references: BTreeMap::from([("order_id".to_owned(), order.clone())]),
    };
    let first = app.notify(new.clone()).await.unwrap();
    assert!(first.is_some());
    assert_eq!(app.notify(new).await.unwrap(), None);
    let stored = app.get(first.unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.kind, "order.confirmed");
    assert_eq!(stored.recipient_id, customer);
    assert_eq!(stored.references.get("order_id"), Some(&order));
    assert_eq!(stored.deliveries.len(), 1);
}
