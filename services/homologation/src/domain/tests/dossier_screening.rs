//! Completeness screening: declare a dossier incomplete, and complete it again.

use fleuve_proto::homologation::v1 as pb;
use pb::DocumentKind as Kind;
use pb::dossier_event::Event;

use super::*;
use crate::domain::dossier::DossierCommand as C;

// ---- declare incomplete ----

fn declare(missing: &[Kind]) -> C {
    C::DeclareIncomplete { reason: "photos are blurred".into(), missing: missing.to_vec() }
}

#[test]
fn a_reviewer_declares_a_submitted_dossier_incomplete() {
    let state = given(&submitted())
        .when(declare(&[Kind::Photos, Kind::Photos]), &reviewer())
        .then(&[declared_incomplete(&[Kind::Photos])]);
    assert_eq!(state.status, pb::DossierStatus::Incomplete);
    assert_eq!(state.incomplete_reason.as_deref(), Some("photos are blurred"));
    assert_eq!(state.missing_documents, vec![Kind::Photos]);
}

#[test]
fn an_admin_declares_a_dossier_under_review_incomplete() {
    let mut expected = declared_incomplete(&[]);
    if let Some(Event::DeclaredIncomplete(e)) = &mut expected.event {
        e.reviewer_id = admin().user_id;
    }
    given(&under_review()).when(declare(&[]), &admin()).then(&[expected]);
}

#[test]
fn declare_incomplete_is_refused_on_a_draft_or_twice() {
    given(&draft())
        .when(declare(&[]), &reviewer())
        .then_err(precondition("cannot declare incomplete a dossier that is a draft"));
    let incomplete = with(submitted(), [declared_incomplete(&[])]);
    given(&incomplete).when(declare(&[]), &reviewer()).then_err(precondition("that is incomplete"));
}

#[test]
fn applicants_cannot_declare_a_dossier_incomplete() {
    given(&submitted()).when(declare(&[]), &applicant()).then_err(forbidden("only a reviewer or an admin"));
}

#[test]
fn declare_incomplete_needs_a_reason_and_known_kinds() {
    let no_reason = C::DeclareIncomplete { reason: "  ".into(), missing: vec![] };
    given(&submitted()).when(no_reason, &reviewer()).then_err(invalid("reason is required"));
    let too_long = C::DeclareIncomplete { reason: "x".repeat(2001), missing: vec![] };
    given(&submitted()).when(too_long, &reviewer()).then_err(invalid("reason must be at most 2000 characters"));
    given(&submitted()).when(declare(&[Kind::Unspecified]), &reviewer()).then_err(invalid("document kind is required"));
}

// ---- complete ----

fn complete() -> C {
    C::Complete { note: "new photos attached".into() }
}

fn completed() -> pb::DossierEvent {
    event(Event::Completed(pb::DossierCompleted { note: "new photos attached".into() }))
}

#[test]
fn completing_returns_a_screened_dossier_to_submitted() {
    let mut photos = document(Kind::Photos);
    photos.document_id = "doc-photos-2".into();
    let events = with(submitted(), [declared_incomplete(&[Kind::Photos]), attached(photos)]);
    let state = given(&events).when(complete(), &applicant()).then(&[completed()]);
    assert_eq!(state.status, pb::DossierStatus::Submitted);
    assert_eq!(state.incomplete_reason, None);
}

#[test]
fn completing_returns_a_reviewed_dossier_to_its_reviewer() {
    let events = with(under_review(), [declared_incomplete(&[])]);
    let state = given(&events).when(complete(), &colleague()).then(&[completed()]);
    assert_eq!(state.status, pb::DossierStatus::UnderReview);
}

#[test]
fn documents_declared_missing_must_be_attached_anew() {
    // Photos were attached before, but the reviewer found them unusable.
    let events = with(submitted(), [declared_incomplete(&[Kind::Photos, Kind::UserManual])]);
    given(&events)
        .when(complete(), &applicant())
        .then_err(precondition("documents declared missing are not attached yet: photos, user manual"));
}

#[test]
fn complete_is_refused_unless_incomplete_or_by_others() {
    given(&submitted())
        .when(complete(), &applicant())
        .then_err(precondition("cannot complete a dossier that is submitted"));
    let events = with(submitted(), [declared_incomplete(&[])]);
    given(&events).when(complete(), &reviewer()).then_err(forbidden("only the applicant organisation"));
    given(&events)
        .when(C::Complete { note: "x".repeat(2001) }, &applicant())
        .then_err(invalid("note must be at most 2000 characters"));
}
