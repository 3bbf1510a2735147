//! The command services: DossierService and CertificateService.

use fleuve_mesh::ServiceError;
use fleuve_proto::homologation::v1::{
    self as pb, certificate_service_server::CertificateService, dossier_service_server::DossierService,
};
use tonic::{Request, Response, Status};

use super::{command, uuid_field};
use crate::{
    app::Homologation,
    domain::{
        certificate::CertificateCommand,
        dossier::DossierCommand,
        values::{self, CertificateNumber},
    },
    time,
};

#[derive(Debug, Clone)]
pub struct DossierGrpc {
    pub(super) app: Homologation,
}

#[derive(Debug, Clone)]
pub struct CertificateGrpc {
    pub(super) app: Homologation,
}

fn document_kinds(kinds: &[i32]) -> Result<Vec<pb::DocumentKind>, Status> {
    kinds.iter().map(|k| values::document_kind(*k).map_err(|e| ServiceError::invalid(e.to_string()).into())).collect()
}

#[tonic::async_trait]
impl DossierService for DossierGrpc {
    async fn create_dossier(
        &self,
        request: Request<pb::CreateDossierRequest>,
    ) -> Result<Response<pb::CreateDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let equipment = r.equipment.ok_or_else(|| ServiceError::invalid("equipment is required"))?;
        let out = self.app.create_dossier(cx, equipment).await?;
        Ok(Response::new(pb::CreateDossierResponse { dossier_id: out.dossier.id.clone(), version: out.version() }))
    }

    async fn attach_document(
        &self,
        request: Request<pb::AttachDocumentRequest>,
    ) -> Result<Response<pb::AttachDocumentResponse>, Status> {
        let (cx, r) = command(request)?;
        let dossier_id = uuid_field("dossier_id", &r.dossier_id)?;
        let document_id = uuid::Uuid::now_v7().to_string();
        let document = pb::Document {
            document_id: document_id.clone(),
            kind: r.kind,
            file_name: r.file_name,
            media_type: r.media_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            storage_uri: r.storage_uri,
            laboratory: r.laboratory,
            standards: r.standards,
            attached_at: Some(time::to_proto(cx.now)),
        };
        let out = self
            .app
            .dossier_command(cx, dossier_id, r.expected_version, DossierCommand::AttachDocument { document })
            .await?;
        Ok(Response::new(pb::AttachDocumentResponse { document_id, version: out.version() }))
    }

    async fn upload_document(
        &self,
        request: Request<pb::UploadDocumentRequest>,
    ) -> Result<Response<pb::UploadDocumentResponse>, Status> {
        let (cx, r) = command(request)?;
        let dossier_id = uuid_field("dossier_id", &r.dossier_id)?;
        let max = self.app.settings().max_upload_bytes;
        if r.content.len() > max {
            return Err(ServiceError::ResourceExhausted(format!("a file may be at most {max} bytes")).into());
        }
        let sha256 = values::uploaded_file(&r.media_type, &r.sha256, &r.content, max).map_err(ServiceError::from)?;
        let document_id = uuid::Uuid::now_v7().to_string();
        let document = pb::Document {
            document_id: document_id.clone(),
            kind: r.kind,
            file_name: r.file_name,
            media_type: r.media_type.trim().to_ascii_lowercase(),
            size_bytes: r.content.len() as u64,
            sha256,
            // Where the file is served: the REST form of GetDocumentContent.
            storage_uri: format!("/v1/dossiers/{dossier_id}/documents/{document_id}/content"),
            laboratory: r.laboratory,
            standards: r.standards,
            attached_at: Some(time::to_proto(cx.now)),
        };
        let out = self.app.upload_document(cx, dossier_id, r.expected_version, document, r.content.into()).await?;
        let document = out.dossier.documents.iter().find(|d| d.document_id == document_id).cloned();
        Ok(Response::new(pb::UploadDocumentResponse { document, version: out.version() }))
    }

    async fn submit_dossier(
        &self,
        request: Request<pb::SubmitDossierRequest>,
    ) -> Result<Response<pb::SubmitDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let out = self
            .app
            .dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, DossierCommand::Submit)
            .await?;
        Ok(Response::new(pb::SubmitDossierResponse { version: out.version() }))
    }

    async fn declare_incomplete(
        &self,
        request: Request<pb::DeclareIncompleteRequest>,
    ) -> Result<Response<pb::DeclareIncompleteResponse>, Status> {
        let (cx, r) = command(request)?;
        let command =
            DossierCommand::DeclareIncomplete { reason: r.reason, missing: document_kinds(&r.missing_documents)? };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::DeclareIncompleteResponse { version: out.version() }))
    }

    async fn complete_dossier(
        &self,
        request: Request<pb::CompleteDossierRequest>,
    ) -> Result<Response<pb::CompleteDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::Complete { note: r.note };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::CompleteDossierResponse { version: out.version() }))
    }

    async fn invoice_fee(
        &self,
        request: Request<pb::InvoiceFeeRequest>,
    ) -> Result<Response<pb::InvoiceFeeResponse>, Status> {
        let (cx, r) = command(request)?;
        let out = self.app.invoice_fee(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version).await?;
        Ok(Response::new(pb::InvoiceFeeResponse { invoice: out.dossier.invoice.clone(), version: out.version() }))
    }

    async fn record_payment(
        &self,
        request: Request<pb::RecordPaymentRequest>,
    ) -> Result<Response<pb::RecordPaymentResponse>, Status> {
        let (cx, r) = command(request)?;
        let amount = r.amount.ok_or_else(|| ServiceError::invalid("amount is required"))?;
        let command = DossierCommand::RecordPayment { reference: r.payment_reference, amount };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::RecordPaymentResponse { version: out.version() }))
    }

    async fn assign_reviewer(
        &self,
        request: Request<pb::AssignReviewerRequest>,
    ) -> Result<Response<pb::AssignReviewerResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::AssignReviewer { reviewer_id: uuid_field("reviewer_id", &r.reviewer_id)? };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::AssignReviewerResponse { version: out.version() }))
    }

    async fn record_test_report(
        &self,
        request: Request<pb::RecordTestReportRequest>,
    ) -> Result<Response<pb::RecordTestReportResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::RecordTestReport {
            laboratory: r.laboratory,
            report_number: r.report_number,
            standards: r.standards,
            passed: r.passed,
        };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::RecordTestReportResponse { version: out.version() }))
    }

    async fn recognize_foreign_certificate(
        &self,
        request: Request<pb::RecognizeForeignCertificateRequest>,
    ) -> Result<Response<pb::RecognizeForeignCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let command =
            DossierCommand::RecognizeForeignCertificate { scheme: r.scheme, reference: r.reference, issuer: r.issuer };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::RecognizeForeignCertificateResponse { version: out.version() }))
    }

    async fn give_technical_opinion(
        &self,
        request: Request<pb::GiveTechnicalOpinionRequest>,
    ) -> Result<Response<pb::GiveTechnicalOpinionResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::GiveTechnicalOpinion { favorable: r.favorable, comments: r.comments };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::GiveTechnicalOpinionResponse { version: out.version() }))
    }

    async fn approve_dossier(
        &self,
        request: Request<pb::ApproveDossierRequest>,
    ) -> Result<Response<pb::ApproveDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let out = self
            .app
            .approve(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, r.validity_years)
            .await?;
        Ok(Response::new(pb::ApproveDossierResponse {
            certificate_number: out.dossier.certificate_number.clone().unwrap_or_default(),
            version: out.version(),
        }))
    }

    async fn reject_dossier(
        &self,
        request: Request<pb::RejectDossierRequest>,
    ) -> Result<Response<pb::RejectDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::Reject { reasons: r.reasons };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::RejectDossierResponse { version: out.version() }))
    }

    async fn withdraw_dossier(
        &self,
        request: Request<pb::WithdrawDossierRequest>,
    ) -> Result<Response<pb::WithdrawDossierResponse>, Status> {
        let (cx, r) = command(request)?;
        let command = DossierCommand::Withdraw { reason: r.reason };
        let out =
            self.app.dossier_command(cx, uuid_field("dossier_id", &r.dossier_id)?, r.expected_version, command).await?;
        Ok(Response::new(pb::WithdrawDossierResponse { version: out.version() }))
    }
}

fn certificate_number(value: &str) -> Result<String, Status> {
    CertificateNumber::parse(value.trim()).map_err(|e| ServiceError::invalid(e.to_string()).into())
}

#[tonic::async_trait]
impl CertificateService for CertificateGrpc {
    async fn suspend_certificate(
        &self,
        request: Request<pb::SuspendCertificateRequest>,
    ) -> Result<Response<pb::SuspendCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let number = certificate_number(&r.certificate_number)?;
        let c = self
            .app
            .certificate_command(cx, number, r.expected_version, CertificateCommand::Suspend { reason: r.reason })
            .await?;
        Ok(Response::new(pb::SuspendCertificateResponse { version: c.version }))
    }

    async fn reinstate_certificate(
        &self,
        request: Request<pb::ReinstateCertificateRequest>,
    ) -> Result<Response<pb::ReinstateCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let number = certificate_number(&r.certificate_number)?;
        let c = self
            .app
            .certificate_command(cx, number, r.expected_version, CertificateCommand::Reinstate { note: r.note })
            .await?;
        Ok(Response::new(pb::ReinstateCertificateResponse { version: c.version }))
    }

    async fn revoke_certificate(
        &self,
        request: Request<pb::RevokeCertificateRequest>,
    ) -> Result<Response<pb::RevokeCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let number = certificate_number(&r.certificate_number)?;
        let c = self
            .app
            .certificate_command(cx, number, r.expected_version, CertificateCommand::Revoke { reason: r.reason })
            .await?;
        Ok(Response::new(pb::RevokeCertificateResponse { version: c.version }))
    }

    async fn renew_certificate(
        &self,
        request: Request<pb::RenewCertificateRequest>,
    ) -> Result<Response<pb::RenewCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let number = certificate_number(&r.certificate_number)?;
        let command = CertificateCommand::Renew { validity_years: r.validity_years };
        let c = self.app.certificate_command(cx, number, r.expected_version, command).await?;
        Ok(Response::new(pb::RenewCertificateResponse { version: c.version }))
    }

    async fn expire_certificate(
        &self,
        request: Request<pb::ExpireCertificateRequest>,
    ) -> Result<Response<pb::ExpireCertificateResponse>, Status> {
        let (cx, r) = command(request)?;
        let number = certificate_number(&r.certificate_number)?;
        let c = self.app.certificate_command(cx, number, r.expected_version, CertificateCommand::Expire).await?;
        Ok(Response::new(pb::ExpireCertificateResponse { version: c.version }))
    }
}
