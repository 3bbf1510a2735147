//! The technical review: evidence (test reports, foreign certificates) and the opinion.

use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

use super::*;
use crate::domain::dossier::DossierCommand as C;

pub(super) fn record_report(passed: bool) -> C {
    C::RecordTestReport {
        laboratory: "Emitech".into(),
        report_number: "EMI-2026-118".into(),
        standards: vec!["EN 301 511".into()],
        passed,
    }
}

pub(super) fn recognize() -> C {
    C::RecognizeForeignCertificate {
        scheme: pb::ForeignScheme::Ce as i32,
        reference: "RED-0042".into(),
        issuer: "TÜV Rheinland".into(),
    }
}

fn foreign_recognized(reviewer_id: &str) -> pb::DossierEvent {
    event(Event::ForeignCertificateRecognized(pb::ForeignCertificateRecognized {
        certificate: Some(pb::ForeignCertificate {
            scheme: pb::ForeignScheme::Ce as i32,
            reference: "RED-0042".into(),
            issuer: "TÜV Rheinland".into(),
            reviewer_id: reviewer_id.into(),
        }),
    }))
}

pub(super) fn give_opinion(favorable: bool) -> C {
    C::GiveTechnicalOpinion { favorable, comments: "conforms to the declared bands".into() }
}

// ---- evidence ----

#[test]
fn the_assigned_reviewer_records_a_test_report() {
    let state = given(&under_review()).when(record_report(true), &reviewer()).then(&[test_report(true)]);
    assert_eq!(state.test_reports.len(), 1);
}

#[test]
fn an_admin_records_evidence_in_the_reviewers_place() {
    given(&under_review()).when(recognize(), &admin()).then(&[foreign_recognized("u-admin")]);
}

#[test]
fn evidence_is_recorded_only_under_review_by_the_assigned_reviewer() {
    given(&submitted()).when(record_report(true), &admin()).then_err(precondition("that is submitted"));
    given(&under_review())
        .when(record_report(true), &other_reviewer())
        .then_err(forbidden("only the assigned reviewer or an admin"));
    given(&under_review())
        .when(recognize(), &applicant())
        .then_err(forbidden("only the assigned reviewer or an admin"));
}

#[test]
fn evidence_values_are_checked() {
    let no_standard = C::RecordTestReport {
        laboratory: "Emitech".into(),
        report_number: "EMI-1".into(),
        standards: vec![],
        passed: true,
    };
    given(&under_review()).when(no_standard, &reviewer()).then_err(invalid("at least one standard"));
    let too_many = C::RecordTestReport {
        laboratory: "Emitech".into(),
        report_number: "EMI-1".into(),
        standards: vec!["EN 301 511".into(); 21],
        passed: true,
    };
    given(&under_review()).when(too_many, &reviewer()).then_err(invalid("at most 20 standards"));
    let no_scheme = C::RecognizeForeignCertificate { scheme: 0, reference: "R".into(), issuer: "I".into() };
    given(&under_review()).when(no_scheme, &reviewer()).then_err(invalid("foreign scheme is required"));
    let unknown = C::RecognizeForeignCertificate { scheme: 7, reference: "R".into(), issuer: "I".into() };
    given(&under_review()).when(unknown, &reviewer()).then_err(invalid("foreign scheme 7 is unknown"));
    let no_issuer = C::RecognizeForeignCertificate { scheme: 1, reference: "R".into(), issuer: String::new() };
    given(&under_review()).when(no_issuer, &reviewer()).then_err(invalid("issuer is required"));
}

#[test]
fn the_same_evidence_is_not_recorded_twice() {
    given(&with(under_review(), [test_report(false)]))
        .when(record_report(true), &reviewer())
        .then_err(precondition("test report already recorded"));
    given(&with(under_review(), [foreign_recognized("u-reviewer")]))
        .when(recognize(), &reviewer())
        .then_err(precondition("foreign certificate already recognised"));
}

// ---- opinion ----

#[test]
fn the_assigned_reviewer_gives_a_favourable_opinion_on_evidence() {
    let state =
        given(&with(under_review(), [test_report(true)])).when(give_opinion(true), &reviewer()).then(&[opinion(true)]);
    assert!(state.opinion.is_some_and(|o| o.favorable));
    let mut expected = opinion(true);
    if let Some(Event::TechnicalOpinionGiven(e)) = &mut expected.event {
        e.opinion.as_mut().unwrap().reviewer_id = "u-reviewer".into();
    }
    given(&with(under_review(), [foreign_recognized("u-admin")]))
        .when(give_opinion(true), &reviewer())
        .then(&[expected]);
}

#[test]
fn an_unfavourable_opinion_needs_no_evidence() {
    given(&under_review()).when(give_opinion(false), &reviewer()).then(&[opinion(false)]);
}

#[test]
fn a_favourable_opinion_needs_passing_evidence() {
    given(&under_review()).when(give_opinion(true), &reviewer()).then_err(precondition("a favourable opinion needs"));
    given(&with(under_review(), [test_report(false)]))
        .when(give_opinion(true), &reviewer())
        .then_err(precondition("a favourable opinion needs"));
}

#[test]
fn only_the_assigned_reviewer_gives_the_opinion_once() {
    let events = with(under_review(), [test_report(true)]);
    given(&events).when(give_opinion(true), &admin()).then_err(forbidden("only the assigned reviewer"));
    given(&events).when(give_opinion(true), &other_reviewer()).then_err(forbidden("only the assigned reviewer"));
    given(&with(events.clone(), [opinion(false)]))
        .when(give_opinion(true), &reviewer())
        .then_err(precondition("technical opinion already given"));
    given(&submitted()).when(give_opinion(false), &reviewer()).then_err(precondition("that is submitted"));
    given(&events)
        .when(C::GiveTechnicalOpinion { favorable: true, comments: "x".repeat(4001) }, &reviewer())
        .then_err(invalid("comments must be at most 4000 characters"));
}
