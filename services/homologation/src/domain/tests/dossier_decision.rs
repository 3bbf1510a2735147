//! The decision: approval, rejection, and one decision per dossier.

use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

use super::dossier_fee::{invoice, pay};
use super::dossier_review::{give_opinion, recognize, record_report};
use super::*;
use crate::domain::dossier::DossierCommand as C;

fn approve() -> C {
    C::Approve { certificate_number: CERTIFICATE_NUMBER.into(), validity_years: 5 }
}

fn approved(valid_until: chrono::DateTime<chrono::Utc>) -> pb::DossierEvent {
    event(Event::Approved(pb::DossierApproved {
        certificate_number: CERTIFICATE_NUMBER.into(),
        valid_from: Some(timestamp(now())),
        valid_until: Some(timestamp(valid_until)),
        decided_by: admin().user_id,
    }))
}

fn reject() -> C {
    C::Reject { reasons: vec!["out-of-band emissions".into()] }
}

// ---- approve ----

#[test]
fn an_admin_approves_a_paid_dossier_with_a_favourable_opinion() {
    let state = given(&ready_for_decision()).when(approve(), &admin()).then(&[approved(at(2031, 3, 10))]);
    assert_eq!(state.status, pb::DossierStatus::Approved);
    assert_eq!(state.certificate_number.as_deref(), Some(CERTIFICATE_NUMBER));
    assert_eq!(state.decided_at, Some(timestamp(now())));
}

#[test]
fn approval_is_refused_before_its_conditions_are_met() {
    let unpaid = with(under_review(), [fee_invoiced(), test_report(true), opinion(true)]);
    given(&unpaid).when(approve(), &admin()).then_err(precondition("fee not paid"));
    let no_opinion = with(under_review(), [fee_invoiced(), payment_recorded()]);
    given(&no_opinion).when(approve(), &admin()).then_err(precondition("no technical opinion given"));
    let unfavourable = with(no_opinion.clone(), [opinion(false)]);
    given(&unfavourable).when(approve(), &admin()).then_err(precondition("technical opinion is unfavourable"));
    let incomplete = with(ready_for_decision(), [declared_incomplete(&[])]);
    given(&incomplete).when(approve(), &admin()).then_err(precondition("dossier is incomplete"));
    given(&submitted()).when(approve(), &admin()).then_err(precondition("cannot approve a dossier that is submitted"));
    given(&ready_for_decision()).when(approve(), &reviewer()).then_err(forbidden("only an admin may approve"));
}

#[test]
fn approval_values_are_checked() {
    let bad_number = C::Approve { certificate_number: "HOM-42".into(), validity_years: 5 };
    given(&ready_for_decision()).when(bad_number, &admin()).then_err(invalid("certificate number must look like"));
    for years in [0, 11] {
        let command = C::Approve { certificate_number: CERTIFICATE_NUMBER.into(), validity_years: years };
        given(&ready_for_decision())
            .when(command, &admin())
            .then_err(invalid("validity must be between 1 and 10 years"));
    }
}

// ---- reject ----

#[test]
fn an_admin_rejects_with_reasons() {
    let rejected = event(Event::Rejected(pb::DossierRejected {
        reasons: vec!["out-of-band emissions".into()],
        decided_by: admin().user_id,
    }));
    let state = given(&with(submitted(), [declared_incomplete(&[])])).when(reject(), &admin()).then(&[rejected]);
    assert_eq!(state.status, pb::DossierStatus::Rejected);
    assert_eq!(state.rejection_reasons, vec!["out-of-band emissions".to_owned()]);
}

#[test]
fn rejection_is_refused_on_drafts_without_reasons_and_for_non_admins() {
    given(&draft()).when(reject(), &admin()).then_err(precondition("cannot reject a dossier that is a draft"));
    given(&submitted())
        .when(C::Reject { reasons: vec![] }, &admin())
        .then_err(invalid("at least one rejection reason"));
    given(&submitted())
        .when(C::Reject { reasons: vec!["r".into(); 11] }, &admin())
        .then_err(invalid("at most 10 rejection reasons"));
    given(&submitted())
        .when(C::Reject { reasons: vec!["x".repeat(1001)] }, &admin())
        .then_err(invalid("rejection reason must be at most 1000 characters"));
    given(&submitted()).when(reject(), &reviewer()).then_err(forbidden("only an admin may reject"));
}

// ---- one decision per dossier ----

#[test]
fn a_decided_dossier_refuses_every_command() {
    let approved_dossier = with(ready_for_decision(), [approved(at(2031, 3, 10))]);
    let commands = [
        (C::AttachDocument { document: document(pb::DocumentKind::UserManual) }, applicant()),
        (C::Submit, applicant()),
        (C::DeclareIncomplete { reason: "r".into(), missing: vec![] }, reviewer()),
        (C::Complete { note: String::new() }, applicant()),
        (invoice(), admin()),
        (pay(fee()), admin()),
        (C::AssignReviewer { reviewer_id: "u-reviewer".into() }, admin()),
        (record_report(true), reviewer()),
        (recognize(), reviewer()),
        (give_opinion(true), reviewer()),
        (approve(), admin()),
        (reject(), admin()),
        (C::Withdraw { reason: String::new() }, applicant()),
    ];
    for (command, actor) in commands {
        given(&approved_dossier)
            .when(command, &actor)
            .then_err(precondition("one decision per dossier: the dossier is already approved"));
    }
    let withdrawn = with(submitted(), [event(Event::Withdrawn(pb::DossierWithdrawn { reason: String::new() }))]);
    given(&withdrawn).when(reject(), &admin()).then_err(precondition("one decision per dossier"));
    let rejected = with(
        submitted(),
        [event(Event::Rejected(pb::DossierRejected { reasons: vec!["r".into()], decided_by: "u-admin".into() }))],
    );
    given(&rejected)
        .when(C::Withdraw { reason: String::new() }, &applicant())
        .then_err(precondition("already rejected"));
}
