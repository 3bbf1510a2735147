//! The applicant's side of a dossier: create, attach, submit, withdraw.

use fleuve_proto::homologation::v1 as pb;
use pb::DocumentKind as Kind;
use pb::dossier_event::Event;

use super::*;
use crate::domain::dossier::DossierCommand as C;

fn create() -> C {
    C::Create { dossier_id: DOSSIER_ID.into(), equipment: equipment() }
}

fn attach(document: pb::Document) -> C {
    C::AttachDocument { document }
}

// ---- create ----

#[test]
fn an_applicant_opens_a_draft_for_its_organisation() {
    let state = given(&[]).when(create(), &applicant()).then(&[created()]);
    assert_eq!(state.status, pb::DossierStatus::Draft);
    assert_eq!(state.payment_status, pb::PaymentStatus::NotInvoiced);
    assert_eq!(state.organisation_id, "org-congo-telecom");
    assert_eq!(state.version, 1);
}

#[test]
fn create_trims_the_equipment() {
    let mut padded = equipment();
    padded.brand = "  Tecno ".into();
    given(&[]).when(C::Create { dossier_id: DOSSIER_ID.into(), equipment: padded }, &applicant()).then(&[created()]);
}

#[test]
fn create_is_refused_on_an_existing_dossier() {
    given(&[created()]).when(create(), &applicant()).then_err(precondition("dossier already exists"));
}

#[test]
fn only_an_applicant_opens_a_dossier() {
    given(&[]).when(create(), &admin()).then_err(forbidden("only an applicant"));
    given(&[]).when(create(), &reviewer()).then_err(forbidden("only an applicant"));
}

#[test]
fn create_refuses_invalid_equipment() {
    let mut bad = equipment();
    bad.category = pb::EquipmentCategory::Unspecified as i32;
    given(&[])
        .when(C::Create { dossier_id: DOSSIER_ID.into(), equipment: bad }, &applicant())
        .then_err(DomainError::invalid_field("equipment.category", "equipment category is required"));
}

#[test]
fn commands_on_a_missing_dossier_are_refused() {
    given(&[]).when(C::Submit, &applicant()).then_err(precondition("dossier does not exist"));
}

// ---- attach ----

#[test]
fn a_colleague_attaches_a_test_report_to_the_draft() {
    let report = document(Kind::TestReport);
    let mut sent = report.clone();
    sent.sha256 = sent.sha256.to_uppercase();
    sent.file_name = format!(" {} ", sent.file_name);
    let state = given(&[created()]).when(attach(sent), &colleague()).then(&[attached(report)]);
    assert_eq!(state.documents.len(), 1);
}

#[test]
fn documents_may_be_attached_while_incomplete() {
    let events = with(submitted(), [declared_incomplete(&[Kind::UserManual])]);
    let manual = document(Kind::UserManual);
    let state = given(&events).when(attach(manual.clone()), &applicant()).then(&[attached(manual)]);
    assert!(state.missing_documents.is_empty());
}

#[test]
fn documents_cannot_be_attached_once_submitted() {
    given(&submitted())
        .when(attach(document(Kind::UserManual)), &applicant())
        .then_err(precondition("cannot attach documents to a dossier that is submitted"));
}

#[test]
fn only_the_applicant_organisation_attaches_documents() {
    let doc = document(Kind::Photos);
    given(&[created()]).when(attach(doc.clone()), &stranger()).then_err(forbidden("only the applicant organisation"));
    given(&[created()]).when(attach(doc), &admin()).then_err(forbidden("only the applicant organisation"));
}

#[test]
fn attach_refuses_invalid_documents() {
    let cases: [Spoil<pb::Document>; 8] = [
        (|d| d.kind = 0, "document kind is required"),
        (|d| d.kind = 99, "document kind 99 is unknown"),
        (|d| d.file_name = " ".into(), "file name is required"),
        (|d| d.file_name = "x".repeat(256), "file name must be at most 255 characters"),
        (|d| d.size_bytes = 0, "document size must be between"),
        (|d| d.size_bytes = 104_857_601, "document size must be between"),
        (|d| d.sha256 = "abc".into(), "sha256 must be 64 hexadecimal characters"),
        (|d| d.media_type = String::new(), "media type is required"),
    ];
    for (spoil, message) in cases {
        let mut doc = document(Kind::Photos);
        spoil(&mut doc);
        given(&[created()]).when(attach(doc), &applicant()).then_err(invalid(message));
    }
}

#[test]
fn a_test_report_names_its_laboratory_and_standards() {
    let mut no_lab = document(Kind::TestReport);
    no_lab.laboratory = String::new();
    given(&[created()]).when(attach(no_lab), &applicant()).then_err(invalid("laboratory is required"));
    let mut no_standard = document(Kind::TestReport);
    no_standard.standards.clear();
    given(&[created()]).when(attach(no_standard), &applicant()).then_err(invalid("at least one standard is required"));
    let mut photos_with_lab = document(Kind::Photos);
    photos_with_lab.laboratory = "Emitech".into();
    given(&[created()])
        .when(attach(photos_with_lab), &applicant())
        .then_err(invalid("only a test report names a laboratory"));
}

#[test]
fn a_dossier_holds_at_most_fifty_documents() {
    let mut events = vec![created()];
    for i in 0..50 {
        let mut doc = document(Kind::UserManual);
        doc.document_id = format!("doc-manual-{i}");
        events.push(attached(doc));
    }
    given(&events).when(attach(document(Kind::Photos)), &applicant()).then_err(precondition("at most 50 documents"));
}

#[test]
fn the_same_document_is_not_attached_twice() {
    let doc = document(Kind::Photos);
    given(&[created(), attached(doc.clone())])
        .when(attach(doc), &applicant())
        .then_err(precondition("document already attached"));
}

// ---- submit ----

#[test]
fn a_complete_draft_is_submitted() {
    let state = given(&draft()).when(C::Submit, &applicant()).then(&[event(Event::Submitted(pb::DossierSubmitted {}))]);
    assert_eq!(state.status, pb::DossierStatus::Submitted);
    assert_eq!(state.submitted_at, Some(timestamp(now())));
}

#[test]
fn submit_names_the_missing_mandatory_documents() {
    let events = [created(), attached(document(Kind::TechnicalDatasheet)), attached(document(Kind::Photos))];
    given(&events)
        .when(C::Submit, &applicant())
        .then_err(precondition("missing mandatory documents: declaration of conformity, trade register extract"));
}

#[test]
fn submit_is_refused_twice_and_for_others() {
    given(&submitted())
        .when(C::Submit, &applicant())
        .then_err(precondition("cannot submit a dossier that is submitted"));
    given(&draft()).when(C::Submit, &stranger()).then_err(forbidden("only the applicant organisation"));
}

// ---- withdraw ----

#[test]
fn the_applicant_withdraws_before_a_decision() {
    let withdrawn = event(Event::Withdrawn(pb::DossierWithdrawn { reason: String::new() }));
    let state = given(&under_review()).when(C::Withdraw { reason: "  ".into() }, &applicant()).then(&[withdrawn]);
    assert_eq!(state.status, pb::DossierStatus::Withdrawn);
    assert_eq!(state.decided_at, Some(timestamp(now())));
    assert!(state.is_decided());
}

#[test]
fn a_draft_may_be_withdrawn() {
    let withdrawn = event(Event::Withdrawn(pb::DossierWithdrawn { reason: "model discontinued".into() }));
    given(&[created()]).when(C::Withdraw { reason: "model discontinued".into() }, &applicant()).then(&[withdrawn]);
}

#[test]
fn only_the_applicant_organisation_withdraws() {
    let withdraw = || C::Withdraw { reason: String::new() };
    given(&submitted()).when(withdraw(), &stranger()).then_err(forbidden("only the applicant organisation"));
    given(&submitted()).when(withdraw(), &admin()).then_err(forbidden("only the applicant organisation"));
    given(&submitted())
        .when(C::Withdraw { reason: "x".repeat(2001) }, &applicant())
        .then_err(invalid("reason must be at most 2000 characters"));
}
