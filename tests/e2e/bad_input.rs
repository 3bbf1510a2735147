//! Bad input is refused with INVALID_ARGUMENT (RESOURCE_EXHAUSTED when too large, ABORTED when
//! stale) and leaves no trace: no event, no read-model change, on SQLite and PostgreSQL.

use crate::support::{Backend, TestNode, authed, document, equipment, submitted_dossier};
use fleuve_mesh::Role;
use fleuve_proto::{common::v1 as common, homologation::v1 as pb};
use tonic::{Code, Status};

const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {code:?}, got OK: {value:?}"),
        Err(status) => assert_eq!(status.code(), code, "{what}: {}", status.message()),
    }
}

/// The dossiers the demo applicant sees.
async fn applicant_dossiers(node: &TestNode) -> Vec<pb::Dossier> {
    node.queries()
        .list_dossiers(authed(
            pb::ListDossiersRequest { page_size: 100, ..Default::default() },
            &node.token(Role::Applicant),
        ))
        .await
        .expect("list dossiers")
        .into_inner()
        .dossiers
}

/// A dossier as its applicant reads it back, with its history.
async fn read_back(node: &TestNode, id: &str) -> (pb::Dossier, Vec<pb::HistoryEntry>) {
    let token = node.token(Role::Applicant);
    let dossier = node
        .queries()
        .get_dossier(authed(pb::GetDossierRequest { dossier_id: id.into() }, &token))
        .await
        .expect("get dossier")
        .into_inner()
        .dossier
        .expect("dossier");
    let history = node
        .queries()
        .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: id.into() }, &token))
        .await
        .expect("history")
        .into_inner()
        .entries;
    (dossier, history)
}

/// Everything a refused call could have changed.
#[derive(Debug, PartialEq)]
struct Snapshot {
    events: usize,
    dossiers: Vec<pb::Dossier>,
    watched: Option<(pb::Dossier, Vec<pb::HistoryEntry>)>,
}

async fn snapshot(node: &TestNode, watched: Option<&str>) -> Snapshot {
    let watched = match watched {
        Some(id) => Some(read_back(node, id).await),
        None => None,
    };
    Snapshot { events: node.event_count().await, dossiers: applicant_dossiers(node).await, watched }
}

async fn draft_dossier(node: &TestNode, brand: &str) -> String {
    node.dossiers()
        .create_dossier(authed(
            pb::CreateDossierRequest { equipment: Some(equipment(brand, "Camon 30")) },
            &node.token(Role::Applicant),
        ))
        .await
        .expect("create")
        .into_inner()
        .dossier_id
}

fn with_equipment(change: impl FnOnce(&mut pb::Equipment)) -> pb::CreateDossierRequest {
    let mut e = equipment("Tecno", "Spark 20");
    change(&mut e);
    pb::CreateDossierRequest { equipment: Some(e) }
}

// ---------------------------------------------------------------------------------------------
// CreateDossier

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_dossier_refuses_invalid_equipment() {
    let band = |lower_khz, upper_khz| pb::FrequencyBand { lower_khz, upper_khz };
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let applicant = node.token(Role::Applicant);
        let before = snapshot(&node, None).await;
        let cases: Vec<(&str, pb::CreateDossierRequest)> = vec![
            ("missing equipment", pb::CreateDossierRequest { equipment: None }),
            ("empty brand", with_equipment(|e| e.brand.clear())),
            ("blank brand", with_equipment(|e| e.brand = "   ".into())),
            ("brand of 101 characters", with_equipment(|e| e.brand = "B".repeat(101))),
            ("brand of 101 two-byte characters", with_equipment(|e| e.brand = "é".repeat(101))),
            ("brand of 10 000 characters", with_equipment(|e| e.brand = "B".repeat(10_000))),
            ("brand with a NUL", with_equipment(|e| e.brand = "Tec\0no".into())),
            ("empty model", with_equipment(|e| e.model.clear())),
            ("unknown category 99", with_equipment(|e| e.category = 99)),
            ("negative category", with_equipment(|e| e.category = -1)),
            ("unspecified category", with_equipment(|e| e.category = pb::EquipmentCategory::Unspecified as i32)),
            ("band with lower > upper", with_equipment(|e| e.frequency_bands = vec![band(960_000, 880_000)])),
            ("band with lower == upper", with_equipment(|e| e.frequency_bands = vec![band(900_000, 900_000)])),
            ("band starting at 0", with_equipment(|e| e.frequency_bands = vec![band(0, 900_000)])),
            (
                "one bad band after a good one",
                with_equipment(|e| e.frequency_bands = vec![band(880_000, 960_000), band(5, 5)]),
            ),
            ("no frequency band", with_equipment(|e| e.frequency_bands.clear())),
            ("17 frequency bands", with_equipment(|e| e.frequency_bands = vec![band(1, 2); 17])),
            (
                "characteristic without a name",
                with_equipment(|e| {
                    e.characteristics = vec![pb::Characteristic { name: String::new(), value: "x".into() }]
                }),
            ),
        ];
        for (what, request) in cases {
            let result = node.dossiers().create_dossier(authed(request, &applicant)).await;
            assert_code(result, Code::InvalidArgument, &format!("{backend:?}: CreateDossier with {what}"));
        }
        assert_eq!(snapshot(&node, None).await, before, "{backend:?}: a refused CreateDossier wrote something");

        // The limits are where they are said to be: 100 characters (not bytes) pass.
        for brand in ["B".repeat(100), "é".repeat(100)] {
            let created = node
                .dossiers()
                .create_dossier(authed(with_equipment(|e| e.brand = brand.clone()), &applicant))
                .await
                .unwrap_or_else(|s| panic!("{backend:?}: a 100-character brand is valid: {s:?}"));
            assert_eq!(created.get_ref().version, 1);
        }
        let after = snapshot(&node, None).await;
        assert_eq!(after.dossiers.len(), before.dossiers.len() + 2, "{backend:?}");
        assert_eq!(after.events, before.events + 2, "{backend:?}");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// AttachDocument

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_document_refuses_invalid_documents() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let applicant = node.token(Role::Applicant);
        let id = draft_dossier(&node, "Tecno").await;
        let before = snapshot(&node, Some(&id)).await;
        let datasheet = || document(&id, pb::DocumentKind::TechnicalDatasheet);
        let report = || pb::AttachDocumentRequest {
            laboratory: "LNE Brazzaville".into(),
            standards: vec!["ETSI EN 301 511".into()],
            ..document(&id, pb::DocumentKind::TestReport)
        };
        let cases: Vec<(&str, pb::AttachDocumentRequest)> = vec![
            ("an empty file name", pb::AttachDocumentRequest { file_name: String::new(), ..datasheet() }),
            ("a blank file name", pb::AttachDocumentRequest { file_name: " \t ".into(), ..datasheet() }),
            ("a file name of 256 characters", pb::AttachDocumentRequest { file_name: "f".repeat(256), ..datasheet() }),
            ("unknown kind 42", pb::AttachDocumentRequest { kind: 42, ..datasheet() }),
            ("unspecified kind", pb::AttachDocumentRequest { kind: 0, ..datasheet() }),
            ("sha256 \"xyz\"", pb::AttachDocumentRequest { sha256: "xyz".into(), ..datasheet() }),
            ("sha256 of 63 hex digits", pb::AttachDocumentRequest { sha256: "a".repeat(63), ..datasheet() }),
            ("sha256 of 65 hex digits", pb::AttachDocumentRequest { sha256: "a".repeat(65), ..datasheet() }),
            ("sha256 of 64 non-hex characters", pb::AttachDocumentRequest { sha256: "g".repeat(64), ..datasheet() }),
            ("an empty sha256", pb::AttachDocumentRequest { sha256: String::new(), ..datasheet() }),
            ("size 0", pb::AttachDocumentRequest { size_bytes: 0, ..datasheet() }),
            ("size over 100 MiB", pb::AttachDocumentRequest { size_bytes: 104_857_601, ..datasheet() }),
            ("an empty media type", pb::AttachDocumentRequest { media_type: String::new(), ..datasheet() }),
            ("a non-UUID dossier id", pb::AttachDocumentRequest { dossier_id: "dossier-1".into(), ..datasheet() }),
            ("an empty dossier id", pb::AttachDocumentRequest { dossier_id: String::new(), ..datasheet() }),
            ("a test report without laboratory", pb::AttachDocumentRequest { laboratory: String::new(), ..report() }),
            ("a test report without standards", pb::AttachDocumentRequest { standards: vec![], ..report() }),
            (
                "a datasheet naming a laboratory",
                pb::AttachDocumentRequest { laboratory: "LNE Brazzaville".into(), ..datasheet() },
            ),
        ];
        for (what, request) in cases {
            let result = node.dossiers().attach_document(authed(request, &applicant)).await;
            assert_code(result, Code::InvalidArgument, &format!("{backend:?}: AttachDocument with {what}"));
        }
        let after = snapshot(&node, Some(&id)).await;
        assert_eq!(after, before, "{backend:?}: a refused AttachDocument wrote something");
        let (dossier, history) = after.watched.expect("watched");
        assert_eq!((dossier.version, dossier.documents.len(), history.len()), (1, 0, 1), "{backend:?}");

        // The same documents, valid, are attached: the refusals above were about the input.
        let attached = node.dossiers().attach_document(authed(datasheet(), &applicant)).await;
        assert_eq!(attached.expect("valid datasheet").get_ref().version, 2, "{backend:?}");
        let attached = node.dossiers().attach_document(authed(report(), &applicant)).await;
        assert_eq!(attached.expect("valid test report").get_ref().version, 3, "{backend:?}");
        let (dossier, history) = read_back(&node, &id).await;
        assert_eq!((dossier.version, dossier.documents.len(), history.len()), (3, 2, 3), "{backend:?}");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Other commands

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_refuse_a_malformed_dossier_id() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let id = submitted_dossier(&node, "Tecno", "Pova 6").await;
        let before = snapshot(&node, Some(&id)).await;
        let (applicant, reviewer, admin) =
            (node.token(Role::Applicant), node.token(Role::Reviewer), node.token(Role::Admin));
        let mut d = node.dossiers();
        let suffixed = format!("{id}x");
        for bad in ["not-a-uuid", "", "   ", "12345", suffixed.as_str(), "' OR 1=1 --"] {
            let what = |rpc: &str| format!("{backend:?}: {rpc} with dossier id {bad:?}");
            let r = d
                .submit_dossier(authed(
                    pb::SubmitDossierRequest { dossier_id: bad.into(), expected_version: 0 },
                    &applicant,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("SubmitDossier"));
            let r = d
                .declare_incomplete(authed(
                    pb::DeclareIncompleteRequest {
                        dossier_id: bad.into(),
                        reason: "photos illisibles".into(),
                        missing_documents: vec![pb::DocumentKind::Photos as i32],
                        ..Default::default()
                    },
                    &reviewer,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("DeclareIncomplete"));
            let r = d
                .complete_dossier(authed(
                    pb::CompleteDossierRequest { dossier_id: bad.into(), ..Default::default() },
                    &applicant,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("CompleteDossier"));
            let r = d
                .invoice_fee(authed(pb::InvoiceFeeRequest { dossier_id: bad.into(), expected_version: 0 }, &admin))
                .await;
            assert_code(r, Code::InvalidArgument, &what("InvoiceFee"));
            let r = d
                .record_payment(authed(
                    pb::RecordPaymentRequest {
                        dossier_id: bad.into(),
                        payment_reference: "MOMO-1".into(),
                        amount: Some(common::Money { currency: "XAF".into(), amount: 250_000 }),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("RecordPayment"));
            let r = d
                .assign_reviewer(authed(
                    pb::AssignReviewerRequest {
                        dossier_id: bad.into(),
                        reviewer_id: node.demo.reviewer.user_id.clone(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("AssignReviewer"));
            let r = d
                .record_test_report(authed(
                    pb::RecordTestReportRequest {
                        dossier_id: bad.into(),
                        laboratory: "LNE".into(),
                        report_number: "R-1".into(),
                        standards: vec!["ETSI EN 301 511".into()],
                        passed: true,
                        ..Default::default()
                    },
                    &reviewer,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("RecordTestReport"));
            let r = d
                .recognize_foreign_certificate(authed(
                    pb::RecognizeForeignCertificateRequest {
                        dossier_id: bad.into(),
                        scheme: pb::ForeignScheme::Ce as i32,
                        reference: "CE-1".into(),
                        issuer: "TUV".into(),
                        ..Default::default()
                    },
                    &reviewer,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("RecognizeForeignCertificate"));
            let r = d
                .give_technical_opinion(authed(
                    pb::GiveTechnicalOpinionRequest { dossier_id: bad.into(), favorable: true, ..Default::default() },
                    &reviewer,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("GiveTechnicalOpinion"));
            let r = d
                .approve_dossier(authed(
                    pb::ApproveDossierRequest { dossier_id: bad.into(), ..Default::default() },
                    &admin,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("ApproveDossier"));
            let r = d
                .reject_dossier(authed(
                    pb::RejectDossierRequest {
                        dossier_id: bad.into(),
                        reasons: vec!["non conforme".into()],
                        ..Default::default()
                    },
                    &admin,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("RejectDossier"));
            let r = d
                .withdraw_dossier(authed(
                    pb::WithdrawDossierRequest { dossier_id: bad.into(), ..Default::default() },
                    &applicant,
                ))
                .await;
            assert_code(r, Code::InvalidArgument, &what("WithdrawDossier"));
            let r = node.queries().get_dossier(authed(pb::GetDossierRequest { dossier_id: bad.into() }, &admin)).await;
            assert_code(r, Code::InvalidArgument, &what("GetDossier"));
            let r = node
                .queries()
                .get_dossier_history(authed(pb::GetDossierHistoryRequest { dossier_id: bad.into() }, &admin))
                .await;
            assert_code(r, Code::InvalidArgument, &what("GetDossierHistory"));
        }
        assert_eq!(snapshot(&node, Some(&id)).await, before, "{backend:?}: a refused command wrote something");
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_incomplete_refuses_an_unknown_document_kind() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let id = submitted_dossier(&node, "Tecno", "Phantom X2").await;
        let reviewer = node.token(Role::Reviewer);
        let before = snapshot(&node, Some(&id)).await;
        let declare = |missing: Vec<i32>| pb::DeclareIncompleteRequest {
            dossier_id: id.clone(),
            expected_version: 0,
            reason: "photos illisibles".into(),
            missing_documents: missing,
        };
        for (what, missing) in [
            ("an unknown kind alone", vec![42]),
            ("a known kind then an unknown one", vec![pb::DocumentKind::Photos as i32, 42]),
            ("the unspecified kind", vec![pb::DocumentKind::Photos as i32, 0]),
            ("a negative kind", vec![-3]),
        ] {
            let result = node.dossiers().declare_incomplete(authed(declare(missing), &reviewer)).await;
            assert_code(result, Code::InvalidArgument, &format!("{backend:?}: DeclareIncomplete with {what}"));
        }
        let blank_reason = pb::DeclareIncompleteRequest { reason: "  ".into(), ..declare(vec![4]) };
        let result = node.dossiers().declare_incomplete(authed(blank_reason, &reviewer)).await;
        assert_code(result, Code::InvalidArgument, &format!("{backend:?}: DeclareIncomplete with a blank reason"));

        let after = snapshot(&node, Some(&id)).await;
        assert_eq!(after, before, "{backend:?}: a refused DeclareIncomplete wrote something");
        assert_eq!(after.watched.expect("watched").0.status, pb::DossierStatus::Submitted as i32);

        // Control: with known kinds only the same reviewer succeeds.
        node.dossiers()
            .declare_incomplete(authed(declare(vec![pb::DocumentKind::Photos as i32]), &reviewer))
            .await
            .expect("declare incomplete with a known kind");
        let (dossier, _) = read_back(&node, &id).await;
        assert_eq!(dossier.status, pb::DossierStatus::Incomplete as i32, "{backend:?}");
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_payment_refuses_a_wrong_amount() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let id = submitted_dossier(&node, "Tecno", "Spark Go").await;
        let admin = node.token(Role::Admin);
        let invoice = node
            .dossiers()
            .invoice_fee(authed(pb::InvoiceFeeRequest { dossier_id: id.clone(), expected_version: 0 }, &admin))
            .await
            .expect("invoice")
            .into_inner()
            .invoice
            .expect("invoice");
        let due = invoice.amount.clone().expect("amount");
        let before = snapshot(&node, Some(&id)).await;
        let pay = |amount: Option<common::Money>| pb::RecordPaymentRequest {
            dossier_id: id.clone(),
            expected_version: 0,
            payment_reference: "MOMO-2026-0001".into(),
            amount,
        };
        let cases: Vec<(&str, pb::RecordPaymentRequest)> = vec![
            ("one franc short", pay(Some(common::Money { amount: due.amount - 1, ..due.clone() }))),
            ("one franc over", pay(Some(common::Money { amount: due.amount + 1, ..due.clone() }))),
            ("zero", pay(Some(common::Money { amount: 0, ..due.clone() }))),
            ("a negative amount", pay(Some(common::Money { amount: -due.amount, ..due.clone() }))),
            ("another currency", pay(Some(common::Money { currency: "EUR".into(), ..due.clone() }))),
            ("no currency", pay(Some(common::Money { currency: String::new(), ..due.clone() }))),
            ("no amount", pay(None)),
            (
                "a blank payment reference",
                pb::RecordPaymentRequest { payment_reference: " ".into(), ..pay(Some(due.clone())) },
            ),
        ];
        for (what, request) in cases {
            let result = node.dossiers().record_payment(authed(request, &admin)).await;
            assert_code(result, Code::InvalidArgument, &format!("{backend:?}: RecordPayment with {what}"));
        }
        let after = snapshot(&node, Some(&id)).await;
        assert_eq!(after, before, "{backend:?}: a refused RecordPayment wrote something");
        let dossier = after.watched.expect("watched").0;
        assert_eq!(dossier.payment_status, pb::PaymentStatus::Invoiced as i32, "{backend:?}");
        assert_eq!(dossier.payment, None, "{backend:?}");

        // Control: the exact amount is recorded.
        node.dossiers().record_payment(authed(pay(Some(due)), &admin)).await.expect("exact payment");
        let (dossier, _) = read_back(&node, &id).await;
        assert_eq!(dossier.payment_status, pb::PaymentStatus::Paid as i32, "{backend:?}");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_refuse_bad_filters_and_numbers() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let (applicant, admin) = (node.token(Role::Applicant), node.token(Role::Admin));
        draft_dossier(&node, "Tecno").await;
        let before = snapshot(&node, None).await;
        let list = |request: pb::ListDossiersRequest, token: &str| {
            let mut queries = node.queries();
            let request = authed(request, token);
            async move { queries.list_dossiers(request).await }
        };
        let cases: Vec<(&str, pb::ListDossiersRequest)> = vec![
            ("unknown status 77", pb::ListDossiersRequest { status: 77, ..Default::default() }),
            ("negative status", pb::ListDossiersRequest { status: -1, ..Default::default() }),
            ("page_size 1000", pb::ListDossiersRequest { page_size: 1000, ..Default::default() }),
            ("page_size 101", pb::ListDossiersRequest { page_size: 101, ..Default::default() }),
            ("page_size -1", pb::ListDossiersRequest { page_size: -1, ..Default::default() }),
            ("page_size i32::MIN", pb::ListDossiersRequest { page_size: i32::MIN, ..Default::default() }),
            ("an overlong page token", pb::ListDossiersRequest { page_token: "t".repeat(201), ..Default::default() }),
        ];
        for (what, request) in &cases {
            assert_code(
                list(request.clone(), &applicant).await,
                Code::InvalidArgument,
                &format!("{backend:?}: ListDossiers with {what}"),
            );
            assert_code(
                list(request.clone(), &admin).await,
                Code::InvalidArgument,
                &format!("{backend:?}: staff ListDossiers with {what}"),
            );
        }
        let bad_org = pb::ListDossiersRequest { organisation_id: "not-a-uuid".into(), ..Default::default() };
        assert_code(
            list(bad_org, &admin).await,
            Code::InvalidArgument,
            &format!("{backend:?}: ListDossiers for organisation \"not-a-uuid\""),
        );
        // Control: the largest page and a known status are fine.
        let ok = list(
            pb::ListDossiersRequest { page_size: 100, status: pb::DossierStatus::Draft as i32, ..Default::default() },
            &applicant,
        )
        .await
        .expect("page_size 100, status draft");
        assert_eq!(ok.get_ref().dossiers.len(), 1, "{backend:?}");

        for number in [
            "not-a-number",
            "",
            "ARPCE-HOM-2026-000000",
            "ARPCE-HOM-26-000001",
            "ARPCE-HOM-2026-0001",
            "ARPCE-INV-2026-000001",
        ] {
            let what = format!("{backend:?}: certificate number {number:?}");
            let verify = node
                .registry()
                .verify_certificate(pb::VerifyCertificateRequest { certificate_number: number.into() })
                .await;
            assert_code(verify, Code::InvalidArgument, &format!("VerifyCertificate, {what}"));
            let get = node
                .queries()
                .get_certificate(authed(pb::GetCertificateRequest { certificate_number: number.into() }, &admin))
                .await;
            assert_code(get, Code::InvalidArgument, &format!("GetCertificate, {what}"));
            let suspend = node
                .certificates()
                .suspend_certificate(authed(
                    pb::SuspendCertificateRequest {
                        certificate_number: number.into(),
                        reason: "audit".into(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await;
            assert_code(suspend, Code::InvalidArgument, &format!("SuspendCertificate, {what}"));
        }
        // Control: a well-formed number that was never issued is simply not found.
        let unknown = node
            .registry()
            .verify_certificate(pb::VerifyCertificateRequest { certificate_number: "ARPCE-HOM-2026-000001".into() })
            .await;
        assert_code(unknown, Code::NotFound, &format!("{backend:?}: VerifyCertificate of an unissued number"));

        for (what, request) in [
            ("neither brand nor model", pb::SearchCertificatesRequest::default()),
            ("a blank brand", pb::SearchCertificatesRequest { brand: "  ".into(), ..Default::default() }),
            (
                "a brand of 101 characters",
                pb::SearchCertificatesRequest { brand: "b".repeat(101), ..Default::default() },
            ),
            (
                "page_size 1000",
                pb::SearchCertificatesRequest { brand: "Tecno".into(), page_size: 1000, ..Default::default() },
            ),
        ] {
            let result = node.registry().search_certificates(request).await;
            assert_code(result, Code::InvalidArgument, &format!("{backend:?}: SearchCertificates with {what}"));
        }
        assert_eq!(snapshot(&node, None).await, before, "{backend:?}: a refused query wrote something");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Size limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_before_any_write() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        assert_eq!(node.config.limits.max_request_bytes, 4 * MIB, "the test assumes the default limit");
        let applicant = node.token(Role::Applicant);
        let id = draft_dossier(&node, "Tecno").await;
        let before = snapshot(&node, Some(&id)).await;
        // The client's own 4 MiB encoding limit is raised so the request reaches the server.
        let dossiers = || node.dossiers().max_encoding_message_size(16 * MIB);
        let huge = "B".repeat(5 * MIB);

        let result = dossiers().create_dossier(authed(with_equipment(|e| e.brand = huge.clone()), &applicant)).await;
        assert_code(result, Code::ResourceExhausted, &format!("{backend:?}: CreateDossier with a 5 MiB brand"));
        let request = pb::AttachDocumentRequest {
            file_name: huge.clone(),
            ..document(&id, pb::DocumentKind::TechnicalDatasheet)
        };
        let result = dossiers().attach_document(authed(request, &applicant)).await;
        assert_code(result, Code::ResourceExhausted, &format!("{backend:?}: AttachDocument with a 5 MiB file name"));
        // Many small fields add up: 5 MiB of characteristics.
        let many = with_equipment(|e| {
            e.characteristics = vec![pb::Characteristic { name: "n".into(), value: "v".repeat(500) }; 5 * MIB / 500]
        });
        let result = dossiers().create_dossier(authed(many, &applicant)).await;
        assert_code(
            result,
            Code::ResourceExhausted,
            &format!("{backend:?}: CreateDossier with 5 MiB of characteristics"),
        );
        // A public method is limited too: an anonymous request is refused as soon as its
        // message's prefix declares too much. (On a method that needs a token, the token is
        // checked first: an anonymous request is refused UNAUTHENTICATED, its body unread.)
        let result = node
            .registry()
            .max_encoding_message_size(16 * MIB)
            .search_certificates(pb::SearchCertificatesRequest { brand: huge.clone(), ..Default::default() })
            .await;
        assert_code(result, Code::ResourceExhausted, &format!("{backend:?}: anonymous SearchCertificates of 5 MiB"));

        // Just under the limit the request reaches validation, which refuses the brand.
        let result =
            dossiers().create_dossier(authed(with_equipment(|e| e.brand = "B".repeat(3 * MIB)), &applicant)).await;
        assert_code(result, Code::InvalidArgument, &format!("{backend:?}: CreateDossier with a 3 MiB brand"));

        assert_eq!(snapshot(&node, Some(&id)).await, before, "{backend:?}: an oversized request wrote something");

        // The node still serves normally afterwards, on the same channel.
        node.dossiers()
            .attach_document(authed(document(&id, pb::DocumentKind::TechnicalDatasheet), &applicant))
            .await
            .expect("a normal request after oversized ones");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Expected versions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_and_stale_expected_versions_are_refused() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let applicant = node.token(Role::Applicant);
        let id = draft_dossier(&node, "Tecno").await;
        let attach = |kind: pb::DocumentKind, expected_version: i64| pb::AttachDocumentRequest {
            expected_version,
            ..document(&id, kind)
        };
        // Version 1 -> 2.
        let v2 = node
            .dossiers()
            .attach_document(authed(attach(pb::DocumentKind::TechnicalDatasheet, 1), &applicant))
            .await
            .expect("attach at the current version")
            .into_inner()
            .version;
        assert_eq!(v2, 2);
        let before = snapshot(&node, Some(&id)).await;

        for negative in [-1, -2, i64::MIN] {
            let result =
                node.dossiers().attach_document(authed(attach(pb::DocumentKind::Photos, negative), &applicant)).await;
            assert_code(
                result,
                Code::InvalidArgument,
                &format!("{backend:?}: AttachDocument expected_version {negative}"),
            );
            let result = node
                .dossiers()
                .withdraw_dossier(authed(
                    pb::WithdrawDossierRequest {
                        dossier_id: id.clone(),
                        expected_version: negative,
                        reason: String::new(),
                    },
                    &applicant,
                ))
                .await;
            assert_code(
                result,
                Code::InvalidArgument,
                &format!("{backend:?}: WithdrawDossier expected_version {negative}"),
            );
        }
        for stale in [1, 3, 99, i64::MAX] {
            let result =
                node.dossiers().attach_document(authed(attach(pb::DocumentKind::Photos, stale), &applicant)).await;
            assert_code(
                result,
                Code::Aborted,
                &format!("{backend:?}: AttachDocument expected_version {stale} (current 2)"),
            );
            let result = node
                .dossiers()
                .withdraw_dossier(authed(
                    pb::WithdrawDossierRequest {
                        dossier_id: id.clone(),
                        expected_version: stale,
                        reason: String::new(),
                    },
                    &applicant,
                ))
                .await;
            assert_code(
                result,
                Code::Aborted,
                &format!("{backend:?}: WithdrawDossier expected_version {stale} (current 2)"),
            );
        }
        let after = snapshot(&node, Some(&id)).await;
        assert_eq!(after, before, "{backend:?}: a refused versioned command wrote something");
        let (dossier, history) = after.watched.expect("watched");
        assert_eq!(
            (dossier.version, dossier.status, history.len()),
            (2, pb::DossierStatus::Draft as i32, 2),
            "{backend:?}"
        );

        // Control: the current version is accepted.
        let v3 = node
            .dossiers()
            .attach_document(authed(attach(pb::DocumentKind::Photos, 2), &applicant))
            .await
            .expect("attach at the current version")
            .into_inner()
            .version;
        assert_eq!(v3, 3, "{backend:?}");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Undecodable messages

/// Sends raw bytes as the request message, to reach the server with what no typed client sends.
struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let len = prost::bytes::Buf::remaining(src);
        Ok(Some(prost::bytes::Buf::copy_to_bytes(src, len).to_vec()))
    }
}

async fn raw_call(node: &TestNode, path: &'static str, body: Vec<u8>, token: &str) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(node.channel.clone());
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(authed(body, token), path, RawCodec).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_are_refused_without_a_write() {
    const CREATE: &str = "/fleuve.homologation.v1.DossierService/CreateDossier";
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let applicant = node.token(Role::Applicant);
        let before = snapshot(&node, None).await;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a truncated varint", vec![0xff, 0xff, 0xff]),
            ("a length beyond the message", vec![0x0a, 0x7f, 0x0a]),
            // equipment { brand: <0xff> }: a string field that is not UTF-8.
            ("a brand that is not UTF-8", vec![0x0a, 0x03, 0x0a, 0x01, 0xff]),
            // An unknown field 99 as 200 nested groups, each closed: well-formed protobuf that
            // nests past the decoder's recursion limit (100).
            ("groups nested 200 deep", [[0x9b, 0x06].repeat(200), [0x9c, 0x06].repeat(200)].concat()),
        ];
        for (what, body) in cases {
            // tonic answers an undecodable request with INTERNAL ("failed to decode Protobuf
            // message"), as grpc-go and grpc-java do; INVALID_ARGUMENT would be as right. What
            // matters here is that it is refused and writes nothing.
            match raw_call(&node, CREATE, body, &applicant).await {
                Ok(reply) => panic!("{backend:?}: CreateDossier with {what} succeeded: {reply:?}"),
                Err(status) => {
                    assert!(
                        matches!(status.code(), Code::Internal | Code::InvalidArgument),
                        "{backend:?}: CreateDossier with {what}: {status:?}"
                    );
                    if what.starts_with("groups") {
                        assert!(status.message().contains("recursion limit"), "{backend:?}: {status:?}");
                    }
                }
            }
        }
        assert_eq!(snapshot(&node, None).await, before, "{backend:?}: an undecodable request wrote something");

        // Control: the raw path itself works with a well-formed message.
        let valid =
            prost::Message::encode_to_vec(&pb::CreateDossierRequest { equipment: Some(equipment("Tecno", "Raw 1")) });
        let reply = raw_call(&node, CREATE, valid, &applicant).await.expect("well-formed raw CreateDossier");
        let created: pb::CreateDossierResponse = prost::Message::decode(reply.as_slice()).expect("response");
        assert_eq!(created.version, 1, "{backend:?}");
        node.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Known server bugs: these assert the correct behaviour and fail today; see the report.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_with_control_characters_are_invalid() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let (applicant, reviewer) = (node.token(Role::Applicant), node.token(Role::Reviewer));
        draft_dossier(&node, "Tecno").await;
        let token = "0190\0abc".to_owned();
        let result = node
            .queries()
            .list_dossiers(authed(
                pb::ListDossiersRequest { page_token: token.clone(), ..Default::default() },
                &applicant,
            ))
            .await;
        assert_code(result, Code::InvalidArgument, &format!("{backend:?}: ListDossiers page_token with NUL"));
        let result = node
            .queries()
            .get_reviewer_queue(authed(
                pb::GetReviewerQueueRequest { page_token: token.clone(), page_size: 0 },
                &reviewer,
            ))
            .await;
        assert_code(result, Code::InvalidArgument, &format!("{backend:?}: GetReviewerQueue page_token with NUL"));
        // Public: anyone can trigger it without a token.
        let result = node
            .registry()
            .search_certificates(pb::SearchCertificatesRequest {
                brand: "Tecno".into(),
                page_token: token.clone(),
                ..Default::default()
            })
            .await;
        assert_code(result, Code::InvalidArgument, &format!("{backend:?}: SearchCertificates page_token with NUL"));
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_reviewer_refuses_a_malformed_reviewer_id() {
    for backend in BACKENDS {
        let node = TestNode::start(backend).await;
        let admin = node.token(Role::Admin);
        let id = submitted_dossier(&node, "Tecno", "Pop 9").await;
        let before = snapshot(&node, Some(&id)).await;
        for bad in ["not-a-uuid", "reviewer@arpce.cg", "12345"] {
            let result = node
                .dossiers()
                .assign_reviewer(authed(
                    pb::AssignReviewerRequest { dossier_id: id.clone(), expected_version: 0, reviewer_id: bad.into() },
                    &admin,
                ))
                .await;
            assert_code(
                result,
                Code::InvalidArgument,
                &format!("{backend:?}: AssignReviewer with reviewer id {bad:?}"),
            );
        }
        assert_eq!(snapshot(&node, Some(&id)).await, before, "{backend:?}: a refused AssignReviewer wrote something");
        node.stop().await;
    }
}
