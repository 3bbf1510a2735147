//! Concurrency through the API: certificate numbers stay unique and gapless under concurrent
//! approvals, and concurrent commands at one expected version let exactly one through.

use std::collections::BTreeSet;

use crate::support::{Backend, TestNode, authed, ready_for_decision, submitted_dossier};
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_get_unique_gapless_certificate_numbers() {
    let node = TestNode::start(Backend::Postgres).await;
    let admin = node.token(Role::Admin);
    let mut ready = Vec::new();
    for i in 0..8 {
        let id = submitted_dossier(&node, "Tecno", &format!("Camon {i}")).await;
        ready_for_decision(&node, &id).await;
        ready.push(id);
    }
    // Unpaid dossiers whose approvals fail in the same burst must not burn numbers.
    let mut unpaid = Vec::new();
    for i in 0..4 {
        unpaid.push(submitted_dossier(&node, "Itel", &format!("S{i}")).await);
    }

    let mut calls = Vec::new();
    for id in ready.iter().chain(&unpaid) {
        let mut client = node.dossiers();
        let request = authed(
            pb::ApproveDossierRequest { dossier_id: id.clone(), expected_version: 0, validity_years: 0 },
            &admin,
        );
        calls.push(tokio::spawn(async move { client.approve_dossier(request).await }));
    }
    let mut numbers = BTreeSet::new();
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(r) => assert!(numbers.insert(r.into_inner().certificate_number), "duplicate number"),
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 4);
    let year = chrono::Utc::now().format("%Y");
    let expected: BTreeSet<String> = (1..=8).map(|n| format!("ARPCE-HOM-{year}-{n:06}")).collect();
    assert_eq!(numbers, expected, "numbers are exactly 1..=8");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_at_one_expected_version_let_exactly_one_through() {
    let node = TestNode::start(Backend::Postgres).await;
    let applicant = node.token(Role::Applicant);
    let id = submitted_dossier(&node, "Xiaomi", "Redmi 13C").await;
    let admin = node.token(Role::Admin);
    let version = node
        .queries()
        .get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap()
        .version;

    let mut calls = Vec::new();
    for i in 0..10_u128 {
        let mut client = node.dossiers();
        let request = authed(
            pb::AssignReviewerRequest {
                dossier_id: id.clone(),
                expected_version: version,
                reviewer_id: uuid::Uuid::from_u128(i).to_string(),
            },
            &admin,
        );
        calls.push(tokio::spawn(async move { client.assign_reviewer(request).await }));
    }
    let (mut ok, mut aborted) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(r) => {
                assert_eq!(r.into_inner().version, version + 1);
                ok += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                aborted += 1;
            }
        }
    }
    assert_eq!((ok, aborted), (1, 9));
    let history = node
        .queries()
        .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: id }, &applicant))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(history.len() as i64, version + 1);
    node.stop().await;
}
