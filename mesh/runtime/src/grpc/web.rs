//! What browsers need of every server: grpc-web (translated to gRPC by tonic-web before the
//! common layers see the call, so a grpc-web call is traced, limited and authenticated like any
//! other), CORS for the configured origins (tower-http), and plain HTTP requests (the public
//! documents a server serves beside its services, such as the JWK set) passed through as they
//! are: tonic-web alone would answer them 400.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use tonic::body::Body;
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsConfig;

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Request headers a grpc-web or Connect client sends, beside the CORS-safelisted ones.
const ALLOWED_HEADERS: [&str; 11] = [
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "connect-protocol-version",
    "connect-timeout-ms",
    // Which service's operations API a call through the edge is for (the console's operations page).
    "x-fleuve-node",
];

/// Response headers a page may read: the call's status and its correlation id.
const EXPOSED_HEADERS: [&str; 4] = ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-correlation-id"];

/// The configured origins, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<OriginPattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginPattern {
    /// `https://console.example.org` or `http://localhost:8080`, compared exactly.
    Exact(String),
    /// `http://localhost:*`: this scheme and host, on any port or none.
    AnyPort(String),
}

impl AllowedOrigins {
    /// Parses `cors.allowed_origins`; an entry that is not `http(s)://host[:port|:*]` is refused
    /// (a path, a wildcard host and a trailing slash are mistakes that would grant nothing).
    pub fn parse(origins: &[String]) -> Result<AllowedOrigins, String> {
        let mut patterns = Vec::with_capacity(origins.len());
        for origin in origins {
            let bad = |why: &str| format!("cors.allowed_origins: {origin:?} {why}");
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| bad("must start with http:// or https://"))?;
            if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
                return Err(bad("must be scheme://host[:port] with no path (browsers send no path)"));
            }
            let (host, port) = match rest.rsplit_once(':') {
                // An IPv6 literal without a port: its colons are not a port separator.
                Some((host, _)) if !host.ends_with(']') && host.contains(':') => (rest, None),
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            if host.is_empty() || host.contains('*') {
                return Err(bad("must name one host"));
            }
            match port {
                Some("*") => {
                    let scheme = &origin[..origin.len() - rest.len()];
                    patterns.push(OriginPattern::AnyPort(format!("{scheme}{host}")));
                }
                Some(port) if port.parse::<u16>().is_ok() => patterns.push(OriginPattern::Exact(origin.clone())),
                Some(_) => return Err(bad("has a port that is neither a number nor *")),
                None => patterns.push(OriginPattern::Exact(origin.clone())),
            }
        }
        Ok(AllowedOrigins(patterns))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request's `Origin` is granted.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|pattern| match pattern {
            OriginPattern::Exact(exact) => exact == origin,
            OriginPattern::AnyPort(prefix) => origin.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.strip_prefix(':').is_some_and(|port| port.parse::<u16>().is_ok())
            }),
        })
    }
}

/// CORS for grpc-web calls and the HTTP routes from the configured origins: preflights are
/// answered here; another origin gets no grant (the browser then refuses the page the answer).
pub fn cors_layer(config: &CorsConfig) -> Result<CorsLayer, String> {
    let origins = AllowedOrigins::parse(&config.allowed_origins)?;
    let header_names = |names: &[&'static str]| names.iter().map(|n| HeaderName::from_static(n)).collect::<Vec<_>>();
    let mut layer = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|origin| origins.allows(origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(header_names(&ALLOWED_HEADERS))
        .expose_headers(header_names(&EXPOSED_HEADERS));
    if config.max_age_seconds > 0 {
        layer = layer.max_age(Duration::from_secs(config.max_age_seconds));
    }
    Ok(layer)
}

/// What a browser's request needs before the common layers, and only a browser's: CORS (from
/// `cors`, tower-http) and the translation of grpc-web calls (binary or text, HTTP/1.1 or
/// HTTP/2) by tonic-web. A native gRPC call (a POST of `application/grpc`, no `Origin`) goes
/// straight to the inner service: no CORS header is of use to it, and building them (with the
/// layer's configuration cloned for the call) cost a few percent of the server's CPU per call.
#[derive(Debug, Clone)]
pub struct BrowserLayer {
    cors: Arc<CorsLayer>,
}

impl BrowserLayer {
    pub fn new(cors: CorsLayer) -> BrowserLayer {
        BrowserLayer { cors: Arc::new(cors) }
    }
}

impl<S: Clone> Layer<S> for BrowserLayer {
    type Service = Browsers<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Browsers { cors: self.cors.clone(), inner }
    }
}

#[derive(Debug, Clone)]
pub struct Browsers<S> {
    cors: Arc<CorsLayer>,
    inner: S,
}

/// A gRPC call from a client that is not a page: a POST (as every gRPC call is) with gRPC's own
/// content type (a page can only send grpc-web) and no `Origin`. Any other request keeps CORS,
/// whose `Vary` a cache needs on a document (a GET with that content type included).
fn is_native_grpc(req: &Request<Body>) -> bool {
    req.method() == Method::POST
        && !req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web"))
}

impl<S> Service<Request<Body>> for Browsers<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, BoxFuture<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if is_native_grpc(&req) {
            return futures::future::Either::Left(self.inner.call(req));
        }
        // A browser's request goes through CORS (and tonic-web) on a clone of the inner service,
        // which they drive to readiness themselves.
        let inner = self.inner.clone();
        futures::future::Either::Right(if is_grpc_web(&req) {
            Box::pin(self.cors.layer(tonic_web::GrpcWebLayer::new().layer(inner)).oneshot(req))
        } else {
            Box::pin(self.cors.layer(inner).oneshot(req))
        })
    }
}

fn is_grpc_web(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> Result<AllowedOrigins, String> {
        AllowedOrigins::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn exact_origins_and_any_port_patterns() {
        let allowed = origins(&["https://console.example.org", "http://localhost:*", "http://[::1]:*"]).unwrap();
        assert!(allowed.allows("https://console.example.org"));
        assert!(!allowed.allows("https://console.example.org:8443"));
        assert!(!allowed.allows("http://console.example.org"));
        assert!(allowed.allows("http://localhost:5173"));
        assert!(allowed.allows("http://localhost"));
        assert!(allowed.allows("http://[::1]:8080"));
        assert!(!allowed.allows("http://localhost.evil.example"));
        assert!(!allowed.allows("http://localhost:5173.evil.example"));
        assert!(!allowed.allows("https://localhost:5173"));
        assert!(!allowed.allows("null"));
        assert!(origins(&[]).unwrap().is_empty());
    }

    /// `request` through the browser layer (origins: `http://localhost:*`) in front of a
    /// service that answers 200 with an empty body.
    async fn through_browsers(request: Request<Body>) -> Response<Body> {
        let config = CorsConfig { allowed_origins: vec!["http://localhost:*".into()], max_age_seconds: 0 };
        let inner = tower::service_fn(|_req: Request<Body>| async {
            let mut response = Response::new(Body::empty());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            response.headers_mut().insert("grpc-status", HeaderValue::from_static("0"));
            Ok::<_, std::convert::Infallible>(response)
        });
        BrowserLayer::new(cors_layer(&config).unwrap()).layer(inner).oneshot(request).await.unwrap()
    }

    fn call(content_type: &str, origin: Option<&str>) -> Request<Body> {
        let mut request = Request::post("/fleuve.identity.v1.IdentityService/GetJwks")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::empty())
            .unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        request
    }

    #[tokio::test]
    async fn cors_applies_to_what_a_browser_sends_and_not_to_native_grpc() {
        // A native gRPC client: nothing CORS adds.
        let native = through_browsers(call("application/grpc", None)).await;
        assert!(native.headers().get(header::VARY).is_none(), "{:?}", native.headers());
        assert!(native.headers().get(header::ACCESS_CONTROL_EXPOSE_HEADERS).is_none());

        // grpc-web from an allowed origin: granted, the status readable by the page.
        let web = through_browsers(call("application/grpc-web+proto", Some("http://localhost:5173"))).await;
        assert_eq!(web.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert!(web.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap().contains("grpc-status"));

        // From another origin: no grant, whatever the content type.
        for content_type in ["application/grpc-web+proto", "application/grpc"] {
            let foreign = through_browsers(call(content_type, Some("https://evil.example"))).await;
            assert!(foreign.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{content_type}");
            assert!(foreign.headers().get(header::VARY).is_some(), "went through CORS: {content_type}");
        }

        // A preflight is answered by CORS; a plain GET (a document) gets its Vary for caches.
        let preflight = Request::options("/fleuve.identity.v1.IdentityService/GetJwks")
            .header(header::ORIGIN, "http://localhost:5173")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap();
        let answered = through_browsers(preflight).await;
        assert_eq!(answered.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        let document = through_browsers(Request::get("/.well-known/jwks.json").body(Body::empty()).unwrap()).await;
        assert!(document.headers().get(header::VARY).is_some());
        let disguised = Request::get("/.well-known/jwks.json")
            .header(header::CONTENT_TYPE, "application/grpc")
            .body(Body::empty())
            .unwrap();
        let document = through_browsers(disguised).await;
        assert!(document.headers().get(header::VARY).is_some(), "a GET with gRPC's content type keeps its Vary");
    }

    #[test]
    fn malformed_origins_are_refused() {
        for bad in ["localhost:3000", "https://a.example/", "https://*.example", "http://a.example:port", "https://"] {
            assert!(origins(&[bad]).is_err(), "{bad} should be refused");
        }
        assert!(origins(&["http://localhost:8080"]).unwrap().allows("http://localhost:8080"));
    }
}
