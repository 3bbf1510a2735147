//! What a handler knows about the request beyond its message: caller, correlation and trace.

use crate::{auth::Principal, error::ServiceError};

/// The correlation id of a request: taken from `x-correlation-id` or generated at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

/// The W3C `traceparent` of the server span handling the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(pub String);

/// Caller, correlation id and trace context of one request, read from its extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Option<Principal>,
    pub correlation_id: String,
    pub trace_context: Option<String>,
}

impl RequestContext {
    pub fn from_request<T>(request: &tonic::Request<T>) -> Self {
        let ext = request.extensions();
        RequestContext {
            principal: ext.get::<Principal>().cloned(),
            correlation_id: ext
                .get::<CorrelationId>()
                .map(|c| c.0.clone())
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            trace_context: ext.get::<TraceParent>().map(|t| t.0.clone()),
        }
    }

    /// The authenticated caller, or `UNAUTHENTICATED` (on methods the auth layer lets through
    /// without a token).
    pub fn principal(&self) -> Result<&Principal, ServiceError> {
        self.principal.as_ref().ok_or_else(|| ServiceError::Unauthenticated("this method needs a bearer token".into()))
    }

    /// The actor recorded on events: the token subject, or `anonymous`.
    pub fn actor(&self) -> String {
        self.principal.as_ref().map_or_else(|| "anonymous".to_owned(), |p| p.subject.clone())
    }
}
