//! The gRPC face of identity: proto messages to domain values and back; every error leaves
//! through `ServiceError`.

use fleuve_mesh::{RequestContext, Role, ServiceError};
use fleuve_proto::identity::v1 as pb;
use pb::identity_service_server::{IdentityService, IdentityServiceServer};
use tonic::{Request, Response, Status};

use crate::app::Identity;
use crate::domain::{NewOrganisation, NewUser, Organisation, PageRequest, User};

/// Methods the auth layer must let through without a token.
pub const PUBLIC_METHODS: &[&str] =
    &["/fleuve.identity.v1.IdentityService/Login", "/fleuve.identity.v1.IdentityService/GetJwks"];

/// `IdentityService` over an [`Identity`].
#[derive(Debug, Clone)]
pub struct IdentityGrpc {
    identity: Identity,
}

impl IdentityGrpc {
    pub fn new(identity: Identity) -> IdentityGrpc {
        IdentityGrpc { identity }
    }
}

/// The tonic service to add to a `MeshServer`, with [`PUBLIC_METHODS`] marked public.
pub fn server(identity: Identity) -> IdentityServiceServer<IdentityGrpc> {
    IdentityServiceServer::new(IdentityGrpc::new(identity))
}

use fleuve_proto::time::timestamp;

fn organisation_to_proto(o: Organisation) -> pb::Organisation {
    pb::Organisation {
        created_at: Some(timestamp(o.created_at)),
        organisation_id: o.organisation_id,
        name: o.name,
        registration_number: o.registration_number,
        country: o.country,
    }
}

fn user_to_proto(u: User) -> pb::User {
    pb::User {
        created_at: Some(timestamp(u.created_at)),
        role: u.role.to_proto().into(),
        user_id: u.user_id,
        email: u.email,
        display_name: u.display_name,
        organisation_id: u.organisation_id,
    }
}

fn optional_id(id: &str) -> Option<String> {
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn status(err: impl Into<ServiceError>) -> Status {
    err.into().into()
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let req = request.into_inner();
        let outcome = self.identity.login(&req.email, &req.password).await.map_err(status)?;
        Ok(Response::new(pb::LoginResponse {
            access_token: outcome.access_token,
            token_type: outcome.token_type.to_owned(),
            expires_in_seconds: outcome.expires_in_seconds,
            user: Some(user_to_proto(outcome.user)),
        }))
    }

    async fn get_jwks(&self, _request: Request<pb::GetJwksRequest>) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self.identity.jwks().keys.iter().map(|k| k.to_proto()).collect();
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let ctx = RequestContext::from_request(&request);
        let principal = ctx.principal().map_err(status)?;
        Ok(Response::new(pb::WhoAmIResponse {
            subject: principal.subject.clone(),
            role: principal.role.to_proto().into(),
            organisation_id: principal.organisation_id.clone(),
            expires_at: Some(prost_types::Timestamp { seconds: principal.expires_at, nanos: 0 }),
        }))
    }

    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::CreateOrganisationResponse>, Status> {
        let ctx = RequestContext::from_request(&request);
        let principal = ctx.principal().map_err(status)?;
        // Refuse before validating so that non-admins learn nothing about the input rules.
        principal.require(&[Role::Admin]).map_err(status)?;
        let req = request.get_ref();
        let new = NewOrganisation::parse(&req.name, &req.registration_number, &req.country).map_err(status)?;
        let organisation = self.identity.create_organisation(principal, new).await.map_err(status)?;
        Ok(Response::new(pb::CreateOrganisationResponse { organisation: Some(organisation_to_proto(organisation)) }))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let ctx = RequestContext::from_request(&request);
        let principal = ctx.principal().map_err(status)?;
        principal.require(&[Role::Admin]).map_err(status)?;
        let req = request.get_ref();
        let page = PageRequest::for_organisations(req.page_size, &req.page_token).map_err(status)?;
        let page = self.identity.list_organisations(principal, page).await.map_err(status)?;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: page.items.into_iter().map(organisation_to_proto).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let ctx = RequestContext::from_request(&request);
        let principal = ctx.principal().map_err(status)?;
        principal.require(&[Role::Admin]).map_err(status)?;
        let req = request.get_ref();
        let new =
            NewUser::parse(&req.email, &req.display_name, &req.password, req.role, optional_id(&req.organisation_id))
                .map_err(status)?;
        let user = self.identity.create_user(principal, new).await.map_err(status)?;
        Ok(Response::new(pb::CreateUserResponse { user: Some(user_to_proto(user)) }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let ctx = RequestContext::from_request(&request);
        let principal = ctx.principal().map_err(status)?;
        let req = request.get_ref();
        let page = PageRequest::for_users(req.page_size, &req.page_token).map_err(status)?;
        let page =
            self.identity.list_users(principal, optional_id(&req.organisation_id), page).await.map_err(status)?;
        Ok(Response::new(pb::ListUsersResponse {
            users: page.items.into_iter().map(user_to_proto).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
