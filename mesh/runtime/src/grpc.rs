//! The one gRPC server builder: every service gets reflection, health, grpc-web and CORS, a
//! tracing span, a deadline (the client's, capped), a request-size limit and JWT
//! authentication, in that order. Public documents (the JWK set) are served over plain HTTP on
//! the same address.

mod layers;
pub mod web;

use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};

use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};
use tonic::{body::Body, server::NamedService, service::RoutesBuilder};
use tonic_health::{ServingStatus, server::HealthReporter};

pub use layers::{AuthLayer, DeadlineLayer, PublicPath, SizeLimitLayer, TraceLayer};
#[cfg(test)]
pub(crate) use layers::{log_call, request_span};

use crate::{
    auth::{JwkSet, TokenVerifier},
    config::{CorsConfig, LimitsConfig},
};

/// Where a server that signs tokens publishes its keys (RFC 8414 / OpenID discovery's usual
/// place), for Envoy's `jwt_authn` and other verifiers.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A document served to anyone at `GET path`.
#[derive(Debug, Clone)]
struct Document {
    path: &'static str,
    content_type: &'static str,
    /// `gzip` for a body stored compressed.
    content_encoding: Option<&'static str>,
    body: bytes::Bytes,
}

/// A browser application served under a path prefix (`/console`): its files by path, and its
/// `index.html` for every other path below the prefix, which are the application's own routes.
/// Bodies are stored gzipped.
#[derive(Debug, Clone)]
struct Site {
    prefix: &'static str,
    /// Path below the prefix (`assets/index-1a2b.js`) → content type and gzipped body.
    files: std::sync::Arc<std::collections::HashMap<String, (&'static str, bytes::Bytes)>>,
}

impl Site {
    /// Hashed build output never changes under its name: cached for a year. Anything else
    /// (the index) is revalidated, so a new release is picked up at once.
    fn respond(&self, path: &str) -> http::Response<axum::body::Body> {
        let (name, cache) = match self.files.get(path) {
            Some(_) if path.starts_with("assets/") => (path, "public, max-age=31536000, immutable"),
            Some(_) => (path, "no-cache"),
            // A build file that is not there (an old release's chunk): a real 404, not the index.
            None if path.starts_with("assets/") => {
                let mut response = http::Response::new(axum::body::Body::from("not found"));
                *response.status_mut() = http::StatusCode::NOT_FOUND;
                return response;
            }
            None => ("index.html", "no-cache"),
        };
        let Some((content_type, body)) = self.files.get(name) else {
            let mut response = http::Response::new(axum::body::Body::from("not found"));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            return response;
        };
        let mut response = http::Response::new(axum::body::Body::from(body.clone()));
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
        headers.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static(cache));
        headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
        headers.insert(http::header::REFERRER_POLICY, http::HeaderValue::from_static("same-origin"));
        // The application talks only to the origin that served it (grpc-web), loads nothing from
        // elsewhere and is framed by nobody.
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
                 base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        );
        response
    }
}

/// Methods (or whole services, by prefix) that need no token.
const ALWAYS_PUBLIC: &[&str] =
    &["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// Assembles services into one server wrapped in the common layers.
pub struct MeshServer {
    routes: RoutesBuilder,
    health: HealthReporter,
    names: Vec<&'static str>,
    public: Vec<PublicPath>,
    limits: LimitsConfig,
    cors: CorsConfig,
    documents: Vec<Document>,
    sites: Vec<Site>,
    /// Methods allowed larger requests than `limits.max_request_bytes`.
    larger: Vec<(String, usize)>,
    verifier: TokenVerifier,
}

impl std::fmt::Debug for MeshServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshServer").field("services", &self.names).finish_non_exhaustive()
    }
}

/// How long in-flight calls may run on after a shutdown signal before they are cut.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

impl MeshServer {
    /// A server with the given limits and browser origins, verifying tokens with `verifier`.
    pub fn new(limits: &LimitsConfig, cors: &CorsConfig, verifier: TokenVerifier) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        MeshServer {
            routes,
            health,
            names: Vec::new(),
            public: ALWAYS_PUBLIC.iter().map(|s| PublicPath::parse(s)).collect(),
            limits: limits.clone(),
            cors: cors.clone(),
            documents: Vec::new(),
            sites: Vec::new(),
            larger: Vec::new(),
            verifier,
        }
    }

    /// Serves `body` to anyone at `GET path` (HTTP/1.1 or HTTP/2), cacheable for five minutes.
    pub fn document(self, path: &'static str, content_type: &'static str, body: impl Into<bytes::Bytes>) -> Self {
        self.encoded_document(path, content_type, None, body)
    }

    /// [`MeshServer::document`] for a body stored compressed (`Content-Encoding: gzip`).
    pub fn encoded_document(
        mut self,
        path: &'static str,
        content_type: &'static str,
        content_encoding: Option<&'static str>,
        body: impl Into<bytes::Bytes>,
    ) -> Self {
        self.public.push(PublicPath::Exact(path.to_owned()));
        self.documents.push(Document { path, content_type, content_encoding, body: body.into() });
        self
    }

    /// Serves a browser application under `prefix` (`/console`): `files` are its paths below
    /// the prefix with their content type and gzipped body; every other path below the prefix
    /// gets `index.html` (the application's client-side routes), `prefix` itself and `/`
    /// redirect to `prefix/`. Public: the application signs its users in itself.
    pub fn site(
        mut self,
        prefix: &'static str,
        files: impl IntoIterator<Item = (String, &'static str, bytes::Bytes)>,
    ) -> Self {
        let files = files.into_iter().map(|(path, content_type, body)| (path, (content_type, body))).collect();
        // The root only for its redirect: as a prefix, `/` would make every path public.
        self.public.extend([
            PublicPath::Exact(prefix.to_owned()),
            PublicPath::Prefix(format!("{prefix}/")),
            PublicPath::Exact("/".to_owned()),
        ]);
        self.sites.push(Site { prefix, files: std::sync::Arc::new(files) });
        self
    }

    /// Lets requests of the method `path` carry messages of up to `max_bytes` (an upload
    /// carrying its file) instead of `limits.max_request_bytes`.
    pub fn allow_larger_requests(mut self, path: &str, max_bytes: usize) -> Self {
        self.larger.push((path.to_owned(), max_bytes));
        self
    }

    /// Publishes the keys tokens are signed with at [`JWKS_PATH`].
    pub fn jwks(self, jwks: &JwkSet) -> Self {
        let body = serde_json::to_vec(jwks).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec());
        self.document(JWKS_PATH, "application/json", body)
    }

    /// Lets calls of `path` through without a token: a method
    /// (`/fleuve.identity.v1.IdentityService/Login`), or every method of a service when it
    /// ends in `/`. A token they do carry is still verified.
    pub fn public(mut self, path: &str) -> Self {
        self.public.push(PublicPath::parse(path));
        self
    }

    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    pub fn service_names(&self) -> &[&'static str] {
        &self.names
    }

    /// Serves on `listener` until `shutdown` resolves, then drains in-flight calls.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fleuve_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fleuve_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        self.routes.add_service(reflection_v1);
        self.routes.add_service(reflection_v1alpha);
        for name in &self.names {
            self.health.set_service_status(*name, ServingStatus::Serving).await;
        }
        let local: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(addr = ?local, services = ?self.names, "grpc server listening");

        let cors = web::cors_layer(&self.cors).map_err(|e| anyhow::anyhow!(e))?;
        let mut router = self.routes.routes().into_axum_router();
        for doc in &self.documents {
            let (content_type, encoding, body) = (doc.content_type, doc.content_encoding, doc.body.clone());
            router = router.route(
                doc.path,
                axum::routing::get(move || async move {
                    let mut response = http::Response::new(axum::body::Body::from(body));
                    let headers = response.headers_mut();
                    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
                    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=300"));
                    if let Some(encoding) = encoding {
                        headers.insert(http::header::CONTENT_ENCODING, http::HeaderValue::from_static(encoding));
                    }
                    response
                }),
            );
        }
        for (i, site) in self.sites.iter().enumerate() {
            let target = format!("{}/", site.prefix);
            let redirect = move || {
                let target = target.clone();
                async move { axum::response::Redirect::permanent(&target) }
            };
            let (index, files) = (site.clone(), site.clone());
            if i == 0 {
                router = router.route("/", axum::routing::get(redirect.clone()));
            }
            router = router
                .route(site.prefix, axum::routing::get(redirect))
                .route(&format!("{}/", site.prefix), axum::routing::get(move || async move { index.respond("") }))
                .route(
                    &format!("{}/{{*path}}", site.prefix),
                    axum::routing::get(move |axum::extract::Path(path): axum::extract::Path<String>| async move {
                        files.respond(&path)
                    }),
                );
        }
        let layers = tower::ServiceBuilder::new()
            .layer(web::BrowserLayer::new(cors))
            .layer(TraceLayer::serving(
                self.names
                    .iter()
                    .map(|name| (*name).to_owned())
                    .chain(ALWAYS_PUBLIC.iter().map(|p| p.trim_matches('/').to_owned())),
            ))
            .layer(DeadlineLayer::new(Duration::from_secs(self.limits.max_deadline_seconds)))
            .layer(
                self.larger.iter().fold(SizeLimitLayer::new(self.limits.max_request_bytes), |layer, (path, max)| {
                    layer.allow(path, *max)
                }),
            )
            .layer(AuthLayer::new(self.verifier.clone(), self.public.clone()));
        let health = self.health.clone();
        let names = self.names.clone();
        let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
        // TCP_NODELAY on every accepted connection: `Server::tcp_nodelay` applies only to
        // listeners tonic binds itself, and with Nagle on, a streamed message (WatchOrder) or
        // a response split over writes waits for the client's delayed ACK (tens of ms).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        // HTTP/1.1 beside HTTP/2: grpc-web from browsers and the documents' plain GETs.
        let serving = Server::builder()
            .accept_http1(true)
            .layer(layers)
            .add_routes(tonic::service::Routes::from(router))
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.await;
                for name in names {
                    health.set_service_status(name, ServingStatus::NotServing).await;
                }
                // The whole server too: what Envoy's health check (service "") asks.
                health.set_service_status("", ServingStatus::NotServing).await;
                let _ = draining.send(());
            });
        tokio::pin!(serving);
        // In-flight calls get DRAIN_GRACE to finish; open server streams (watches) would keep
        // a graceful shutdown waiting for ever, so they are closed after it.
        tokio::select! {
            served = &mut serving => served?,
            () = async {
                if drain_started.await.is_ok() {
                    tokio::time::sleep(DRAIN_GRACE).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(grace = ?DRAIN_GRACE, "calls still open after the shutdown grace period; closing them");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_makes_its_root_public_as_that_path_alone() {
        let verifier = TokenVerifier::with_a_new_key();
        let server = MeshServer::new(&LimitsConfig::default(), &CorsConfig::default(), verifier)
            .site("/console", Vec::new())
            .document("/docs/", "text/html", "index");
        for declared in ["/", "/console", "/docs/"] {
            assert!(server.public.contains(&PublicPath::Exact(declared.into())), "{declared}: {:?}", server.public);
        }
        assert!(server.public.contains(&PublicPath::Prefix("/console/".into())), "{:?}", server.public);
        assert!(!server.public.contains(&PublicPath::Prefix("/".into())), "{:?}", server.public);
    }
}
