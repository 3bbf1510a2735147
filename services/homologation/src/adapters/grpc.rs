//! gRPC adapters: protobuf requests are parsed into commands and queries at this edge, errors
//! leave through `ServiceError` (the one mapping to status codes).

mod commands;
mod queries;

use fleuve_mesh::{RequestContext, ServiceError, error::ServiceResult};
use tonic::{Request, Status};

use crate::app::{CommandContext, Homologation, command_context};

pub use commands::{CertificateGrpc, DossierGrpc};
pub use queries::{QueryGrpc, RegistryGrpc};

/// Methods callable without a token: the public certificate registry.
pub const PUBLIC_METHODS: &[&str] = &["/fleuve.homologation.v1.CertificateRegistryService/"];

/// The method whose requests carry a whole file (allowed `max_upload_bytes` plus overhead).
pub const UPLOAD_METHOD: &str = "/fleuve.homologation.v1.DossierService/UploadDocument";

/// The four gRPC services of the homologation context.
#[derive(Debug, Clone)]
pub struct Services {
    pub dossiers: fleuve_proto::homologation::v1::dossier_service_server::DossierServiceServer<DossierGrpc>,
    pub certificates:
        fleuve_proto::homologation::v1::certificate_service_server::CertificateServiceServer<CertificateGrpc>,
    pub queries:
        fleuve_proto::homologation::v1::homologation_query_service_server::HomologationQueryServiceServer<QueryGrpc>,
    pub registry: fleuve_proto::homologation::v1::certificate_registry_service_server::CertificateRegistryServiceServer<
        RegistryGrpc,
    >,
}

pub fn services(app: Homologation) -> Services {
    use fleuve_proto::homologation::v1::{
        certificate_registry_service_server::CertificateRegistryServiceServer,
        certificate_service_server::CertificateServiceServer, dossier_service_server::DossierServiceServer,
        homologation_query_service_server::HomologationQueryServiceServer,
    };
    Services {
        // An upload is one message carrying its file.
        dossiers: DossierServiceServer::new(DossierGrpc { app: app.clone() })
            .max_decoding_message_size(app.settings().max_upload_bytes + crate::app::UPLOAD_OVERHEAD_BYTES),
        certificates: CertificateServiceServer::new(CertificateGrpc { app: app.clone() }),
        queries: HomologationQueryServiceServer::new(QueryGrpc { app: app.clone() }),
        registry: CertificateRegistryServiceServer::new(RegistryGrpc { app }),
    }
}

/// Splits a command request into its context (caller, correlation, trace) and message.
fn command<T>(request: Request<T>) -> Result<(CommandContext, T), Status> {
    let cx = command_context(&RequestContext::from_request(&request))?;
    Ok((cx, request.into_inner()))
}

/// Ids are UUIDs; anything else is refused before it reaches a query.
fn uuid_field(field: &str, value: &str) -> ServiceResult<String> {
    uuid::Uuid::parse_str(value.trim())
        .map(|u| u.to_string())
        .map_err(|_| ServiceError::invalid(format!("{field} must be a UUID")))
}
