//! The applicant's side of a dossier and the completeness screening: create, attach, submit,
//! declare incomplete, complete and withdraw.

use chrono::{DateTime, Utc};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

use pb::DossierStatus;

use super::{Dossier, document_labels};
use crate::domain::{Actor, DomainError, values};

/// Beyond this a dossier is being used as a file share, not as an application.
pub const MAX_DOCUMENTS: usize = 50;
/// 100 MiB: the document store's upload limit.
pub const MAX_DOCUMENT_BYTES: u64 = 104_857_600;

impl Dossier {
    pub(super) fn create(
        &self,
        dossier_id: &str,
        equipment: &pb::Equipment,
        actor: &Actor,
    ) -> Result<Event, DomainError> {
        if self.version != 0 {
            return Err(DomainError::Precondition("dossier already exists".into()));
        }
        if actor.role != Role::Applicant {
            return Err(DomainError::Forbidden("only an applicant may open a dossier".into()));
        }
        let dossier_id = values::text("dossier id", dossier_id, 100)?;
        let organisation_id = values::text("organisation id", &actor.organisation_id, 100)?;
        let equipment = values::equipment(equipment)?;
        Ok(Event::Created(pb::DossierCreated {
            dossier_id,
            organisation_id,
            applicant_id: actor.user_id.clone(),
            equipment: Some(equipment),
        }))
    }

    pub(super) fn attach_document(
        &self,
        document: pb::Document,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Event, DomainError> {
        self.require_applicant_organisation(actor, "attach documents")?;
        self.require_status(&[DossierStatus::Draft, DossierStatus::Incomplete], "attach documents to")?;
        if self.documents.len() >= MAX_DOCUMENTS {
            return Err(DomainError::Precondition(format!("a dossier holds at most {MAX_DOCUMENTS} documents")));
        }
        let document_id = values::text("document id", &document.document_id, 100)?;
        if self.documents.iter().any(|d| d.document_id == document_id) {
            return Err(DomainError::Precondition("document already attached".into()));
        }
        let kind = values::document_kind(document.kind)?;
        let file_name = values::text("file name", &document.file_name, 255)?;
        let media_type = values::text("media type", &document.media_type, 100)?;
        if !(1..=MAX_DOCUMENT_BYTES).contains(&document.size_bytes) {
            return Err(DomainError::Invalid(format!(
                "document size must be between 1 and {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        let sha256 = values::sha256_hex(&document.sha256)?;
        let storage_uri = values::optional_text("storage uri", &document.storage_uri, 1000)?;
        // Only a test report names its laboratory and standards; anything else sending them is a
        // client mix-up better reported than silently dropped.
        let (laboratory, standards) = if kind == pb::DocumentKind::TestReport {
            (values::text("laboratory", &document.laboratory, 200)?, values::standards(&document.standards)?)
        } else if !document.laboratory.trim().is_empty() || !document.standards.is_empty() {
            return Err(DomainError::Invalid("only a test report names a laboratory and standards".into()));
        } else {
            (String::new(), Vec::new())
        };
        Ok(Event::DocumentAttached(pb::DocumentAttached {
            document: Some(pb::Document {
                document_id,
                kind: kind as i32,
                file_name,
                media_type,
                size_bytes: document.size_bytes,
                sha256,
                storage_uri,
                laboratory,
                standards,
                attached_at: document.attached_at.or(Some(values::timestamp(now))),
            }),
        }))
    }

    pub(super) fn submit(&self, actor: &Actor) -> Result<Event, DomainError> {
        self.require_applicant_organisation(actor, "submit the dossier")?;
        self.require_status(&[DossierStatus::Draft], "submit")?;
        self.require_mandatory_documents()?;
        Ok(Event::Submitted(pb::DossierSubmitted {}))
    }

    pub(super) fn declare_incomplete(
        &self,
        reason: &str,
        missing: &[pb::DocumentKind],
        actor: &Actor,
    ) -> Result<Event, DomainError> {
        if !matches!(actor.role, Role::Reviewer | Role::Admin) {
            return Err(DomainError::Forbidden("only a reviewer or an admin may declare a dossier incomplete".into()));
        }
        self.require_status(&[DossierStatus::Submitted, DossierStatus::UnderReview], "declare incomplete")?;
        let reason = values::text("reason", reason, 2000)?;
        let mut kinds: Vec<pb::DocumentKind> = Vec::with_capacity(missing.len());
        for kind in missing {
            let kind = values::document_kind(*kind as i32)?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Event::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
            reason,
            missing_documents: kinds.into_iter().map(|k| k as i32).collect(),
            reviewer_id: actor.user_id.clone(),
        }))
    }

    pub(super) fn complete(&self, note: &str, actor: &Actor) -> Result<Event, DomainError> {
        self.require_applicant_organisation(actor, "complete the dossier")?;
        self.require_status(&[DossierStatus::Incomplete], "complete")?;
        let note = values::optional_text("note", note, 2000)?;
        // A kind declared missing must be attached anew, even if a document of that kind was
        // there before: the reviewer found it missing or unusable.
        if !self.missing_documents.is_empty() {
            return Err(DomainError::Precondition(format!(
                "documents declared missing are not attached yet: {}",
                document_labels(&self.missing_documents)
            )));
        }
        self.require_mandatory_documents()?;
        Ok(Event::Completed(pb::DossierCompleted { note }))
    }

    pub(super) fn withdraw(&self, reason: &str, actor: &Actor) -> Result<Event, DomainError> {
        self.require_applicant_organisation(actor, "withdraw the dossier")?;
        let reason = values::optional_text("reason", reason, 2000)?;
        Ok(Event::Withdrawn(pb::DossierWithdrawn { reason }))
    }
}
