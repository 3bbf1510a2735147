//! Given/when/then tests of the domain: given past events, when a command, then these events
//! (compared in full) or this refusal (variant and message).

mod certificate;
mod dossier_decision;
mod dossier_fee;
mod dossier_intake;
mod dossier_lifecycle;
mod dossier_review;
mod dossier_screening;
mod values;

use chrono::{DateTime, TimeZone, Utc};
use fleuve_aggregate::testing::{self, Then};
use fleuve_aggregate::{Aggregate, EventType as _};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

use super::certificate::{Certificate, CertificateCommand};
use super::dossier::{Dossier, DossierCommand, DossierContext};
use super::{Actor, DomainError, values::timestamp};

/// The fixed clock of every test: 10 March 2026, 09:30 UTC.
pub fn now() -> DateTime<Utc> {
    at(2026, 3, 10)
}

pub fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 9, 30, 0).unwrap()
}

// ---- the harness: fleuve-aggregate's given/when/then with this domain's context ----

pub struct Given<A: Aggregate>(testing::Given<A>);

pub fn given(events: &[pb::DossierEvent]) -> Given<Dossier> {
    Given(testing::given(events))
}

pub fn given_certificate(events: &[pb::CertificateEvent]) -> Given<Certificate> {
    Given(testing::given(events))
}

impl Given<Dossier> {
    pub fn when(self, command: DossierCommand, actor: &Actor) -> Then<Dossier> {
        self.0.when(command, &DossierContext { actor: actor.clone(), now: now() })
    }
}

impl Given<Certificate> {
    pub fn when(self, command: CertificateCommand) -> Then<Certificate> {
        self.when_at(command, now())
    }

    pub fn when_at(self, command: CertificateCommand, at: DateTime<Utc>) -> Then<Certificate> {
        self.0.when(command, &at)
    }
}

/// A way to spoil a valid value, and the refusal it must cause.
pub type Spoil<T> = (fn(&mut T), &'static str);

pub use fleuve_aggregate::testing::{invalid, precondition};

pub fn forbidden(message: &str) -> DomainError {
    DomainError::Forbidden(message.into())
}

// ---- actors ----

fn actor(user_id: &str, role: Role, organisation_id: &str) -> Actor {
    Actor { user_id: user_id.into(), role, organisation_id: organisation_id.into() }
}

pub fn applicant() -> Actor {
    actor("u-applicant", Role::Applicant, "org-congo-telecom")
}

/// A colleague of the applicant, in the same organisation.
pub fn colleague() -> Actor {
    actor("u-colleague", Role::Applicant, "org-congo-telecom")
}

pub fn stranger() -> Actor {
    actor("u-stranger", Role::Applicant, "org-other")
}

pub fn reviewer() -> Actor {
    actor("u-reviewer", Role::Reviewer, "org-arpce")
}

pub fn other_reviewer() -> Actor {
    actor("u-other-reviewer", Role::Reviewer, "org-arpce")
}

pub fn admin() -> Actor {
    actor("u-admin", Role::Admin, "org-arpce")
}

// ---- fixtures ----

pub const DOSSIER_ID: &str = "d-0001";
pub const CERTIFICATE_NUMBER: &str = "ARPCE-HOM-2026-000042";

pub fn equipment() -> pb::Equipment {
    pb::Equipment {
        brand: "Tecno".into(),
        model: "Spark 20".into(),
        category: pb::EquipmentCategory::MobileTerminal as i32,
        frequency_bands: vec![pb::FrequencyBand { lower_khz: 880_000, upper_khz: 915_000 }],
        characteristics: vec![pb::Characteristic { name: "max output power".into(), value: "2 W".into() }],
    }
}

pub fn document(kind: pb::DocumentKind) -> pb::Document {
    let test_report = kind == pb::DocumentKind::TestReport;
    pb::Document {
        document_id: format!("doc-{}", kind as i32),
        kind: kind as i32,
        file_name: format!("{}.pdf", kind.as_str_name().to_lowercase()),
        media_type: "application/pdf".into(),
        size_bytes: 120_000,
        sha256: "ab".repeat(32),
        storage_uri: format!("s3://dossiers/{DOSSIER_ID}/{}", kind as i32),
        laboratory: if test_report { "Emitech".into() } else { String::new() },
        standards: if test_report { vec!["EN 301 511".into()] } else { Vec::new() },
        attached_at: Some(timestamp(now())),
    }
}

pub fn event(e: Event) -> pb::DossierEvent {
    pb::DossierEvent { occurred_at: Some(timestamp(now())), event: Some(e) }
}

pub fn created() -> pb::DossierEvent {
    event(Event::Created(pb::DossierCreated {
        dossier_id: DOSSIER_ID.into(),
        organisation_id: applicant().organisation_id,
        applicant_id: applicant().user_id,
        equipment: Some(equipment()),
    }))
}

pub fn attached(document: pb::Document) -> pb::DossierEvent {
    event(Event::DocumentAttached(pb::DocumentAttached { document: Some(document) }))
}

/// A draft holding every mandatory document.
pub fn draft() -> Vec<pb::DossierEvent> {
    let mut events = vec![created()];
    events.extend(super::dossier::MANDATORY_DOCUMENTS.map(|kind| attached(document(kind))));
    events
}

pub fn submitted() -> Vec<pb::DossierEvent> {
    let mut events = draft();
    events.push(event(Event::Submitted(pb::DossierSubmitted {})));
    events
}

pub fn declared_incomplete(missing: &[pb::DocumentKind]) -> pb::DossierEvent {
    event(Event::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
        reason: "photos are blurred".into(),
        missing_documents: missing.iter().map(|k| *k as i32).collect(),
        reviewer_id: reviewer().user_id,
    }))
}

pub fn reviewer_assigned(reviewer_id: &str) -> pb::DossierEvent {
    event(Event::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id: reviewer_id.into() }))
}

pub fn under_review() -> Vec<pb::DossierEvent> {
    let mut events = submitted();
    events.push(reviewer_assigned("u-reviewer"));
    events
}

pub fn fee() -> fleuve_proto::common::v1::Money {
    fleuve_proto::common::v1::Money { currency: "XAF".into(), amount: 250_000 }
}

pub fn fee_invoiced() -> pb::DossierEvent {
    event(Event::FeeInvoiced(pb::FeeInvoiced {
        invoice: Some(pb::Invoice {
            invoice_number: "ARPCE-INV-2026-000007".into(),
            amount: Some(fee()),
            issued_at: Some(timestamp(now())),
        }),
    }))
}

pub fn payment_recorded() -> pb::DossierEvent {
    event(Event::PaymentRecorded(pb::PaymentRecorded {
        payment: Some(pb::Payment {
            reference: "BGFI-778812".into(),
            amount: Some(fee()),
            paid_at: Some(timestamp(now())),
        }),
    }))
}

pub fn test_report(passed: bool) -> pb::DossierEvent {
    event(Event::TestReportRecorded(pb::TestReportRecorded {
        report: Some(pb::TestReport {
            laboratory: "Emitech".into(),
            report_number: "EMI-2026-118".into(),
            standards: vec!["EN 301 511".into()],
            passed,
            reviewer_id: reviewer().user_id,
        }),
    }))
}

pub fn opinion(favorable: bool) -> pb::DossierEvent {
    event(Event::TechnicalOpinionGiven(pb::TechnicalOpinionGiven {
        opinion: Some(pb::TechnicalOpinion {
            favorable,
            comments: "conforms to the declared bands".into(),
            reviewer_id: reviewer().user_id,
        }),
    }))
}

/// Under review, paid, with a passed test report and a favourable opinion: ready to approve.
pub fn ready_for_decision() -> Vec<pb::DossierEvent> {
    let mut events = under_review();
    events.extend([fee_invoiced(), payment_recorded(), test_report(true), opinion(true)]);
    events
}

pub fn with(
    mut events: Vec<pb::DossierEvent>,
    more: impl IntoIterator<Item = pb::DossierEvent>,
) -> Vec<pb::DossierEvent> {
    events.extend(more);
    events
}
