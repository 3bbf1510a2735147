//! A realistic year of dossiers as the homologation service would publish them, and helpers
//! to feed them through a projection the way the consumer runtime does.

use chrono::{DateTime, Utc};
use fleuve_handler::{ConsumedEvent, HandlerError};
use fleuve_mesh::{Principal, Role};
use fleuve_proto::common::v1::Money;
use fleuve_proto::homologation::v1 as pb;
use fleuve_statistics::MIGRATIONS;
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, DbConnection};
use pb::EquipmentCategory as Category;
use pb::dossier_event::Event;
use prost::Message;

pub async fn sqlite() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::sqlite(&[MIGRATIONS]).await?)
}

pub async fn postgres() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::postgres(&[MIGRATIONS]).await?)
}

pub fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("test time").with_timezone(&Utc)
}

pub fn principal(role: Role) -> Principal {
    Principal { subject: format!("{}-1", role.as_str()), role, organisation_id: "org-regulator".into(), expires_at: 0 }
}

/// When the figures of the scenario are taken.
pub const NOW: &str = "2025-06-30T12:00:00Z";

/// One dossier's events, oldest first.
pub struct Life {
    id: String,
    events: Vec<(DateTime<Utc>, Event)>,
}

pub fn dossier_id(n: u8) -> String {
    format!("0197a000-0000-7000-8000-0000000000{n:02}")
}

fn life(n: u8, category: Category, created: &str) -> Life {
    let id = dossier_id(n);
    let event = Event::Created(pb::DossierCreated {
        dossier_id: id.clone(),
        organisation_id: format!("org-{}", n % 3),
        applicant_id: format!("applicant-{n}"),
        equipment: Some(pb::Equipment {
            brand: "Acme".into(),
            model: format!("M{n}"),
            category: category as i32,
            ..Default::default()
        }),
    });
    Life { id, events: vec![(time(created), event)] }
}

fn xaf(amount: i64) -> Option<Money> {
    Some(Money { currency: "XAF".into(), amount })
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

impl Life {
    fn then(mut self, at: &str, event: Event) -> Life {
        self.events.push((time(at), event));
        self
    }

    fn document(self, at: &str) -> Life {
        let document = pb::Document { document_id: format!("doc-{at}"), kind: 1, ..Default::default() };
        self.then(at, Event::DocumentAttached(pb::DocumentAttached { document: Some(document) }))
    }

    fn submit(self, at: &str) -> Life {
        self.then(at, Event::Submitted(pb::DossierSubmitted {}))
    }

    fn invoice(self, at: &str, amount: i64) -> Life {
        let invoice =
            pb::Invoice { invoice_number: format!("F-{}", self.id), amount: xaf(amount), issued_at: ts(time(at)) };
        self.then(at, Event::FeeInvoiced(pb::FeeInvoiced { invoice: Some(invoice) }))
    }

    fn pay(self, at: &str, amount: i64) -> Life {
        let payment = pb::Payment { reference: format!("P-{}", self.id), amount: xaf(amount), paid_at: ts(time(at)) };
        self.then(at, Event::PaymentRecorded(pb::PaymentRecorded { payment: Some(payment) }))
    }

    fn assign(self, at: &str) -> Life {
        self.then(at, Event::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id: "reviewer-1".into() }))
    }

    fn incomplete(self, at: &str) -> Life {
        self.then(
            at,
            Event::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
                reason: "photos missing".into(),
                missing_documents: vec![pb::DocumentKind::Photos as i32],
                reviewer_id: "reviewer-1".into(),
            }),
        )
    }

    fn complete(self, at: &str) -> Life {
        self.then(at, Event::Completed(pb::DossierCompleted { note: "attached".into() }))
    }

    fn review(self, at: &str) -> Life {
        let report =
            pb::TestReport { laboratory: "Lab".into(), report_number: "R1".into(), passed: true, ..Default::default() };
        let opinion = pb::TechnicalOpinion { favorable: true, comments: "ok".into(), reviewer_id: "reviewer-1".into() };
        self.then(at, Event::TestReportRecorded(pb::TestReportRecorded { report: Some(report) }))
            .then(at, Event::TechnicalOpinionGiven(pb::TechnicalOpinionGiven { opinion: Some(opinion) }))
    }

    fn approve(self, at: &str) -> Life {
        let t = time(at);
        self.then(
            at,
            Event::Approved(pb::DossierApproved {
                certificate_number: "ARPCE-2025-0001".into(),
                valid_from: ts(t),
                valid_until: ts(t + chrono::TimeDelta::days(5 * 365)),
                decided_by: "admin-1".into(),
            }),
        )
    }

    fn reject(self, at: &str, reasons: &[&str]) -> Life {
        let reasons = reasons.iter().map(|r| (*r).to_owned()).collect();
        self.then(at, Event::Rejected(pb::DossierRejected { reasons, decided_by: "admin-1".into() }))
    }

    fn withdraw(self, at: &str) -> Life {
        self.then(at, Event::Withdrawn(pb::DossierWithdrawn { reason: "product discontinued".into() }))
    }
}

/// The scenario's ten dossiers. Figures at `NOW` with the 60-day deadline:
///
/// | # | category  | submitted  | outcome                         | days | fee (XAF)      |
/// |---|-----------|------------|---------------------------------|------|----------------|
/// | 1 | mobile    | 2025-01-10 | approved 02-19                  | 40   | 250 000 paid   |
/// | 2 | radio     | 2025-01-20 | approved 04-10                  | 80   | 400 000 paid   |
/// | 3 | network   | 2025-02-05 | incomplete, completed, rejected | 30   | 750 000 unpaid |
/// | 4 | mobile    | 2025-02-14 | rejected 03-16                  | 30   | -              |
/// | 5 | satellite | 2025-03-03 | under review (open, overdue)    |      | 500 000 paid   |
/// | 6 | mobile    | 2025-06-01 | submitted (open)                |      | -              |
/// | 7 | radio     | 2025-03-20 | withdrawn 04-01                 |      | -              |
/// | 8 | mobile    | never      | draft                           |      | -              |
/// | 9 | network   | 2025-05-05 | incomplete (open, 56 days)      |      | 750 000 unpaid |
/// |10 | radio     | 2025-04-01 | approved 05-31 (exactly 60)     | 60   | 400 000 paid   |
pub fn scenario() -> Vec<Life> {
    vec![
        life(1, Category::MobileTerminal, "2025-01-08T10:00:00Z")
            .document("2025-01-09T10:00:00Z")
            .submit("2025-01-10T09:00:00Z")
            .invoice("2025-01-11T09:00:00Z", 250_000)
            .pay("2025-01-15T09:00:00Z", 250_000)
            .assign("2025-01-16T09:00:00Z")
            .review("2025-02-10T09:00:00Z")
            .approve("2025-02-19T09:00:00Z"),
        life(2, Category::RadioEquipment, "2025-01-19T10:00:00Z")
            .submit("2025-01-20T09:00:00Z")
            .invoice("2025-01-21T09:00:00Z", 400_000)
            .assign("2025-01-22T09:00:00Z")
            .pay("2025-02-01T09:00:00Z", 400_000)
            .review("2025-04-01T09:00:00Z")
            .approve("2025-04-10T09:00:00Z"),
        life(3, Category::NetworkEquipment, "2025-02-01T10:00:00Z")
            .submit("2025-02-05T09:00:00Z")
            .incomplete("2025-02-06T09:00:00Z")
            .document("2025-02-10T09:00:00Z")
            .complete("2025-02-10T10:00:00Z")
            .invoice("2025-02-11T09:00:00Z", 750_000)
            .reject("2025-03-07T09:00:00Z", &["no test report", "incomplete technical datasheet"]),
        life(4, Category::MobileTerminal, "2025-02-13T10:00:00Z")
            .submit("2025-02-14T09:00:00Z")
            .reject("2025-03-16T09:00:00Z", &["no test report"]),
        life(5, Category::SatelliteTerminal, "2025-03-01T10:00:00Z")
            .submit("2025-03-03T09:00:00Z")
            .invoice("2025-03-04T09:00:00Z", 500_000)
            .pay("2025-03-05T09:00:00Z", 500_000)
            .assign("2025-03-06T09:00:00Z"),
        life(6, Category::MobileTerminal, "2025-05-30T10:00:00Z").submit("2025-06-01T09:00:00Z"),
        life(7, Category::RadioEquipment, "2025-03-19T10:00:00Z")
            .submit("2025-03-20T09:00:00Z")
            .withdraw("2025-04-01T08:00:00Z"),
        life(8, Category::MobileTerminal, "2025-06-15T10:00:00Z").document("2025-06-16T10:00:00Z"),
        life(9, Category::NetworkEquipment, "2025-05-04T10:00:00Z")
            .submit("2025-05-05T09:00:00Z")
            .invoice("2025-05-06T09:00:00Z", 750_000)
            .incomplete("2025-05-07T09:00:00Z"),
        life(10, Category::RadioEquipment, "2025-03-30T10:00:00Z")
            .submit("2025-04-01T09:00:00Z")
            .invoice("2025-04-02T09:00:00Z", 400_000)
            .pay("2025-04-03T09:00:00Z", 400_000)
            .assign("2025-04-04T09:00:00Z")
            .review("2025-05-20T09:00:00Z")
            .approve("2025-05-31T09:00:00Z"),
    ]
}

/// Every event of `lives` as the consumer receives it: versions 1, 2, ... per dossier, all
/// dossiers interleaved in time order.
pub fn events(lives: &[Life]) -> Vec<ConsumedEvent> {
    let mut all: Vec<(DateTime<Utc>, ConsumedEvent)> = Vec::new();
    for life in lives {
        for (i, (at, event)) in life.events.iter().enumerate() {
            let version = i64::try_from(i).expect("few events") + 1;
            all.push((*at, consumed(&life.id, version, *at, event.clone())));
        }
    }
    // Stable: events of one dossier at the same instant keep their order.
    all.sort_by_key(|(at, _)| *at);
    all.into_iter()
        .enumerate()
        .map(|(offset, (_, mut e))| {
            e.offset = i64::try_from(offset).expect("few events");
            e
        })
        .collect()
}

pub fn consumed(id: &str, version: i64, at: DateTime<Utc>, event: Event) -> ConsumedEvent {
    let envelope = pb::DossierEvent { occurred_at: ts(at), event: Some(event) };
    ConsumedEvent {
        topic: fleuve_statistics::DOSSIER_TOPIC.into(),
        partition: 0,
        offset: 0,
        key: Some(id.into()),
        message: fleuve_statistics::DOSSIER_EVENT_MESSAGE.into(),
        payload: envelope.encode_to_vec(),
        event_id: format!("{id}-{version}"),
        event_type: "DossierEvent".into(),
        aggregate_type: fleuve_statistics::DOSSIER_AGGREGATE.into(),
        aggregate_id: id.into(),
        aggregate_version: version,
        correlation_id: format!("correlation-{id}"),
        causation_id: None,
        actor: "tester".into(),
        traceparent: None,
        recorded_at: at,
    }
}

/// Applies each event in its own transaction, as the consumer runtime does.
pub async fn feed<F>(db: &Database, events: &[ConsumedEvent], apply: F) -> Result<(), HandlerError>
where
    F: Fn(&mut DbConnection, &ConsumedEvent) -> Result<(), HandlerError> + Clone + Send + 'static,
{
    for event in events {
        let (apply, event) = (apply.clone(), event.clone());
        db.transaction(move |conn| apply(conn, &event)).await?;
    }
    Ok(())
}
