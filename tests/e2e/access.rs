//! Authorization: an applicant sees and acts only on its own organisation's dossiers, staff
//! actions need the staff role, and server-chosen fields come from the token and the server.

use crate::support::{Backend, TestNode, authed, document, equipment, submitted_dossier};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use tonic::Code;

async fn version_and_history(node: &TestNode, id: &str) -> (i64, usize) {
    let admin = node.token(Role::Admin);
    let mut queries = node.queries();
    let d = queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id.into() }, &admin)).await.unwrap();
    let h = queries
        .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: id.into() }, &admin))
        .await
        .unwrap();
    (d.into_inner().dossier.unwrap().version, h.into_inner().entries.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_organisation_cannot_read_or_act_on_a_dossier() {
    let node = TestNode::start(Backend::Postgres).await;
    let intruder = node.other_applicant_token();
    let id = submitted_dossier(&node, "Samsung", "Galaxy A15").await;
    let before = version_and_history(&node, &id).await;

    let mut queries = node.queries();
    let mut dossiers = node.dossiers();
    let read =
        queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &intruder)).await.unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    let history = queries
        .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: id.clone() }, &intruder))
        .await
        .unwrap_err();
    assert_eq!(history.code(), Code::NotFound);

    let codes = [
        dossiers.attach_document(authed(document(&id, pb::DocumentKind::UserManual), &intruder)).await.map(|_| ()),
        dossiers
            .withdraw_dossier(authed(
                pb::WithdrawDossierRequest { dossier_id: id.clone(), expected_version: 0, reason: "pirate".into() },
                &intruder,
            ))
            .await
            .map(|_| ()),
        dossiers
            .complete_dossier(authed(
                pb::CompleteDossierRequest { dossier_id: id.clone(), expected_version: 0, note: String::new() },
                &intruder,
            ))
            .await
            .map(|_| ()),
    ];
    for result in codes {
        let code = result.unwrap_err().code();
        assert!(matches!(code, Code::NotFound | Code::PermissionDenied), "got {code:?}");
    }

    // Listing another organisation's dossiers yields only one's own.
    let listed = queries
        .list_dossiers(authed(
            pb::ListDossiersRequest {
                organisation_id: node.demo.applicant_organisation.organisation_id.clone(),
                ..Default::default()
            },
            &intruder,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.dossiers.is_empty(), "the intruder sees {} dossiers", listed.dossiers.len());

    assert_eq!(version_and_history(&node, &id).await, before, "nothing changed");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_actions_need_the_staff_role() {
    let node = TestNode::start(Backend::Sqlite).await;
    let (applicant, reviewer) = (node.token(Role::Applicant), node.token(Role::Reviewer));
    let id = submitted_dossier(&node, "Infinix", "Hot 40").await;
    let before = version_and_history(&node, &id).await;
    let mut dossiers = node.dossiers();

    let invoice = dossiers
        .invoice_fee(authed(pb::InvoiceFeeRequest { dossier_id: id.clone(), expected_version: 0 }, &applicant))
        .await
        .unwrap_err();
    assert_eq!(invoice.code(), Code::PermissionDenied);
    let assign = dossiers
        .assign_reviewer(authed(
            pb::AssignReviewerRequest {
                dossier_id: id.clone(),
                expected_version: 0,
                reviewer_id: node.demo.applicant.user_id.clone(),
            },
            &applicant,
        ))
        .await
        .unwrap_err();
    assert_eq!(assign.code(), Code::PermissionDenied);
    let approve = dossiers
        .approve_dossier(authed(
            pb::ApproveDossierRequest { dossier_id: id.clone(), expected_version: 0, validity_years: 0 },
            &reviewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(approve.code(), Code::PermissionDenied);
    let incomplete = dossiers
        .declare_incomplete(authed(
            pb::DeclareIncompleteRequest {
                dossier_id: id.clone(),
                expected_version: 0,
                reason: "je me déclare incomplet".into(),
                missing_documents: vec![],
            },
            &applicant,
        ))
        .await
        .unwrap_err();
    assert_eq!(incomplete.code(), Code::PermissionDenied);
    let queue = node
        .queries()
        .get_reviewer_queue(authed(pb::GetReviewerQueueRequest::default(), &applicant))
        .await
        .unwrap_err();
    assert_eq!(queue.code(), Code::PermissionDenied);
    let suspend = node
        .certificates()
        .suspend_certificate(authed(
            pb::SuspendCertificateRequest {
                certificate_number: "ARPCE-HOM-2026-000001".into(),
                expected_version: 0,
                reason: "x".into(),
            },
            &applicant,
        ))
        .await
        .unwrap_err();
    assert_eq!(suspend.code(), Code::PermissionDenied);
    // Staff do not file dossiers.
    let create = dossiers
        .create_dossier(authed(pb::CreateDossierRequest { equipment: Some(equipment("ZTE", "MF927U")) }, &reviewer))
        .await
        .unwrap_err();
    assert_eq!(create.code(), Code::PermissionDenied);

    assert_eq!(version_and_history(&node, &id).await, before, "nothing changed");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn organisation_and_status_come_from_the_token_and_the_server() {
    let node = TestNode::start(Backend::Sqlite).await;
    let applicant = node.token(Role::Applicant);
    let created = node
        .dossiers()
        .create_dossier(authed(pb::CreateDossierRequest { equipment: Some(equipment("Tecno", "Pop 8")) }, &applicant))
        .await
        .unwrap()
        .into_inner();
    let dossier = node
        .queries()
        .get_dossier(authed(pb::GetDossierRequest { dossier_id: created.dossier_id }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(dossier.organisation_id, node.demo.applicant_organisation.organisation_id);
    assert_eq!(dossier.applicant_id, node.demo.applicant.user_id);
    assert_eq!(dossier.status, pb::DossierStatus::Draft as i32);
    assert_eq!(dossier.payment_status, pb::PaymentStatus::NotInvoiced as i32);
    assert!(dossier.certificate_number.is_empty());
    node.stop().await;
}
