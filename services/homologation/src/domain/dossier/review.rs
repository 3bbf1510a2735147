//! Technical review and decision: reviewer assignment, evidence, the reviewer's opinion, and
//! the admin's approval or rejection.

use chrono::{DateTime, Utc};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use pb::DossierStatus;
use pb::dossier_event::Event;

use super::{Dossier, require_admin};
use crate::domain::values::{self, CertificateNumber};
use crate::domain::{Actor, DomainError};

pub const MAX_REJECTION_REASONS: usize = 10;

impl Dossier {
    pub(super) fn assign_reviewer(&self, reviewer_id: &str, actor: &Actor) -> Result<Event, DomainError> {
        require_admin(actor, "assign a reviewer")?;
        // Reassignment under review is allowed (absence, conflict of interest); an incomplete
        // dossier waits for the applicant first.
        self.require_status(&[DossierStatus::Submitted, DossierStatus::UnderReview], "assign a reviewer to")?;
        let reviewer_id = values::text("reviewer id", reviewer_id, 100)?;
        Ok(Event::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id }))
    }

    pub(super) fn record_test_report(
        &self,
        laboratory: &str,
        report_number: &str,
        standards: &[String],
        passed: bool,
        actor: &Actor,
    ) -> Result<Event, DomainError> {
        self.require_status(&[DossierStatus::UnderReview], "record a test report on")?;
        self.require_reviewer_or_admin(actor)?;
        let laboratory = values::text("laboratory", laboratory, 200)?;
        let report_number = values::text("report number", report_number, 200)?;
        let standards = values::standards(standards)?;
        let duplicate =
            self.test_reports.iter().any(|r| r.laboratory == laboratory && r.report_number == report_number);
        if duplicate {
            return Err(DomainError::Precondition("test report already recorded".into()));
        }
        Ok(Event::TestReportRecorded(pb::TestReportRecorded {
            report: Some(pb::TestReport {
                laboratory,
                report_number,
                standards,
                passed,
                reviewer_id: actor.user_id.clone(),
            }),
        }))
    }

    pub(super) fn recognize_foreign_certificate(
        &self,
        scheme: i32,
        reference: &str,
        issuer: &str,
        actor: &Actor,
    ) -> Result<Event, DomainError> {
        self.require_status(&[DossierStatus::UnderReview], "recognise a foreign certificate on")?;
        self.require_reviewer_or_admin(actor)?;
        let scheme = values::foreign_scheme(scheme)?;
        let reference = values::text("reference", reference, 100)?;
        let issuer = values::text("issuer", issuer, 200)?;
        let duplicate = self.foreign_certificates.iter().any(|c| c.scheme() == scheme && c.reference == reference);
        if duplicate {
            return Err(DomainError::Precondition("foreign certificate already recognised".into()));
        }
        Ok(Event::ForeignCertificateRecognized(pb::ForeignCertificateRecognized {
            certificate: Some(pb::ForeignCertificate {
                scheme: scheme as i32,
                reference,
                issuer,
                reviewer_id: actor.user_id.clone(),
            }),
        }))
    }

    pub(super) fn give_technical_opinion(
        &self,
        favorable: bool,
        comments: &str,
        actor: &Actor,
    ) -> Result<Event, DomainError> {
        self.require_status(&[DossierStatus::UnderReview], "give an opinion on")?;
        // The opinion is the reviewer's personal technical judgement: an admin cannot sign it.
        if !self.is_assigned_reviewer(actor) {
            return Err(DomainError::Forbidden("only the assigned reviewer may give the technical opinion".into()));
        }
        if self.opinion.is_some() {
            return Err(DomainError::Precondition("technical opinion already given".into()));
        }
        let comments = values::text("comments", comments, 4000)?;
        let evidence = self.test_reports.iter().any(|r| r.passed) || !self.foreign_certificates.is_empty();
        if favorable && !evidence {
            return Err(DomainError::Precondition(
                "a favourable opinion needs a passed test report or a recognised foreign certificate".into(),
            ));
        }
        Ok(Event::TechnicalOpinionGiven(pb::TechnicalOpinionGiven {
            opinion: Some(pb::TechnicalOpinion { favorable, comments, reviewer_id: actor.user_id.clone() }),
        }))
    }

    pub(super) fn approve(
        &self,
        certificate_number: &str,
        validity_years: u32,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Event, DomainError> {
        require_admin(actor, "approve a dossier")?;
        match self.status {
            DossierStatus::UnderReview => {}
            DossierStatus::Incomplete => {
                return Err(DomainError::Precondition("dossier is incomplete".into()));
            }
            _ => self.require_status(&[DossierStatus::UnderReview], "approve")?,
        }
        if self.payment_status != pb::PaymentStatus::Paid {
            return Err(DomainError::Precondition("fee not paid".into()));
        }
        match &self.opinion {
            None => {
                return Err(DomainError::Precondition("no technical opinion given".into()));
            }
            Some(opinion) if !opinion.favorable => {
                return Err(DomainError::Precondition("technical opinion is unfavourable".into()));
            }
            Some(_) => {}
        }
        let certificate_number = CertificateNumber::parse(certificate_number)?;
        let years = values::validity_years(validity_years)?;
        let valid_until = values::add_years(now, years)?;
        Ok(Event::Approved(pb::DossierApproved {
            certificate_number,
            valid_from: Some(values::timestamp(now)),
            valid_until: Some(values::timestamp(valid_until)),
            decided_by: actor.user_id.clone(),
        }))
    }

    pub(super) fn reject(&self, reasons: &[String], actor: &Actor) -> Result<Event, DomainError> {
        require_admin(actor, "reject a dossier")?;
        self.require_status(
            &[DossierStatus::Submitted, DossierStatus::Incomplete, DossierStatus::UnderReview],
            "reject",
        )?;
        if reasons.is_empty() {
            return Err(DomainError::Invalid("at least one rejection reason is required".into()));
        }
        if reasons.len() > MAX_REJECTION_REASONS {
            return Err(DomainError::Invalid(format!("at most {MAX_REJECTION_REASONS} rejection reasons are allowed")));
        }
        let reasons =
            reasons.iter().map(|r| values::text("rejection reason", r, 1000)).collect::<Result<Vec<_>, _>>()?;
        Ok(Event::Rejected(pb::DossierRejected { reasons, decided_by: actor.user_id.clone() }))
    }

    fn is_assigned_reviewer(&self, actor: &Actor) -> bool {
        actor.role != Role::Applicant && self.reviewer_id.as_deref() == Some(actor.user_id.as_str())
    }

    /// Evidence may be recorded by the assigned reviewer, or by an admin filling in for them.
    fn require_reviewer_or_admin(&self, actor: &Actor) -> Result<(), DomainError> {
        if actor.role == Role::Admin || self.is_assigned_reviewer(actor) {
            Ok(())
        } else {
            Err(DomainError::Forbidden("only the assigned reviewer or an admin may record evidence".into()))
        }
    }
}
