//! The fold without a database: version guard, transitions, and agreement with the aggregate.

use chrono::{DateTime, TimeZone, Utc};
use fleuve_aggregate::Aggregate as _;
use fleuve_handler::{ConsumedEvent, HandlerError};
use fleuve_homologation::domain::dossier::Dossier;
use fleuve_proto::common::v1::Money;
use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;
use prost::Message;

use super::{DossierStats, Step, fold};

const ID: &str = "0190a6c4-0000-7000-8000-000000000001";

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, 9, 30, 0).unwrap()
}

fn envelope(day: u32, event: Event) -> pb::DossierEvent {
    pb::DossierEvent {
        occurred_at: Some(prost_types::Timestamp { seconds: at(day).timestamp(), nanos: 0 }),
        event: Some(event),
    }
}

fn consumed(version: i64, envelope: &pb::DossierEvent) -> ConsumedEvent {
    ConsumedEvent {
        topic: "homologation.dossier.v1".into(),
        partition: 0,
        offset: version,
        key: Some(ID.into()),
        message: "fleuve.homologation.v1.DossierEvent".into(),
        payload: envelope.encode_to_vec(),
        event_id: format!("event-{version}"),
        event_type: "Test".into(),
        aggregate_type: "dossier".into(),
        aggregate_id: ID.into(),
        aggregate_version: version,
        correlation_id: "c".into(),
        causation_id: None,
        actor: "tester".into(),
        traceparent: None,
        recorded_at: at(28),
    }
}

fn created() -> Event {
    Event::Created(pb::DossierCreated {
        dossier_id: ID.into(),
        organisation_id: "org-1".into(),
        applicant_id: "applicant-1".into(),
        equipment: Some(pb::Equipment {
            brand: "Acme".into(),
            model: "X1".into(),
            category: pb::EquipmentCategory::RadioEquipment as i32,
            ..Default::default()
        }),
    })
}

fn xaf(amount: i64) -> Option<Money> {
    Some(Money { currency: "XAF".into(), amount })
}

/// Folds `events` (versions 1, 2, ...) from nothing and returns every intermediate row.
fn fold_all(events: &[pb::DossierEvent]) -> Result<Vec<DossierStats>, HandlerError> {
    let mut row = None;
    let mut rows = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let version = i64::try_from(i).unwrap() + 1;
        row = Some(match fold(row, &consumed(version, event), event)? {
            Step::Insert(r) | Step::Update(r) => r,
            Step::Ignore => panic!("event {version} ignored"),
        });
        rows.push(row.clone().unwrap());
    }
    Ok(rows)
}

#[test]
fn creation_inserts_a_draft_row() {
    let event = envelope(1, created());
    let Step::Insert(row) = fold(None, &consumed(1, &event), &event).unwrap() else { panic!("not an insert") };
    assert_eq!(row.dossier_id, ID);
    assert_eq!(row.organisation_id, "org-1");
    assert_eq!(row.category, pb::EquipmentCategory::RadioEquipment as i32);
    assert_eq!(row.status, pb::DossierStatus::Draft as i32);
    assert_eq!(row.created_at, at(1).naive_utc());
    assert_eq!(row.rejection_reasons, "[]");
    assert_eq!(row.version, 1);
}

#[test]
fn an_event_the_row_already_reflects_is_ignored() {
    let rows = fold_all(&[envelope(1, created()), envelope(2, Event::Submitted(pb::DossierSubmitted {}))]).unwrap();
    let row = rows.last().unwrap().clone();
    let late = envelope(3, Event::Withdrawn(pb::DossierWithdrawn { reason: "late".into() }));
    for version in [1, 2] {
        assert_eq!(fold(Some(row.clone()), &consumed(version, &late), &late).unwrap(), Step::Ignore);
    }
}

#[test]
fn a_gap_in_versions_is_permanent() {
    let rows = fold_all(&[envelope(1, created())]).unwrap();
    let event = envelope(2, Event::Submitted(pb::DossierSubmitted {}));
    let error = fold(rows.last().cloned(), &consumed(3, &event), &event).unwrap_err();
    assert!(matches!(&error, HandlerError::Permanent(m) if m.contains("version 1") && m.contains("version 3")));
}

#[test]
fn a_stream_not_starting_with_creation_is_permanent() {
    let event = envelope(2, Event::Submitted(pb::DossierSubmitted {}));
    assert!(matches!(fold(None, &consumed(1, &event), &event), Err(HandlerError::Permanent(_))));
}

#[test]
fn a_payment_in_another_currency_is_permanent() {
    let invoice = pb::Invoice { invoice_number: "F-1".into(), amount: xaf(400_000), issued_at: None };
    let payment = pb::Payment {
        reference: "P".into(),
        amount: Some(Money { currency: "EUR".into(), amount: 400_000 }),
        paid_at: None,
    };
    let result = fold_all(&[
        envelope(1, created()),
        envelope(2, Event::Submitted(pb::DossierSubmitted {})),
        envelope(3, Event::FeeInvoiced(pb::FeeInvoiced { invoice: Some(invoice) })),
        envelope(4, Event::PaymentRecorded(pb::PaymentRecorded { payment: Some(payment) })),
    ]);
    assert!(matches!(result, Err(HandlerError::Permanent(m)) if m.contains("EUR")));
}

/// The statuses the fold derives are the aggregate's, after every event of a long life.
#[test]
fn statuses_follow_the_aggregate() {
    let incomplete = || {
        Event::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
            reason: "photos".into(),
            missing_documents: vec![pb::DocumentKind::Photos as i32],
            reviewer_id: "r".into(),
        })
    };
    let completed = || Event::Completed(pb::DossierCompleted { note: "done".into() });
    let events = [
        envelope(1, created()),
        envelope(2, Event::Submitted(pb::DossierSubmitted {})),
        envelope(3, incomplete()),
        envelope(4, completed()),
        envelope(
            5,
            Event::FeeInvoiced(pb::FeeInvoiced {
                invoice: Some(pb::Invoice {
                    invoice_number: "F-1".into(),
                    amount: xaf(400_000),
                    issued_at: Some(prost_types::Timestamp { seconds: at(5).timestamp(), nanos: 0 }),
                }),
            }),
        ),
        envelope(6, Event::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id: "r".into() })),
        envelope(7, incomplete()),
        envelope(8, completed()),
        envelope(
            9,
            Event::PaymentRecorded(pb::PaymentRecorded {
                payment: Some(pb::Payment { reference: "P".into(), amount: xaf(400_000), paid_at: None }),
            }),
        ),
        envelope(
            10,
            Event::Rejected(pb::DossierRejected { reasons: vec![" no test report ".into()], decided_by: "a".into() }),
        ),
    ];
    let rows = fold_all(&events).unwrap();
    for (i, row) in rows.iter().enumerate() {
        let aggregate = Dossier::replay(&events[..=i]);
        assert_eq!(row.status, aggregate.status as i32, "after event {}", i + 1);
        assert_eq!(row.version, aggregate.version);
    }
    let last = rows.last().unwrap();
    assert_eq!(last.submitted_at, Some(at(2).naive_utc()));
    assert_eq!(last.submitted_month.as_deref(), Some("2025-03"));
    assert_eq!(last.decided_at, Some(at(10).naive_utc()));
    assert_eq!(last.rejection_reasons, r#"["no test report"]"#);
    assert_eq!(
        (last.fee_currency.as_deref(), last.fee_invoiced, last.fee_paid),
        (Some("XAF"), Some(400_000), Some(400_000))
    );
    assert_eq!(last.invoiced_at, Some(at(5).naive_utc()));
    // No paid_at in the payment: the event's time.
    assert_eq!(last.paid_at, Some(at(9).naive_utc()));
}

#[test]
fn sub_microseconds_are_dropped_like_postgresql_does() {
    let mut event = envelope(1, created());
    event.occurred_at = Some(prost_types::Timestamp { seconds: at(1).timestamp(), nanos: 123_456_789 });
    let Step::Insert(row) = fold(None, &consumed(1, &event), &event).unwrap() else { panic!("not an insert") };
    assert_eq!(row.created_at.and_utc().timestamp_subsec_nanos(), 123_456_000);
}
