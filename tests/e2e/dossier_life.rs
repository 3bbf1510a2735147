//! A dossier's whole life through real gRPC clients against a started server, on SQLite and
//! PostgreSQL, ending with the public verification of its certificate.

use crate::support::{
    Backend, TestNode, authed, document, equipment, ready_for_decision, submitted_dossier, verified_when,
};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;

async fn whole_life(backend: Backend) {
    let node = TestNode::start(backend).await;
    let (applicant, reviewer, admin) =
        (node.token(Role::Applicant), node.token(Role::Reviewer), node.token(Role::Admin));
    let mut dossiers = node.dossiers();
    let mut queries = node.queries();

    // Draft, documents, submission.
    let id = submitted_dossier(&node, "Tecno", "Spark 20 Pro").await;

    // The reviewer finds the user manual missing; the applicant attaches it and completes.
    dossiers
        .declare_incomplete(authed(
            pb::DeclareIncompleteRequest {
                dossier_id: id.clone(),
                expected_version: 0,
                reason: "manuel utilisateur en français manquant".into(),
                missing_documents: vec![pb::DocumentKind::UserManual as i32],
            },
            &reviewer,
        ))
        .await
        .expect("declare incomplete");
    let seen = queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &applicant)).await.unwrap();
    let seen = seen.into_inner().dossier.unwrap();
    assert_eq!(seen.status, pb::DossierStatus::Incomplete as i32);
    assert_eq!(seen.incomplete_reason, "manuel utilisateur en français manquant");
    dossiers
        .attach_document(authed(document(&id, pb::DocumentKind::UserManual), &applicant))
        .await
        .expect("attach manual");
    dossiers
        .complete_dossier(authed(
            pb::CompleteDossierRequest { dossier_id: id.clone(), expected_version: 0, note: "manuel ajouté".into() },
            &applicant,
        ))
        .await
        .expect("complete");

    // Fee, payment, review, opinion.
    ready_for_decision(&node, &id).await;
    let queue = queries
        .get_reviewer_queue(authed(pb::GetReviewerQueueRequest::default(), &reviewer))
        .await
        .expect("queue")
        .into_inner();
    assert!(queue.dossiers.iter().any(|d| d.dossier_id == id), "the assigned dossier is in the reviewer's queue");

    // Decision.
    let approved = dossiers
        .approve_dossier(authed(
            pb::ApproveDossierRequest { dossier_id: id.clone(), expected_version: 0, validity_years: 0 },
            &admin,
        ))
        .await
        .expect("approve")
        .into_inner();
    let year = chrono::Utc::now().format("%Y");
    assert_eq!(approved.certificate_number, format!("ARPCE-HOM-{year}-000001"));

    // A second decision is refused and changes nothing.
    let again = dossiers
        .reject_dossier(authed(
            pb::RejectDossierRequest { dossier_id: id.clone(), expected_version: 0, reasons: vec!["trop tard".into()] },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);

    let dossier = queries
        .get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(dossier.status, pb::DossierStatus::Approved as i32);
    assert_eq!(dossier.payment_status, pb::PaymentStatus::Paid as i32);
    assert_eq!(dossier.certificate_number, approved.certificate_number);
    assert_eq!(dossier.version, approved.version);

    // The history holds every event with its metadata, in order.
    let history = queries
        .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let types: Vec<_> = history.iter().map(|e| e.metadata.as_ref().unwrap().event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "DossierCreated",
            "DocumentAttached",
            "DocumentAttached",
            "DocumentAttached",
            "DocumentAttached",
            "DossierSubmitted",
            "DossierDeclaredIncomplete",
            "DocumentAttached",
            "DossierCompleted",
            "FeeInvoiced",
            "PaymentRecorded",
            "ReviewerAssigned",
            "ForeignCertificateRecognized",
            "TechnicalOpinionGiven",
            "DossierApproved",
        ]
    );
    for (i, entry) in history.iter().enumerate() {
        let meta = entry.metadata.as_ref().unwrap();
        assert_eq!(meta.aggregate_version, i as i64 + 1);
        assert_eq!(meta.aggregate_id, id);
        assert!(!meta.correlation_id.is_empty() && !meta.event_id.is_empty() && meta.recorded_at.is_some());
    }
    assert_eq!(history[0].metadata.as_ref().unwrap().actor, node.demo.applicant.user_id);
    assert_eq!(history.last().unwrap().metadata.as_ref().unwrap().actor, node.demo.admin.user_id);

    // Public verification: no token; the registry is a projection fed through Kafka.
    let mut registry = node.registry();
    let verified = verified_when(&node, &approved.certificate_number, "published as valid", |v| v.valid).await;
    assert!(verified.valid);
    let public = verified.certificate.unwrap();
    assert_eq!((public.brand.as_str(), public.model.as_str()), ("Tecno", "Spark 20 Pro"));
    assert_eq!(public.holder_organisation_id, node.demo.applicant_organisation.organisation_id);
    let found = registry
        .search_certificates(pb::SearchCertificatesRequest { brand: "tec".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.certificates.len(), 1);

    // Certificate life: suspend (no longer valid), reinstate, renew, revoke.
    let mut certificates = node.certificates();
    let number = approved.certificate_number.clone();
    certificates
        .suspend_certificate(authed(
            pb::SuspendCertificateRequest {
                certificate_number: number.clone(),
                expected_version: 0,
                reason: "contrôle".into(),
            },
            &admin,
        ))
        .await
        .expect("suspend");
    let verified = verified_when(&node, &number, "shown suspended", |v| {
        v.certificate.as_ref().is_some_and(|c| c.status == pb::CertificateStatus::Suspended as i32)
    })
    .await;
    assert!(!verified.valid);
    assert_eq!(verified.certificate.unwrap().status, pb::CertificateStatus::Suspended as i32);
    certificates
        .reinstate_certificate(authed(
            pb::ReinstateCertificateRequest {
                certificate_number: number.clone(),
                expected_version: 0,
                note: "ok".into(),
            },
            &admin,
        ))
        .await
        .expect("reinstate");
    certificates
        .renew_certificate(authed(
            pb::RenewCertificateRequest { certificate_number: number.clone(), expected_version: 0, validity_years: 2 },
            &admin,
        ))
        .await
        .expect("renew");
    let expire = certificates
        .expire_certificate(authed(
            pb::ExpireCertificateRequest { certificate_number: number.clone(), expected_version: 0 },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(expire.code(), tonic::Code::FailedPrecondition, "a certificate still valid cannot expire");
    let revoked = certificates
        .revoke_certificate(authed(
            pb::RevokeCertificateRequest {
                certificate_number: number.clone(),
                expected_version: 0,
                reason: "fraude".into(),
            },
            &admin,
        ))
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.version, 5);
    let certificate = queries
        .get_certificate(authed(pb::GetCertificateRequest { certificate_number: number.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .certificate
        .unwrap();
    assert_eq!(certificate.status, pb::CertificateStatus::Revoked as i32);
    assert_eq!(certificate.status_reason, "fraude");

    // Listing by status.
    let approved_list = queries
        .list_dossiers(authed(
            pb::ListDossiersRequest { status: pb::DossierStatus::Approved as i32, ..Default::default() },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved_list.dossiers.len(), 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_life_on_sqlite() {
    whole_life(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_life_on_postgres() {
    whole_life(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejection_and_withdrawal() {
    let node = TestNode::start(Backend::Sqlite).await;
    let (applicant, admin) = (node.token(Role::Applicant), node.token(Role::Admin));
    let mut dossiers = node.dossiers();

    let rejected = submitted_dossier(&node, "Huawei", "B311").await;
    dossiers
        .reject_dossier(authed(
            pb::RejectDossierRequest {
                dossier_id: rejected.clone(),
                expected_version: 0,
                reasons: vec!["bande 2.6 GHz non autorisée".into()],
            },
            &admin,
        ))
        .await
        .expect("reject");

    let withdrawn = dossiers
        .create_dossier(authed(pb::CreateDossierRequest { equipment: Some(equipment("Nokia", "105")) }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .dossier_id;
    dossiers
        .withdraw_dossier(authed(
            pb::WithdrawDossierRequest { dossier_id: withdrawn.clone(), expected_version: 1, reason: "erreur".into() },
            &applicant,
        ))
        .await
        .expect("withdraw");

    let mut queries = node.queries();
    for (id, status) in [(rejected, pb::DossierStatus::Rejected), (withdrawn, pb::DossierStatus::Withdrawn)] {
        let d = queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id }, &applicant)).await.unwrap();
        assert_eq!(d.into_inner().dossier.unwrap().status, status as i32);
    }
    // No approval without payment: a submitted, unpaid dossier cannot be approved.
    let unpaid = submitted_dossier(&node, "Itel", "A70").await;
    let err = dossiers
        .approve_dossier(authed(
            pb::ApproveDossierRequest { dossier_id: unpaid, expected_version: 0, validity_years: 0 },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    node.stop().await;
}
