//! The tower layers of every server: tracing and correlation, deadline, request-size limit,
//! JWT auth.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::{propagation::Extractor, trace::TraceContextExt};
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    auth::{AuthError, TokenVerifier},
    context::{CorrelationId, TraceParent},
    telemetry::CallLine,
};

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

const CORRELATION_HEADER: &str = "x-correlation-id";

/// Takes the service that `poll_ready` drove to readiness and leaves a fresh clone in its place
/// (the clone may not be ready; the next call polls it).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

fn status_response(status: Status) -> Response<Body> {
    status.into_http()
}

// ---------------------------------------------------------------------------------------------
// Tracing and correlation

/// Opens the server span (parented on an incoming `traceparent`), assigns the correlation id
/// and logs one line per call with its gRPC status and latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

fn valid_correlation_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl<S> Service<Request<Body>> for TraceService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let correlation_id = req
            .headers()
            .get(CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_correlation_id(v))
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let path = req.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let span = request_span(&path, service, method, &correlation_id);
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        let _ = span.set_parent(parent);
        let span_context = span.context().span().span_context().clone();
        if span_context.is_valid() {
            let traceparent = format!(
                "00-{}-{}-{:02x}",
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags().to_u8()
            );
            req.extensions_mut().insert(TraceParent(traceparent));
        }
        req.extensions_mut().insert(CorrelationId(correlation_id.clone()));

        let mut inner = take_ready(&mut self.inner);
        let started = Instant::now();
        let recorder = CallRecorder {
            service: service.to_owned(),
            method: method.to_owned(),
            started,
            trace_id: span_context.is_valid().then(|| span_context.trace_id().to_string()),
        };
        let trace = span_context.is_valid().then(|| (span_context.trace_id(), span_context.span_id()));
        Box::pin(
            async move {
                let mut response = inner.call(req).await?;
                let status = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok());
                // A status in the headers ends the call (trailers-only); otherwise it comes in
                // the trailers, at the end of the body (streams: when the stream ends).
                let code = status.unwrap_or(0);
                response = match status {
                    Some(code) => {
                        recorder.record(code);
                        response
                    }
                    None if is_grpc(&response) => response.map(|body| Body::new(ObservedBody::new(body, recorder))),
                    None => response,
                };
                // Straight onto the OpenTelemetry span (the semantic conventions' name): recorded
                // as a tracing field it made the log layer re-parse and re-write the span's
                // fields on every call (the line below carries the code as `grpc_code`).
                tracing::Span::current().set_attribute("rpc.grpc.status_code", i64::from(code));
                let message = (code != 0)
                    .then(|| response.headers().get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or(""));
                // As enabled as the event would be: its level, its target (this module) and its
                // fields (a directive may name them).
                let enabled = match message {
                    None => tracing::enabled!(tracing::Level::INFO, elapsed_ms, grpc_code),
                    Some(_) => tracing::enabled!(tracing::Level::INFO, elapsed_ms, grpc_code, grpc_message),
                };
                if enabled {
                    let (service, method) = split_path(&path);
                    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                    let line = CallLine {
                        path: &path,
                        service,
                        method,
                        correlation_id: &correlation_id,
                        trace,
                        elapsed_ms,
                        code,
                        message,
                    };
                    // Written straight to the log when it is Fleuve's (the same line, for a
                    // fraction of the cost); logged as an event otherwise.
                    if !crate::telemetry::write_call_line(&line) {
                        log_call(elapsed_ms, code, message);
                    }
                }
                if let Ok(value) = HeaderValue::from_str(&correlation_id) {
                    response.headers_mut().insert(CORRELATION_HEADER, value);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The service and the method of a call's path (`/package.Service/Method`).
fn split_path(path: &str) -> (&str, &str) {
    path.trim_start_matches('/').split_once('/').unwrap_or((path, ""))
}

/// The server span of a call. [`crate::telemetry::JsonLines::write_call_line`] writes its
/// fields in this order.
pub(crate) fn request_span(path: &str, service: &str, method: &str, correlation_id: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.request",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        correlation_id = %correlation_id,
    )
}

/// The `grpc call` line as an event, for a subscriber that is not Fleuve's own.
pub(crate) fn log_call(elapsed_ms: f64, code: i32, message: Option<&str>) {
    match message {
        None => tracing::info!(elapsed_ms, grpc_code = code, "grpc call"),
        Some(message) => tracing::info!(elapsed_ms, grpc_code = code, grpc_message = message, "grpc call failed"),
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics of each call

fn is_grpc(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Records one call in `fleuve_grpc_server_handled_total` and its latency histogram.
struct CallRecorder {
    service: String,
    method: String,
    started: Instant,
    trace_id: Option<String>,
}

impl CallRecorder {
    fn record(&self, code: i32) {
        fleuve_metrics::metrics().grpc_handled(
            &self.service,
            &self.method,
            code,
            self.started.elapsed().as_secs_f64(),
            self.trace_id.as_deref(),
        );
    }
}

/// A response body that records its call when the trailers carrying `grpc-status` pass; a
/// body dropped before them (the client went away) counts as `CANCELLED`, one that ends
/// without them as `UNKNOWN`.
struct ObservedBody {
    inner: Body,
    recorder: Option<CallRecorder>,
}

impl ObservedBody {
    fn new(inner: Body, recorder: CallRecorder) -> ObservedBody {
        ObservedBody { inner, recorder: Some(recorder) }
    }

    fn finish(&mut self, code: i32) {
        if let Some(recorder) = self.recorder.take() {
            recorder.record(code);
        }
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.finish(Code::Cancelled as i32);
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame
                    .trailers_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code() as i32;
                self.finish(code);
            }
            // Ended without trailers: not a well-formed gRPC answer.
            Poll::Ready(None) => self.finish(Code::Unknown as i32),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Deadline

/// Runs each call under the client's `grpc-timeout`, capped at the server's maximum, and answers
/// `DEADLINE_EXCEEDED` when it runs out (tonic's own timeout answers `CANCELLED`).
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    pub fn new(max: Duration) -> Self {
        DeadlineLayer { max }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner, max: self.max }
    }
}

#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    max: Duration,
}

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl<S> Service<Request<Body>> for DeadlineService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let asked = req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
        let deadline = asked.map_or(self.max, |d| d.min(self.max));
        let mut inner = take_ready(&mut self.inner);
        Box::pin(async move {
            match tokio::time::timeout(deadline, inner.call(req)).await {
                Ok(result) => result,
                Err(_) => Ok(status_response(Status::deadline_exceeded(format!("deadline of {deadline:?} exceeded")))),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Request size

/// Refuses request bodies larger than the limit with `RESOURCE_EXHAUSTED` before any handler
/// runs. Fleuve's own RPCs are unary or server-streaming, so their request body is one message
/// and is buffered whole; client-streaming infrastructure (the bidi reflection stream) passes
/// through to tonic's own per-message decoding limit.
/// Paths whose request is a stream of messages that must not be buffered.
const CLIENT_STREAMING: &[&str] = &["/grpc.reflection."];

#[derive(Debug, Clone)]
pub struct SizeLimitLayer {
    max_bytes: usize,
    /// Methods allowed larger requests (an upload carrying its file), with their limit.
    larger: Arc<Vec<(String, usize)>>,
}

impl SizeLimitLayer {
    pub fn new(max_message_bytes: usize) -> Self {
        // gRPC frames a message with a 5-byte prefix.
        SizeLimitLayer { max_bytes: max_message_bytes + 5, larger: Arc::new(Vec::new()) }
    }

    /// `path` (a method) may carry messages up to `max_message_bytes`.
    pub fn allow(mut self, path: &str, max_message_bytes: usize) -> Self {
        Arc::make_mut(&mut self.larger).push((path.to_owned(), max_message_bytes + 5));
        self
    }
}

impl<S> Layer<S> for SizeLimitLayer {
    type Service = SizeLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SizeLimitService { inner, max_bytes: self.max_bytes, larger: self.larger.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct SizeLimitService<S> {
    inner: S,
    max_bytes: usize,
    larger: Arc<Vec<(String, usize)>>,
}

impl<S> Service<Request<Body>> for SizeLimitService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        if CLIENT_STREAMING.iter().any(|p| req.uri().path().starts_with(p)) {
            return Box::pin(inner.call(req));
        }
        let path = req.uri().path();
        let max_bytes = self.larger.iter().find(|(p, _)| p == path).map_or(self.max_bytes, |(_, max)| *max);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes: Bytes = match Limited::new(body, max_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                    tracing::info!(max_bytes, "request refused: too large");
                    return Ok(status_response(Status::resource_exhausted(format!(
                        "request larger than {} bytes",
                        max_bytes - 5
                    ))));
                }
                Err(err) => {
                    return Ok(status_response(Status::cancelled(format!("request body: {err}"))));
                }
            };
            inner.call(Request::from_parts(parts, Body::new(Full::new(bytes)))).await
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Verifies the bearer token and puts the [`crate::Principal`] in the request extensions; calls
/// without a valid token are refused with `UNAUTHENTICATED` unless the method is public.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: TokenVerifier,
    public: Arc<Vec<String>>,
}

impl AuthLayer {
    pub fn new(verifier: TokenVerifier, public: Vec<String>) -> Self {
        AuthLayer { verifier, public: Arc::new(public) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, verifier: self.verifier.clone(), public: self.public.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: TokenVerifier,
    public: Arc<Vec<String>>,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let path = req.uri().path();
        // An entry ending in `/` is a prefix (a whole service), any other an exact path.
        let public =
            self.public.iter().any(|p| if p.ends_with('/') { path.starts_with(p.as_str()) } else { path == p });
        let header = req.headers().get(http::header::AUTHORIZATION).map(|v| v.to_str().map_err(|_| ()));
        let outcome = match header {
            None => Err(AuthError::Missing),
            Some(Err(())) => Err(AuthError::Malformed),
            Some(Ok(value)) => self.verifier.verify_header(Some(value)),
        };
        let mut inner = take_ready(&mut self.inner);
        match outcome {
            // A key this process does not know yet (rotation): fetch the key set, then decide.
            Err(AuthError::UnknownKey(_)) if self.verifier.refresh().is_some() => {
                let verifier = self.verifier.clone();
                Box::pin(async move {
                    let header = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    match verifier.verify_header_fresh(header).await {
                        Ok(principal) => {
                            req.extensions_mut().insert(principal);
                            inner.call(req).await
                        }
                        Err(err) => Ok(refuse(&err)),
                    }
                })
            }
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Box::pin(inner.call(req))
            }
            Err(AuthError::Missing) if public => Box::pin(inner.call(req)),
            Err(err) => {
                let response = refuse(&err);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// UNAUTHENTICATED for a refused token, counted and logged.
fn refuse(err: &AuthError) -> Response<Body> {
    fleuve_metrics::metrics().jwt_refused(err.reason());
    tracing::info!(reason = %err, "request refused: unauthenticated");
    status_response(Status::unauthenticated(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_per_the_spec() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5n"), Some(Duration::from_nanos(5)));
        assert_eq!(parse_grpc_timeout("123456789S"), None, "more than 8 digits");
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    async fn slow(_req: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Response::new(Body::empty()))
    }

    fn grpc_status(response: &Response<Body>) -> Option<&str> {
        response.headers().get("grpc-status").and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_slow_call_gets_deadline_exceeded_at_the_clients_timeout_or_the_cap() {
        let mut service = DeadlineLayer::new(Duration::from_millis(200)).layer(tower::service_fn(slow));
        let mut request = Request::new(Body::empty());
        request.headers_mut().insert("grpc-timeout", HeaderValue::from_static("20m"));
        let started = Instant::now();
        let response = service.call(request).await.unwrap();
        assert_eq!(grpc_status(&response), Some("4"), "DEADLINE_EXCEEDED");
        assert!(started.elapsed() < Duration::from_millis(150), "the client's 20 ms applied");

        let mut request = Request::new(Body::empty());
        request.headers_mut().insert("grpc-timeout", HeaderValue::from_static("60S"));
        let started = Instant::now();
        let response = service.call(request).await.unwrap();
        assert_eq!(grpc_status(&response), Some("4"));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
            "capped at 200 ms: {elapsed:?}"
        );

        // A call without any deadline gets the cap too: nothing waits unbounded.
        let started = Instant::now();
        let response = service.call(Request::new(Body::empty())).await.unwrap();
        assert_eq!(grpc_status(&response), Some("4"), "DEADLINE_EXCEEDED without grpc-timeout");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}
