//! The query services: HomologationQueryService (authenticated) and the public
//! CertificateRegistryService.

use fleuve_mesh::{RequestContext, ServiceError};
use fleuve_proto::homologation::v1::{
    self as pb, certificate_registry_service_server::CertificateRegistryService,
    homologation_query_service_server::HomologationQueryService,
};
use tonic::{Request, Response, Status};

use super::uuid_field;
use crate::{
    app::{Homologation, PageRequest},
    domain::values::{self, CertificateNumber},
};

#[derive(Debug, Clone)]
pub struct QueryGrpc {
    pub(super) app: Homologation,
}

#[derive(Debug, Clone)]
pub struct RegistryGrpc {
    pub(super) app: Homologation,
}

fn principal<T>(request: &Request<T>) -> Result<fleuve_mesh::Principal, Status> {
    Ok(RequestContext::from_request(request).principal()?.clone())
}

fn status_filter(value: i32) -> Result<Option<pb::DossierStatus>, Status> {
    match pb::DossierStatus::try_from(value) {
        Ok(pb::DossierStatus::Unspecified) => Ok(None),
        Ok(status) => Ok(Some(status)),
        Err(_) => Err(ServiceError::invalid(format!("unknown dossier status {value}")).into()),
    }
}

#[tonic::async_trait]
impl HomologationQueryService for QueryGrpc {
    async fn get_dossier(
        &self,
        request: Request<pb::GetDossierRequest>,
    ) -> Result<Response<pb::GetDossierResponse>, Status> {
        let who = principal(&request)?;
        let id = uuid_field("dossier_id", &request.get_ref().dossier_id)?;
        let dossier = self.app.get_dossier(who, id).await?;
        Ok(Response::new(pb::GetDossierResponse { dossier: Some(dossier) }))
    }

    async fn list_dossiers(
        &self,
        request: Request<pb::ListDossiersRequest>,
    ) -> Result<Response<pb::ListDossiersResponse>, Status> {
        let who = principal(&request)?;
        let r = request.into_inner();
        let status = status_filter(r.status)?;
        let organisation =
            if r.organisation_id.is_empty() { None } else { Some(uuid_field("organisation_id", &r.organisation_id)?) };
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let page = self.app.list_dossiers(who, status, organisation, page).await?;
        Ok(Response::new(pb::ListDossiersResponse { dossiers: page.items, next_page_token: page.next_token }))
    }

    async fn get_reviewer_queue(
        &self,
        request: Request<pb::GetReviewerQueueRequest>,
    ) -> Result<Response<pb::GetReviewerQueueResponse>, Status> {
        let who = principal(&request)?;
        let r = request.into_inner();
        let page = self.app.reviewer_queue(who, PageRequest::parse(r.page_size, &r.page_token)?).await?;
        Ok(Response::new(pb::GetReviewerQueueResponse { dossiers: page.items, next_page_token: page.next_token }))
    }

    async fn get_document_content(
        &self,
        request: Request<pb::GetDocumentContentRequest>,
    ) -> Result<Response<pb::GetDocumentContentResponse>, Status> {
        let who = principal(&request)?;
        let dossier_id = uuid_field("dossier_id", &request.get_ref().dossier_id)?;
        let document_id = uuid_field("document_id", &request.get_ref().document_id)?;
        Ok(Response::new(self.app.document_content(who, dossier_id, document_id).await?))
    }

    async fn get_dossier_history(
        &self,
        request: Request<pb::GetDossierHistoryRequest>,
    ) -> Result<Response<pb::GetDossierHistoryResponse>, Status> {
        let who = principal(&request)?;
        let id = uuid_field("dossier_id", &request.get_ref().dossier_id)?;
        let entries = self.app.dossier_history(who, id).await?;
        Ok(Response::new(pb::GetDossierHistoryResponse { entries }))
    }

    async fn get_certificate_seal(
        &self,
        request: Request<pb::GetCertificateSealRequest>,
    ) -> Result<Response<pb::GetCertificateSealResponse>, Status> {
        let who = principal(&request)?;
        let number = CertificateNumber::parse(request.get_ref().certificate_number.trim())
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let (seal, key_id) = self.app.certificate_seal(who, number).await?;
        Ok(Response::new(pb::GetCertificateSealResponse { seal, key_id }))
    }

    async fn get_certificate(
        &self,
        request: Request<pb::GetCertificateRequest>,
    ) -> Result<Response<pb::GetCertificateResponse>, Status> {
        let who = principal(&request)?;
        let number = CertificateNumber::parse(request.get_ref().certificate_number.trim())
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let certificate = self.app.get_certificate(who, number).await?;
        Ok(Response::new(pb::GetCertificateResponse { certificate: Some(certificate) }))
    }
}

#[tonic::async_trait]
impl CertificateRegistryService for RegistryGrpc {
    async fn verify_certificate(
        &self,
        request: Request<pb::VerifyCertificateRequest>,
    ) -> Result<Response<pb::VerifyCertificateResponse>, Status> {
        let number = CertificateNumber::parse(request.get_ref().certificate_number.trim())
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let (certificate, valid) = self.app.verify_certificate(number).await?;
        Ok(Response::new(pb::VerifyCertificateResponse { certificate: Some(certificate), valid }))
    }

    async fn get_seal_keys(
        &self,
        _request: Request<pb::GetSealKeysRequest>,
    ) -> Result<Response<pb::GetSealKeysResponse>, Status> {
        Ok(Response::new(pb::GetSealKeysResponse { keys: self.app.seal_keys() }))
    }

    async fn search_certificates(
        &self,
        request: Request<pb::SearchCertificatesRequest>,
    ) -> Result<Response<pb::SearchCertificatesResponse>, Status> {
        let r = request.into_inner();
        let brand = values::optional_text("brand", &r.brand, 100)?;
        let model = values::optional_text("model", &r.model, 100)?;
        if brand.is_empty() && model.is_empty() {
            return Err(ServiceError::invalid("give a brand or a model to search for").into());
        }
        let page = self.app.search_certificates(brand, model, PageRequest::parse(r.page_size, &r.page_token)?).await?;
        Ok(Response::new(pb::SearchCertificatesResponse { certificates: page.items, next_page_token: page.next_token }))
    }
}
