//! Who runs a command: the authenticated principal, with the correlation id and trace of the
//! request, and the event metadata they give the events the command appends.

use fleuve_mesh::{Principal, RequestContext, Role, ServiceError};
use fleuve_store::event_store::EventMetadata;

/// The authenticated caller of a request, under its correlation id and trace.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub correlation_id: String,
    pub trace_context: Option<String>,
}

impl Caller {
    /// The authenticated caller of a request, or `UNAUTHENTICATED`.
    pub fn of(request: &RequestContext) -> Result<Caller, ServiceError> {
        Ok(Caller {
            principal: request.principal()?.clone(),
            correlation_id: request.correlation_id.clone(),
            trace_context: request.trace_context.clone(),
        })
    }

    /// The server acting on its own behalf (seeding `fleuve dev`, operators' tools), as an admin.
    pub fn system(correlation_id: impl Into<String>) -> Caller {
        let principal =
            Principal { subject: "system".into(), role: Role::Admin, organisation_id: "system".into(), expires_at: 0 };
        Caller { principal, correlation_id: correlation_id.into(), trace_context: None }
    }

    pub fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin
    }

    /// `PERMISSION_DENIED` unless the caller is an admin: "`action` needs the role admin".
    pub fn require_admin(&self, action: &str) -> Result<(), ServiceError> {
        if self.is_admin() { Ok(()) } else { Err(ServiceError::denied(format!("{action} needs the role admin"))) }
    }

    /// The metadata of the events this caller's command appends: its correlation id and trace,
    /// the principal as actor.
    pub fn metadata(&self) -> EventMetadata {
        let meta = EventMetadata::new(self.correlation_id.clone(), self.principal.subject.clone());
        match &self.trace_context {
            Some(trace) => meta.with_trace_context(trace.clone()),
            None => meta,
        }
    }
}
