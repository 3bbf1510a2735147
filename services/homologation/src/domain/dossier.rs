//! The dossier aggregate: one application for the type approval of one equipment model, from
//! the applicant's draft to the regulator's decision.
//!
//! The rules are split by stage: `intake` (the applicant's side and completeness screening),
//! `payment` (the fee) and `review` (technical review and decision).

mod intake;
mod payment;
mod review;

use chrono::{DateTime, Utc};
use fleuve_mesh::Role;
use fleuve_proto::common::v1 as common;
use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

use fleuve_aggregate::Aggregate;
use fleuve_proto::topics;

use super::{Actor, DOSSIER_AGGREGATE, DomainError, values};

pub use intake::{MAX_DOCUMENT_BYTES, MAX_DOCUMENTS};

/// The documents without which a dossier cannot be submitted or completed.
pub const MANDATORY_DOCUMENTS: [pb::DocumentKind; 4] = [
    pb::DocumentKind::TechnicalDatasheet,
    pb::DocumentKind::DeclarationOfConformity,
    pb::DocumentKind::TradeRegisterExtract,
    pb::DocumentKind::Photos,
];

/// A dossier's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dossier {
    pub id: String,
    pub organisation_id: String,
    pub applicant_id: String,
    pub equipment: Option<pb::Equipment>,
    /// `Unspecified` until the dossier is created.
    pub status: pb::DossierStatus,
    pub payment_status: pb::PaymentStatus,
    pub documents: Vec<pb::Document>,
    pub invoice: Option<pb::Invoice>,
    pub payment: Option<pb::Payment>,
    pub reviewer_id: Option<String>,
    pub incomplete_reason: Option<String>,
    /// The kinds the last incompleteness declaration asked for and that have not been attached
    /// since; the dossier cannot be completed while any remain.
    pub missing_documents: Vec<pb::DocumentKind>,
    pub test_reports: Vec<pb::TestReport>,
    pub foreign_certificates: Vec<pb::ForeignCertificate>,
    pub opinion: Option<pb::TechnicalOpinion>,
    pub certificate_number: Option<String>,
    pub valid_from: Option<prost_types::Timestamp>,
    pub valid_until: Option<prost_types::Timestamp>,
    pub rejection_reasons: Vec<String>,
    pub created_at: Option<prost_types::Timestamp>,
    pub submitted_at: Option<prost_types::Timestamp>,
    /// When the dossier was closed: approved, rejected or withdrawn.
    pub decided_at: Option<prost_types::Timestamp>,
    /// The number of events applied.
    pub version: i64,
}

/// What a caller asks of a dossier.
#[derive(Debug, Clone, PartialEq)]
pub enum DossierCommand {
    /// Organisation and applicant come from the actor.
    Create {
        dossier_id: String,
        equipment: pb::Equipment,
    },
    /// `document_id` and `attached_at` are set by the server.
    AttachDocument {
        document: pb::Document,
    },
    Submit,
    DeclareIncomplete {
        reason: String,
        missing: Vec<pb::DocumentKind>,
    },
    Complete {
        note: String,
    },
    /// The amount is the fee of the equipment's category.
    InvoiceFee {
        invoice_number: String,
    },
    RecordPayment {
        reference: String,
        amount: common::Money,
    },
    AssignReviewer {
        reviewer_id: String,
    },
    RecordTestReport {
        laboratory: String,
        report_number: String,
        standards: Vec<String>,
        passed: bool,
    },
    RecognizeForeignCertificate {
        scheme: i32,
        reference: String,
        issuer: String,
    },
    GiveTechnicalOpinion {
        favorable: bool,
        comments: String,
    },
    /// The caller allocates the number and resolves a default validity before calling.
    Approve {
        certificate_number: String,
        validity_years: u32,
    },
    Reject {
        reasons: Vec<String>,
    },
    Withdraw {
        reason: String,
    },
}

/// Who decides, and when.
#[derive(Debug, Clone)]
pub struct DossierContext {
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

impl Aggregate for Dossier {
    const KIND: &'static str = DOSSIER_AGGREGATE;
    const TOPIC: Option<&'static str> = Some(topics::DOSSIER);
    type Event = pb::DossierEvent;
    type Command = DossierCommand;
    type Context = DossierContext;
    type Error = DomainError;

    /// Decides a command: the events to append, or why it is refused. Every event carries `now`.
    fn handle(&self, command: DossierCommand, cx: &DossierContext) -> Result<Vec<pb::DossierEvent>, DomainError> {
        let (actor, now) = (&cx.actor, cx.now);
        if !matches!(command, DossierCommand::Create { .. }) {
            self.ensure_open()?;
        }
        let event = match command {
            DossierCommand::Create { dossier_id, equipment } => self.create(&dossier_id, &equipment, actor)?,
            DossierCommand::AttachDocument { document } => self.attach_document(document, actor, now)?,
            DossierCommand::Submit => self.submit(actor)?,
            DossierCommand::DeclareIncomplete { reason, missing } => {
                self.declare_incomplete(&reason, &missing, actor)?
            }
            DossierCommand::Complete { note } => self.complete(&note, actor)?,
            DossierCommand::InvoiceFee { invoice_number } => self.invoice_fee(&invoice_number, actor, now)?,
            DossierCommand::RecordPayment { reference, amount } => {
                self.record_payment(&reference, amount, actor, now)?
            }
            DossierCommand::AssignReviewer { reviewer_id } => self.assign_reviewer(&reviewer_id, actor)?,
            DossierCommand::RecordTestReport { laboratory, report_number, standards, passed } => {
                self.record_test_report(&laboratory, &report_number, &standards, passed, actor)?
            }
            DossierCommand::RecognizeForeignCertificate { scheme, reference, issuer } => {
                self.recognize_foreign_certificate(scheme, &reference, &issuer, actor)?
            }
            DossierCommand::GiveTechnicalOpinion { favorable, comments } => {
                self.give_technical_opinion(favorable, &comments, actor)?
            }
            DossierCommand::Approve { certificate_number, validity_years } => {
                self.approve(&certificate_number, validity_years, actor, now)?
            }
            DossierCommand::Reject { reasons } => self.reject(&reasons, actor)?,
            DossierCommand::Withdraw { reason } => self.withdraw(&reason, actor)?,
        };
        Ok(vec![pb::DossierEvent { occurred_at: Some(values::timestamp(now)), event: Some(event) }])
    }

    /// Folds one event into the state. No rule is checked here: the event already happened.
    fn apply(&mut self, event: &pb::DossierEvent) {
        self.version += 1;
        let at = event.occurred_at;
        let Some(event) = &event.event else { return };
        match event {
            Event::Created(e) => {
                self.id.clone_from(&e.dossier_id);
                self.organisation_id.clone_from(&e.organisation_id);
                self.applicant_id.clone_from(&e.applicant_id);
                self.equipment.clone_from(&e.equipment);
                self.status = pb::DossierStatus::Draft;
                self.payment_status = pb::PaymentStatus::NotInvoiced;
                self.created_at = at;
            }
            Event::DocumentAttached(e) => {
                if let Some(document) = &e.document {
                    let kind = document.kind();
                    self.missing_documents.retain(|k| *k != kind);
                    self.documents.push(document.clone());
                }
            }
            Event::Submitted(_) => {
                self.status = pb::DossierStatus::Submitted;
                self.submitted_at = at;
            }
            Event::DeclaredIncomplete(e) => {
                self.status = pb::DossierStatus::Incomplete;
                self.incomplete_reason = Some(e.reason.clone());
                self.missing_documents = e.missing_documents().collect();
            }
            Event::Completed(_) => {
                // Back to whoever had the dossier when it was sent back.
                self.status = if self.reviewer_id.is_some() {
                    pb::DossierStatus::UnderReview
                } else {
                    pb::DossierStatus::Submitted
                };
                self.incomplete_reason = None;
                self.missing_documents.clear();
            }
            Event::FeeInvoiced(e) => {
                self.invoice.clone_from(&e.invoice);
                self.payment_status = pb::PaymentStatus::Invoiced;
            }
            Event::PaymentRecorded(e) => {
                self.payment.clone_from(&e.payment);
                self.payment_status = pb::PaymentStatus::Paid;
            }
            Event::ReviewerAssigned(e) => {
                self.reviewer_id = Some(e.reviewer_id.clone());
                self.status = pb::DossierStatus::UnderReview;
            }
            Event::TestReportRecorded(e) => self.test_reports.extend(e.report.clone()),
            Event::ForeignCertificateRecognized(e) => {
                self.foreign_certificates.extend(e.certificate.clone());
            }
            Event::TechnicalOpinionGiven(e) => self.opinion.clone_from(&e.opinion),
            Event::Approved(e) => {
                self.status = pb::DossierStatus::Approved;
                self.certificate_number = Some(e.certificate_number.clone());
                self.valid_from = e.valid_from;
                self.valid_until = e.valid_until;
                self.decided_at = at;
            }
            Event::Rejected(e) => {
                self.status = pb::DossierStatus::Rejected;
                self.rejection_reasons.clone_from(&e.reasons);
                self.decided_at = at;
            }
            Event::Withdrawn(_) => {
                self.status = pb::DossierStatus::Withdrawn;
                self.decided_at = at;
            }
        }
    }
}

impl Dossier {
    /// Approved, rejected or withdrawn: the dossier accepts no further command.
    pub fn is_decided(&self) -> bool {
        matches!(self.status, pb::DossierStatus::Approved | pb::DossierStatus::Rejected | pb::DossierStatus::Withdrawn)
    }

    /// Every command but creation needs an existing dossier that is not closed yet.
    fn ensure_open(&self) -> Result<(), DomainError> {
        if self.version == 0 {
            return Err(DomainError::Precondition("dossier does not exist".into()));
        }
        if self.is_decided() {
            return Err(DomainError::Precondition(format!(
                "one decision per dossier: the dossier is already {}",
                status_label(self.status)
            )));
        }
        Ok(())
    }

    fn require_status(&self, allowed: &[pb::DossierStatus], action: &str) -> Result<(), DomainError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(DomainError::Precondition(format!("cannot {action} a dossier that is {}", status_label(self.status))))
        }
    }

    /// The applicant side of a dossier is its organisation, not only the user who opened it, so
    /// that a colleague can take over; staff never act for the applicant.
    fn require_applicant_organisation(&self, actor: &Actor, action: &str) -> Result<(), DomainError> {
        if actor.role == Role::Applicant && actor.organisation_id == self.organisation_id {
            Ok(())
        } else {
            Err(DomainError::Forbidden(format!("only the applicant organisation may {action}")))
        }
    }

    fn has_document(&self, kind: pb::DocumentKind) -> bool {
        self.documents.iter().any(|d| d.kind() == kind)
    }

    /// Refuses with the list of mandatory kinds not attached, if any.
    fn require_mandatory_documents(&self) -> Result<(), DomainError> {
        let missing: Vec<_> = MANDATORY_DOCUMENTS.into_iter().filter(|kind| !self.has_document(*kind)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Precondition(format!("missing mandatory documents: {}", document_labels(&missing))))
        }
    }

    fn category(&self) -> pb::EquipmentCategory {
        self.equipment.as_ref().map_or(pb::EquipmentCategory::Unspecified, |e| e.category())
    }
}

fn require_admin(actor: &Actor, action: &str) -> Result<(), DomainError> {
    if actor.role == Role::Admin { Ok(()) } else { Err(DomainError::Forbidden(format!("only an admin may {action}"))) }
}
fn status_label(status: pb::DossierStatus) -> &'static str {
    match status {
        pb::DossierStatus::Unspecified => "not created",
        pb::DossierStatus::Draft => "a draft",
        pb::DossierStatus::Submitted => "submitted",
        pb::DossierStatus::Incomplete => "incomplete",
        pb::DossierStatus::UnderReview => "under review",
        pb::DossierStatus::Approved => "approved",
        pb::DossierStatus::Rejected => "rejected",
        pb::DossierStatus::Withdrawn => "withdrawn",
    }
}

fn document_labels(kinds: &[pb::DocumentKind]) -> String {
    kinds
        .iter()
        .map(|kind| match kind {
            pb::DocumentKind::Unspecified => "unspecified document",
            pb::DocumentKind::TechnicalDatasheet => "technical datasheet",
            pb::DocumentKind::TestReport => "test report",
            pb::DocumentKind::DeclarationOfConformity => "declaration of conformity",
            pb::DocumentKind::Photos => "photos",
            pb::DocumentKind::UserManual => "user manual",
            pb::DocumentKind::TradeRegisterExtract => "trade register extract",
        })
        .collect::<Vec<_>>()
        .join(", ")
}
