//! A dossier's whole life through `handle`, replayed from its events, and the event names.

use fleuve_proto::homologation::v1 as pb;
use pb::DocumentKind as Kind;

use super::*;
use crate::domain::dossier::DossierCommand as C;
use crate::domain::fees;

/// Runs a command against the state folded so far and appends its events.
fn run(log: &mut Vec<pb::DossierEvent>, command: C, actor: &Actor) {
    log.extend(
        testing::given::<Dossier>(log)
            .when(command, &DossierContext { actor: actor.clone(), now: now() })
            .into_events(),
    );
}

#[test]
fn the_happy_path_replays_to_an_approved_dossier() {
    let mut log = Vec::new();
    run(&mut log, C::Create { dossier_id: DOSSIER_ID.into(), equipment: equipment() }, &applicant());
    for kind in [Kind::TechnicalDatasheet, Kind::DeclarationOfConformity, Kind::TradeRegisterExtract] {
        run(&mut log, C::AttachDocument { document: document(kind) }, &applicant());
    }
    run(&mut log, C::AttachDocument { document: document(Kind::Photos) }, &colleague());
    run(&mut log, C::Submit, &applicant());
    run(&mut log, C::InvoiceFee { invoice_number: "ARPCE-INV-2026-000007".into() }, &admin());
    run(&mut log, C::AssignReviewer { reviewer_id: "u-reviewer".into() }, &admin());
    run(
        &mut log,
        C::DeclareIncomplete { reason: "user manual missing".into(), missing: vec![Kind::UserManual] },
        &reviewer(),
    );
    run(&mut log, C::AttachDocument { document: document(Kind::UserManual) }, &applicant());
    run(&mut log, C::Complete { note: "manual attached".into() }, &applicant());
    run(&mut log, C::RecordPayment { reference: "BGFI-778812".into(), amount: fee() }, &admin());
    run(
        &mut log,
        C::RecordTestReport {
            laboratory: "Emitech".into(),
            report_number: "EMI-2026-118".into(),
            standards: vec!["EN 301 511".into()],
            passed: true,
        },
        &reviewer(),
    );
    run(
        &mut log,
        C::GiveTechnicalOpinion { favorable: true, comments: "conforms to the declared bands".into() },
        &reviewer(),
    );
    run(&mut log, C::Approve { certificate_number: CERTIFICATE_NUMBER.into(), validity_years: 5 }, &admin());

    let names: Vec<_> = log.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        names,
        [
            "DossierCreated",
            "DocumentAttached",
            "DocumentAttached",
            "DocumentAttached",
            "DocumentAttached",
            "DossierSubmitted",
            "FeeInvoiced",
            "ReviewerAssigned",
            "DossierDeclaredIncomplete",
            "DocumentAttached",
            "DossierCompleted",
            "PaymentRecorded",
            "TestReportRecorded",
            "TechnicalOpinionGiven",
            "DossierApproved",
        ]
    );

    let ts = Some(timestamp(now()));
    let expected = Dossier {
        id: DOSSIER_ID.into(),
        organisation_id: "org-congo-telecom".into(),
        applicant_id: "u-applicant".into(),
        equipment: Some(equipment()),
        status: pb::DossierStatus::Approved,
        payment_status: pb::PaymentStatus::Paid,
        documents: [
            Kind::TechnicalDatasheet,
            Kind::DeclarationOfConformity,
            Kind::TradeRegisterExtract,
            Kind::Photos,
            Kind::UserManual,
        ]
        .map(document)
        .to_vec(),
        invoice: Some(pb::Invoice {
            invoice_number: "ARPCE-INV-2026-000007".into(),
            amount: Some(fees::fee_for(pb::EquipmentCategory::MobileTerminal)),
            issued_at: ts,
        }),
        payment: Some(pb::Payment { reference: "BGFI-778812".into(), amount: Some(fee()), paid_at: ts }),
        reviewer_id: Some("u-reviewer".into()),
        incomplete_reason: None,
        missing_documents: Vec::new(),
        test_reports: vec![pb::TestReport {
            laboratory: "Emitech".into(),
            report_number: "EMI-2026-118".into(),
            standards: vec!["EN 301 511".into()],
            passed: true,
            reviewer_id: "u-reviewer".into(),
        }],
        foreign_certificates: Vec::new(),
        opinion: Some(pb::TechnicalOpinion {
            favorable: true,
            comments: "conforms to the declared bands".into(),
            reviewer_id: "u-reviewer".into(),
        }),
        certificate_number: Some(CERTIFICATE_NUMBER.into()),
        valid_from: ts,
        valid_until: Some(timestamp(at(2031, 3, 10))),
        rejection_reasons: Vec::new(),
        created_at: ts,
        submitted_at: ts,
        decided_at: ts,
        version: 15,
    };
    assert_eq!(Dossier::replay(log.iter()), expected);
    assert!(expected.is_decided());
}

#[test]
fn approval_on_29_february_ends_on_28_february() {
    let leap_day = at(2028, 2, 29);
    let approve = C::Approve { certificate_number: CERTIFICATE_NUMBER.into(), validity_years: 1 };
    let events = testing::given::<Dossier>(&ready_for_decision())
        .when(approve, &DossierContext { actor: admin(), now: leap_day })
        .into_events();
    let Some(pb::dossier_event::Event::Approved(approved)) = &events[0].event else {
        panic!("expected an approval, got {events:?}");
    };
    assert_eq!(approved.valid_from, Some(timestamp(leap_day)));
    assert_eq!(approved.valid_until, Some(timestamp(at(2029, 2, 28))));
    assert_eq!(events[0].occurred_at, Some(timestamp(leap_day)));
}

#[test]
fn every_event_has_its_case_name() {
    use pb::dossier_event::Event as E;
    let cases = [
        (E::Created(Default::default()), "DossierCreated"),
        (E::DocumentAttached(Default::default()), "DocumentAttached"),
        (E::Submitted(Default::default()), "DossierSubmitted"),
        (E::DeclaredIncomplete(Default::default()), "DossierDeclaredIncomplete"),
        (E::Completed(Default::default()), "DossierCompleted"),
        (E::FeeInvoiced(Default::default()), "FeeInvoiced"),
        (E::PaymentRecorded(Default::default()), "PaymentRecorded"),
        (E::ReviewerAssigned(Default::default()), "ReviewerAssigned"),
        (E::TestReportRecorded(Default::default()), "TestReportRecorded"),
        (E::ForeignCertificateRecognized(Default::default()), "ForeignCertificateRecognized"),
        (E::TechnicalOpinionGiven(Default::default()), "TechnicalOpinionGiven"),
        (E::Approved(Default::default()), "DossierApproved"),
        (E::Rejected(Default::default()), "DossierRejected"),
        (E::Withdrawn(Default::default()), "DossierWithdrawn"),
    ];
    for (e, name) in cases {
        assert_eq!(event(e).event_type(), name);
    }
}

#[test]
fn every_event_counts_as_a_version() {
    // Even an event of a case this build does not know moves the version, so that the
    // aggregate's version always equals the stream's.
    let unknown = pb::DossierEvent { occurred_at: None, event: None };
    let state = Dossier::replay([created(), unknown].iter());
    assert_eq!(state.version, 2);
    assert_eq!(state.status, pb::DossierStatus::Draft);
}
