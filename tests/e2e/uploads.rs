//! Documents uploaded with their file (UploadDocument): the server verifies the digest, the
//! type and the size, stores the bytes in the transaction that attaches the document, and
//! gives them back (GetDocumentContent) to whoever may see the dossier. On SQLite and
//! PostgreSQL.

use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Backend, TestNode, authed, equipment};

fn pdf(pages: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    for page in 0..pages {
        bytes.extend_from_slice(format!("{page} 0 obj << /Type /Page >> endobj\n").as_bytes());
    }
    bytes.extend_from_slice(b"%%EOF\n");
    bytes
}

fn upload(dossier_id: &str, kind: pb::DocumentKind, media_type: &str, content: &[u8]) -> pb::UploadDocumentRequest {
    pb::UploadDocumentRequest {
        dossier_id: dossier_id.into(),
        expected_version: 0,
        kind: kind as i32,
        file_name: "fiche-technique.pdf".into(),
        media_type: media_type.into(),
        sha256: hex::encode(Sha256::digest(content)),
        content: content.to_vec(),
        ..Default::default()
    }
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let details = status.get_error_details();
    details.bad_request().map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect()).unwrap_or_default()
}

async fn uploads(backend: Backend) {
    let node = TestNode::start(backend).await;
    let (applicant, reviewer) = (node.token(Role::Applicant), node.token(Role::Reviewer));
    let (mut dossiers, mut queries) = (node.dossiers(), node.queries());
    let id = dossiers
        .create_dossier(authed(
            pb::CreateDossierRequest { equipment: Some(equipment("Tecno", "Camon 40")) },
            &applicant,
        ))
        .await
        .expect("create")
        .into_inner()
        .dossier_id;

    // Stored and attached in one step; the document says what the server verified.
    let file = pdf(200);
    let uploaded = dossiers
        .upload_document(authed(
            upload(&id, pb::DocumentKind::TechnicalDatasheet, "application/pdf", &file),
            &applicant,
        ))
        .await
        .expect("upload")
        .into_inner();
    let document = uploaded.document.expect("the attached document");
    assert_eq!(document.size_bytes, file.len() as u64);
    assert_eq!(document.sha256, hex::encode(Sha256::digest(&file)));
    assert_eq!(document.storage_uri, format!("/v1/dossiers/{id}/documents/{}/content", document.document_id));
    assert_eq!(uploaded.version, 2);

    // The same bytes back, for the applicant and for staff.
    for token in [&applicant, &reviewer] {
        let content = queries
            .get_document_content(authed(
                pb::GetDocumentContentRequest { dossier_id: id.clone(), document_id: document.document_id.clone() },
                token,
            ))
            .await
            .expect("content")
            .into_inner();
        assert_eq!(content.content, file);
        assert_eq!(
            (content.media_type.as_str(), content.file_name.as_str()),
            ("application/pdf", "fiche-technique.pdf")
        );
        assert_eq!(content.sha256, document.sha256);
    }
    // Another organisation's applicant: as for the dossier, NOT_FOUND.
    let refused = queries
        .get_document_content(authed(
            pb::GetDocumentContentRequest { dossier_id: id.clone(), document_id: document.document_id.clone() },
            &node.other_applicant_token(),
        ))
        .await
        .expect_err("another organisation");
    assert_eq!(refused.code(), Code::NotFound);

    // A digest that is not the content's, a type the bytes are not, an unaccepted type: each
    // refused by field, nothing attached.
    let mut wrong_digest = upload(&id, pb::DocumentKind::Photos, "image/png", b"\x89PNG\r\n\x1a\nrest");
    wrong_digest.sha256 = hex::encode(Sha256::digest(b"something else"));
    let not_png = upload(&id, pb::DocumentKind::Photos, "image/png", &file);
    let exe = upload(&id, pb::DocumentKind::Photos, "application/x-msdownload", b"MZ\x90\x00");
    for (request, field) in [(wrong_digest, "sha256"), (not_png, "content"), (exe, "media_type")] {
        let status = dossiers.upload_document(authed(request, &applicant)).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(violated_fields(&status), [field], "{status:?}");
    }

    // Beyond the upload limit (16 MiB): RESOURCE_EXHAUSTED from the transport, before any work.
    let mut huge = b"%PDF-1.7\n".to_vec();
    huge.resize(16 * 1024 * 1024 + 1, b' ');
    let status = dossiers
        .upload_document(authed(upload(&id, pb::DocumentKind::Photos, "application/pdf", &huge), &applicant))
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // A reviewer may not upload; the refusal stores no file.
    let status = dossiers
        .upload_document(authed(upload(&id, pb::DocumentKind::Photos, "application/pdf", &pdf(1)), &reviewer))
        .await
        .expect_err("reviewer");
    assert_eq!(status.code(), Code::PermissionDenied);
    let seen = queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &applicant)).await.unwrap();
    assert_eq!(seen.into_inner().dossier.unwrap().documents.len(), 1, "only the accepted upload is attached");
    let stored = node.count_rows("document_files").await;
    assert_eq!(stored, 1, "only the accepted upload's file is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_verified_stored_and_served_on_sqlite() {
    uploads(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_verified_stored_and_served_on_postgres() {
    uploads(Backend::Postgres).await;
}
