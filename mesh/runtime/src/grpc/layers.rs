//! The tower layers of every server: tracing and correlation, deadline, request-size limit,
//! JWT auth.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::{propagation::Extractor, trace::TraceContextExt};
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    auth::{AuthError, TokenVerifier},
    context::{CorrelationId, TraceParent},
    telemetry::CallLine,
};

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

// Header names as values, not `&str`: a `&str` name is parsed and validated at each look-up
// (six a call, about 1 000 instructions in all).
const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Takes the service that `poll_ready` drove to readiness and leaves a fresh clone in its place
/// (the clone may not be ready; the next call polls it): for a call that must wait before it
/// calls the inner service. The others call it at once, with no clone: the layered service
/// is deep (every layer's clone clones all below it, with their shared counters), and cloning it
/// at each layer for every call cost more than any layer's own work.
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
#[derive(Debug, Clone, Default)]
pub struct TraceLayer {
    /// The services the server serves (`package.Service`); calls to any other path are counted
    /// in the call metrics as service and method `unknown`. `None`: every path by its name.
    served: Option<Arc<[String]>>,
}

impl TraceLayer {
    /// Counts calls by service and method only for `services`: a made-up path (refused or
    /// unknown) adds no series.
    pub fn serving(services: impl IntoIterator<Item = String>) -> TraceLayer {
        TraceLayer { served: Some(services.into_iter().collect()) }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner, served: self.served.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
    served: Option<Arc<[String]>>,
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
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
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
            .get(&CORRELATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid_correlation_id(v))
            .map_or_else(
                || uuid::Uuid::now_v7().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned(),
                str::to_owned,
            );
        let path = req.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let span = request_span(&path, service, method, &correlation_id);
        // A call that carries no trace context starts a trace: the span is a root, and asking the
        // global propagator (a lock every call shares) would change nothing.
        if req.headers().contains_key(&TRACEPARENT) {
            let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
            let _ = span.set_parent(parent);
        }
        let span_context = span.context().span().span_context().clone();
        if span_context.is_valid() {
            req.extensions_mut().insert(TraceParent(crate::telemetry::traceparent_of(&span_context)));
        }
        req.extensions_mut().insert(CorrelationId(correlation_id.clone()));

        let trace = span_context.is_valid().then(|| (span_context.trace_id(), span_context.span_id()));
        let started = Instant::now();
        let served = self.served.as_ref().is_none_or(|served| served.iter().any(|s| s == service));
        let recorder = CallRecorder { path, served, started, trace_id: trace.map(|(trace_id, _)| trace_id) };
        // Not inside the span: entering and leaving it costs every call, and the layers below
        // only decide in `call`. What they log (a refused token, a request too large) they log
        // in their futures, which run in the span.
        let call = self.inner.call(req);
        Box::pin(InSpan::new(span, async move {
            let mut response = call.await?;
            let status =
                response.headers().get(&GRPC_STATUS).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok());
            let code = status.unwrap_or(0);
            // A status in the headers ends the call (trailers-only); otherwise it comes in
            // the trailers, at the end of the body (streams: when the stream ends).
            if let Some(code) = status {
                recorder.record(code);
            }
            // Straight onto the OpenTelemetry span (the semantic conventions' name): recorded
            // as a tracing field it made the log layer re-parse and re-write the span's
            // fields on every call (the line below carries the code as `grpc_code`).
            tracing::Span::current().set_attribute("rpc.grpc.status_code", i64::from(code));
            let message =
                (code != 0).then(|| response.headers().get(&GRPC_MESSAGE).and_then(|v| v.to_str().ok()).unwrap_or(""));
            // As enabled as the event would be: its level, its target (this module) and its
            // fields (a directive may name them).
            let enabled = match message {
                None => tracing::enabled!(tracing::Level::INFO, elapsed_ms, grpc_code),
                Some(_) => tracing::enabled!(tracing::Level::INFO, elapsed_ms, grpc_code, grpc_message),
            };
            if enabled {
                let (service, method) = split_path(&recorder.path);
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                let line = CallLine {
                    path: &recorder.path,
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
            if status.is_none() && is_grpc(response.headers()) {
                response = response.map(|body| Body::new(ObservedBody::new(body, recorder)));
            }
            if let Ok(mut value) = HeaderValue::try_from(correlation_id) {
                // Never indexed in HPACK. An id is usually new at every call (ours always is),
                // so indexing it only churned both ends' tables, pushing out entries that
                // repeat, and searching them cost the server about 3 000 instructions a
                // call; the price is the header's name written out (about 13 bytes) in each
                // answer. `HeaderValue`'s Debug shows the value as `Sensitive`.
                value.set_sensitive(true);
                response.headers_mut().insert(CORRELATION_HEADER, value);
            }
            Ok(response)
        }))
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside its span, as `tracing::Instrumented`, but dropped inside it only
    /// when it has not finished: a finished call's future is dropped as it finishes, while the
    /// span is entered, where `Instrumented` enters the span once more to drop it (about 800
    /// instructions a call).
    struct InSpan<F> {
        span: tracing::Span,
        #[pin]
        state: Polled<F>,
    }

    impl<F> PinnedDrop for InSpan<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if matches!(&*this.state, Polled::Running { .. }) {
                let _entered = this.span.enter();
                this.state.set(Polled::Done);
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = PolledProjection]
    enum Polled<F> {
        Running { #[pin] future: F },
        Done,
    }
}

impl<F> InSpan<F> {
    fn new(span: tracing::Span, future: F) -> InSpan<F> {
        InSpan { span, state: Polled::Running { future } }
    }
}

impl<F: std::future::Future> std::future::Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let output = match this.state.as_mut().project() {
            PolledProjection::Running { future } => std::task::ready!(future.poll(cx)),
            PolledProjection::Done => panic!("a call's future polled after it finished"),
        };
        // Dropped here, in the span.
        this.state.set(Polled::Done);
        Poll::Ready(output)
    }
}

/// The service and the method of a call's path (`/package.Service/Method`).
fn split_path(path: &str) -> (&str, &str) {
    path.trim_start_matches('/').split_once('/').unwrap_or((path, ""))
}

/// The server span of a call. [`crate::telemetry::JsonLines::write_call_line`] writes its
/// fields in this order.
pub(crate) fn request_span(path: &str, service: &str, method: &str, correlation_id: &str) -> tracing::Span {
    // Plain strings, not `%` (Display): each layer takes a string as it is, where a Display
    // value is formatted into a new string first.
    // A root: a call starts its own trace unless it carries a `traceparent`, whatever span is
    // current where the server calls the layers.
    tracing::info_span!(
        parent: None,
        "grpc.request",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        correlation_id = correlation_id,
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

/// Whether a request or an answer carries gRPC (grpc-web too: past the browser layer above, a
/// grpc-web request has been turned into gRPC).
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Records one call in `fleuve_grpc_server_handled_total` and its latency histogram.
struct CallRecorder {
    /// The call's path, `/package.Service/Method`.
    path: String,
    /// Whether the path names a service the server serves.
    served: bool,
    started: Instant,
    trace_id: Option<opentelemetry::trace::TraceId>,
}

impl CallRecorder {
    fn record(&self, code: i32) {
        // A path of no service served here, and a method unknown to its service (UNIMPLEMENTED,
        // which Fleuve's own handlers never give): counted under one `unknown` method, so that a
        // client making paths up cannot add series without end. The log line keeps the path.
        let (service, method) = if !self.served || code == Code::Unimplemented as i32 {
            ("unknown", "unknown")
        } else {
            split_path(&self.path)
        };
        let trace_id = self.trace_id.map(|id| {
            let mut hex = String::with_capacity(32);
            crate::telemetry::push_hex(&mut hex, &id.to_bytes());
            hex
        });
        let seconds = self.started.elapsed().as_secs_f64();
        fleuve_metrics::metrics().grpc_handled(service, method, code, seconds, trace_id.as_deref());
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
                    .and_then(|t| t.get(&GRPC_STATUS))
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
/// `DEADLINE_EXCEEDED` when it runs out (tonic's own timeout answers `CANCELLED`). The deadline
/// is set in `call`, which must run inside a tokio runtime (a server's always does).
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
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let asked = req.headers().get(&GRPC_TIMEOUT).and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
        let deadline = asked.map_or(self.max, |d| d.min(self.max));
        DeadlineFuture { call: tokio::time::timeout(deadline, self.inner.call(req)), deadline }
    }
}

pin_project_lite::pin_project! {
    /// A call under its deadline: its own answer, or `DEADLINE_EXCEEDED` once the deadline
    /// passes. A future of its own, not boxed: the trace layer above boxes the whole call once.
    pub struct DeadlineFuture<F> {
        #[pin]
        call: tokio::time::Timeout<F>,
        deadline: Duration,
    }
}

impl<F, E> std::future::Future for DeadlineFuture<F>
where
    F: std::future::Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match std::task::ready!(this.call.poll(cx)) {
            Ok(result) => result,
            Err(_) => {
                Ok(status_response(Status::deadline_exceeded(format!("deadline of {:?} exceeded", this.deadline))))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Request size

/// Paths whose request is a stream of messages, not limited as a whole.
const CLIENT_STREAMING: &[&str] = &["/grpc.reflection."];

/// Refuses request bodies larger than the limit with `RESOURCE_EXHAUSTED` before any handler
/// runs. Fleuve's own RPCs are unary or server-streaming: their request body is one message,
/// which tonic decodes whole before it calls the handler. The body is counted as tonic reads it
/// (not collected first: that cost every call a copy); past the limit its next frame is the
/// `RESOURCE_EXHAUSTED` status, which tonic's decoding answers with, so the handler never runs.
/// A message whose prefix declares more than the limit, or a body whose `content-length` does,
/// is refused before the rest of it is read. The limit applies as the body is read, so a call the
/// token check refuses (below this layer) is refused `UNAUTHENTICATED` whatever its size, without
/// its body being read. Client-streaming infrastructure (the bidi reflection stream) passes
/// through to tonic's own per-message decoding limit.
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
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if CLIENT_STREAMING.iter().any(|p| req.uri().path().starts_with(p)) {
            return self.inner.call(req);
        }
        let path = req.uri().path();
        let max_bytes = self.larger.iter().find(|(p, _)| p == path).map_or(self.max_bytes, |(_, max)| *max);
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let over = declared.is_some_and(|length| length > max_bytes as u64);
        let req = req.map(|body| Body::new(LimitedBody::new(body, max_bytes, over)));
        self.inner.call(req)
    }
}

/// `RESOURCE_EXHAUSTED` for a request over `max_bytes` (the message and its 5-byte frame),
/// logged.
fn too_large(max_bytes: usize) -> Status {
    tracing::info!(max_bytes, "request refused: too large");
    Status::resource_exhausted(format!("request larger than {} bytes", max_bytes - 5))
}

/// A request body that ends in [`too_large`] once it has carried more than `max_bytes`, or as
/// soon as its message's 5-byte prefix declares more (tonic's own decoding limit, checked on
/// that prefix, would otherwise answer first, with `OUT_OF_RANGE`), or at once when its
/// declared length is over.
struct LimitedBody {
    inner: Body,
    /// Bytes it may still carry; `None` once refused.
    remaining: Option<usize>,
    max_bytes: usize,
    /// The first message's prefix (a flag byte, then its length, big-endian), as far as read.
    prefix: [u8; 5],
    prefix_read: usize,
    /// Its `content-length` is over the limit: refused at the first read, before any byte.
    declared_over: bool,
}

impl LimitedBody {
    fn new(inner: Body, max_bytes: usize, declared_over: bool) -> LimitedBody {
        LimitedBody { inner, remaining: Some(max_bytes), max_bytes, prefix: [0; 5], prefix_read: 0, declared_over }
    }

    /// Counts `data`; whether the body is still within its limit.
    fn admit(&mut self, data: &[u8]) -> bool {
        if self.prefix_read < self.prefix.len() {
            let take = data.len().min(self.prefix.len() - self.prefix_read);
            self.prefix[self.prefix_read..self.prefix_read + take].copy_from_slice(&data[..take]);
            self.prefix_read += take;
            if self.prefix_read == self.prefix.len() {
                let declared = u32::from_be_bytes([self.prefix[1], self.prefix[2], self.prefix[3], self.prefix[4]]);
                if declared as usize > self.max_bytes - self.prefix.len() {
                    self.remaining = None;
                    return false;
                }
            }
        }
        self.remaining = self.remaining.and_then(|remaining| remaining.checked_sub(data.len()));
        self.remaining.is_some()
    }
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.remaining.is_none() {
            return Poll::Ready(None);
        }
        if self.declared_over {
            self.remaining = None;
            return Poll::Ready(Some(Err(too_large(self.max_bytes))));
        }
        let polled = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &polled
            && let Some(data) = frame.data_ref()
            && !self.admit(data)
        {
            return Poll::Ready(Some(Err(too_large(self.max_bytes))));
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// A path that calls may take without a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicPath {
    /// This path alone: a method, a document, a site's root.
    Exact(String),
    /// Every path that starts with it: a whole service (`/grpc.health.v1.Health/`), a site's
    /// files.
    Prefix(String),
}

impl PublicPath {
    /// The form [`crate::grpc::MeshServer::public`] takes: a path ending in `/` is a prefix.
    pub fn parse(path: &str) -> PublicPath {
        if path.ends_with('/') { PublicPath::Prefix(path.to_owned()) } else { PublicPath::Exact(path.to_owned()) }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PublicPath::Exact(exact) => path == exact,
            PublicPath::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

/// Verifies the bearer token and puts the [`crate::Principal`] in the request extensions; calls
/// without a valid token are refused with `UNAUTHENTICATED` unless the method is public.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: TokenVerifier,
    public: Arc<Vec<PublicPath>>,
}

impl AuthLayer {
    pub fn new(verifier: TokenVerifier, public: Vec<PublicPath>) -> Self {
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
    public: Arc<Vec<PublicPath>>,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, BoxFuture<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let path = req.uri().path();
        let public = self.public.iter().any(|p| p.matches(path));
        let grpc = is_grpc(req.headers());
        let header = req.headers().get(http::header::AUTHORIZATION).map(|v| v.to_str().map_err(|_| ()));
        let outcome = match header {
            None => Err(AuthError::Missing),
            Some(Err(())) => Err(AuthError::Malformed),
            Some(Ok(value)) => self.verifier.verify_header(Some(value)),
        };
        match outcome {
            // A key this process does not know yet (rotation): fetch the key set, then decide.
            Err(AuthError::UnknownKey(_)) if self.verifier.refresh().is_some() => {
                let verifier = self.verifier.clone();
                let mut inner = take_ready(&mut self.inner);
                futures::future::Either::Right(Box::pin(async move {
                    let header = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    match verifier.verify_header_fresh(header).await {
                        Ok(principal) => {
                            req.extensions_mut().insert(principal);
                            inner.call(req).await
                        }
                        Err(err) => {
                            fleuve_metrics::metrics().jwt_refused(err.reason());
                            Ok(refusal(&err, grpc))
                        }
                    }
                }))
            }
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                futures::future::Either::Left(self.inner.call(req))
            }
            Err(AuthError::Missing) if public => futures::future::Either::Left(self.inner.call(req)),
            // Counted at once; logged when polled, inside the request span the trace layer
            // enters then (it does not enter it around the layers' `call`).
            Err(err) => {
                fleuve_metrics::metrics().jwt_refused(err.reason());
                futures::future::Either::Right(Box::pin(async move { Ok(refusal(&err, grpc)) }))
            }
        }
    }
}

/// The answer to a refused token, logged (the caller counts it): UNAUTHENTICATED for a gRPC
/// call, HTTP 401 for anything else (a browser asking for a path that is not public), which a
/// gRPC status in a 200 answer would only puzzle.
fn refusal(err: &AuthError, grpc: bool) -> Response<Body> {
    tracing::info!(reason = %err, "request refused: unauthenticated");
    if grpc {
        return status_response(Status::unauthenticated(err.to_string()));
    }
    let mut response = Response::new(Body::new(format!("{err}\n")));
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
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

    /// Reads the whole request body as tonic's decoding would: a body error becomes the answer.
    async fn read_body(req: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
        use http_body_util::BodyExt as _;
        Ok(match req.into_body().collect().await {
            Ok(collected) => {
                let mut response = Response::new(Body::empty());
                let read = collected.to_bytes().len().to_string();
                response.headers_mut().insert("read", HeaderValue::from_str(&read).unwrap());
                response
            }
            Err(status) => status.into_http(),
        })
    }

    /// A gRPC message of `len` bytes: its 5-byte prefix (no compression, the length), then
    /// the bytes.
    fn framed(len: usize) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        bytes.resize(5 + len, b'x');
        bytes
    }

    /// `bytes` as data frames of the sizes of `cuts` and one of the rest.
    fn frames(bytes: Vec<u8>, cuts: &[usize]) -> Vec<http_body::Frame<Bytes>> {
        let mut rest = Bytes::from(bytes);
        let mut frames: Vec<_> = cuts.iter().map(|cut| http_body::Frame::data(rest.split_to(*cut))).collect();
        frames.push(http_body::Frame::data(rest));
        frames
    }

    /// A request of `path` whose body is `frames`.
    fn request(path: &str, frames: Vec<http_body::Frame<Bytes>>) -> Request<Body> {
        let frames = futures::stream::iter(frames.into_iter().map(Ok::<_, Status>));
        let mut request = Request::new(Body::new(http_body_util::StreamBody::new(frames)));
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    #[tokio::test]
    async fn a_public_root_makes_no_other_path_public() {
        use tower::ServiceExt as _;
        let verifier = TokenVerifier::with_a_new_key();
        // What a server with the console and health declares: the site's root is that path alone.
        let public = vec![
            PublicPath::Exact("/console".into()),
            PublicPath::Prefix("/console/".into()),
            PublicPath::Exact("/".into()),
            PublicPath::parse("/grpc.health.v1.Health/"),
            PublicPath::parse("/fleuve.identity.v1.IdentityService/Login"),
        ];
        let layer = AuthLayer::new(verifier, public);
        let service = layer.layer(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }));
        let status = |path: &'static str| {
            let service = service.clone();
            async move {
                let request = Request::builder()
                    .uri(path)
                    .header("content-type", "application/grpc")
                    .body(Body::empty())
                    .unwrap();
                let response = service.oneshot(request).await.unwrap();
                response.headers().get("grpc-status").map(|v| v.to_str().unwrap().to_owned())
            }
        };
        for open in [
            "/",
            "/console",
            "/console/assets/app.js",
            "/grpc.health.v1.Health/Check",
            "/fleuve.identity.v1.IdentityService/Login",
        ] {
            assert_eq!(status(open).await, None, "{open} is public");
        }
        for closed in ["/fleuve.identity.v1.IdentityService/WhoAmI", "/made.up.Service/Nope", "/x"] {
            assert_eq!(status(closed).await.as_deref(), Some("16"), "{closed} needs a token");
        }
        // A browser's plain GET of a path that is not public: HTTP 401, not a gRPC status.
        let response =
            service.clone().oneshot(Request::builder().uri("/nothing").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
        assert!(response.headers().get("grpc-status").is_none());
    }

    #[test]
    fn a_refused_call_is_logged_in_its_request_span() {
        use tower::ServiceExt as _;
        let verifier = TokenVerifier::with_a_new_key();
        let service = tower::ServiceBuilder::new()
            .layer(TraceLayer::default())
            .layer(AuthLayer::new(verifier, vec![]))
            .service(tower::service_fn(|_req: Request<Body>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
            }));
        let lines = crate::telemetry::json_lines_of(crate::telemetry::JsonLines::new("identity"), || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let request = Request::builder()
                .uri("/fleuve.identity.v1.IdentityService/WhoAmI")
                .header("content-type", "application/grpc")
                .header(CORRELATION_HEADER, "corr-refused")
                .body(Body::empty())
                .unwrap();
            let response = runtime.block_on(service.oneshot(request)).unwrap();
            assert_eq!(grpc_status(&response), Some("16"));
        });
        let refused = lines
            .iter()
            .find(|line| line["message"] == "request refused: unauthenticated")
            .unwrap_or_else(|| panic!("no refusal line: {lines:?}"));
        assert_eq!(refused["correlation_id"], "corr-refused", "{refused}");
        assert_eq!(refused["rpc.method"], "WhoAmI", "{refused}");
        assert_eq!(refused["reason"], "missing bearer token", "{refused}");
    }

    #[test]
    fn a_call_s_future_is_dropped_inside_its_span_finished_or_not() {
        /// Ready at once or never; logs when dropped.
        struct LogsOnDrop(bool);
        impl std::future::Future for LogsOnDrop {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
                if self.0 { Poll::Ready(()) } else { Poll::Pending }
            }
        }
        impl Drop for LogsOnDrop {
            fn drop(&mut self) {
                tracing::info!(finished = self.0, "dropped");
            }
        }
        let lines = crate::telemetry::json_lines_of(crate::telemetry::JsonLines::new("svc"), || {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            for finishes in [true, false] {
                let span = tracing::info_span!("grpc.request", correlation_id = "corr-drop");
                let mut call = Box::pin(InSpan::new(span, LogsOnDrop(finishes)));
                assert_eq!(call.as_mut().poll(&mut cx).is_ready(), finishes);
                drop(call);
            }
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, finished) in lines.iter().zip([true, false]) {
            assert_eq!(line["finished"], finished, "{line}");
            assert_eq!(line["correlation_id"], "corr-drop", "dropped outside the span: {line}");
        }
    }

    #[test]
    fn calls_to_paths_no_service_serves_are_counted_under_one_method() {
        let recorder = |path: &str| CallRecorder {
            path: path.to_owned(),
            served: !path.starts_with("/made.Up/"),
            started: Instant::now(),
            trace_id: None,
        };
        for made_up in ["/made.Up/Nope", "/made.Up/Other", "/fleuve.identity.v1.IdentityService/Nope"] {
            recorder(made_up).record(Code::Unimplemented as i32);
        }
        // Refused before any service saw it: still not a series of its own.
        recorder("/made.Up/Refused").record(Code::Unauthenticated as i32);
        recorder("/fleuve.test.v1.Counted/Get").record(Code::NotFound as i32);
        let text = fleuve_metrics::metrics().encode(fleuve_metrics::Format::Prometheus);
        assert!(!text.contains("made.Up") && !text.contains("grpc_method=\"Nope\""), "{text}");
        assert!(text.contains(r#"grpc_service="unknown",grpc_method="unknown",grpc_code="UNIMPLEMENTED"} "#), "{text}");
        assert!(
            text.contains(r#"grpc_service="unknown",grpc_method="unknown",grpc_code="UNAUTHENTICATED"} "#),
            "{text}"
        );
        assert!(
            text.contains(r#"grpc_service="fleuve.test.v1.Counted",grpc_method="Get",grpc_code="NOT_FOUND"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_request_over_the_limit_is_refused_as_it_is_read_and_one_declared_over_it_at_once() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let inner = tower::service_fn(move |req| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            read_body(req)
        });
        // Messages of up to 10 bytes; an upload path allowed 100.
        let mut service = SizeLimitLayer::new(10).allow("/s/Upload", 100).layer(inner);
        let read = |response: &Response<Body>| response.headers().get("read").map(|v| v.to_str().unwrap().to_owned());
        let exhausted = |response: &Response<Body>| {
            let message = response.headers().get("grpc-message").map(|v| v.to_str().unwrap().to_owned());
            (grpc_status(response).map(str::to_owned), message)
        };
        let refused = |limit: usize| (Some("8".to_owned()), Some(format!("request%20larger%20than%20{limit}%20bytes")));

        // Up to the limit, its prefix cut across frames: the whole body reaches the handler.
        let response = service.call(request("/s/Get", frames(framed(10), &[3, 7]))).await.unwrap();
        assert_eq!((grpc_status(&response), read(&response).as_deref()), (None, Some("15")));

        // A message declaring more than the limit: RESOURCE_EXHAUSTED on its prefix alone.
        let response = service.call(request("/s/Get", frames(framed(11)[..5].to_vec(), &[]))).await.unwrap();
        assert_eq!(exhausted(&response), refused(10));
        // One within the limit followed by more bytes than the limit: refused as it is read.
        let mut longer = framed(10);
        longer.push(0);
        let response = service.call(request("/s/Get", frames(longer, &[8]))).await.unwrap();
        assert_eq!(exhausted(&response), refused(10));

        // The larger limit of its own path, and no limit on a client stream.
        let response = service.call(request("/s/Upload", frames(framed(100), &[60]))).await.unwrap();
        assert_eq!(read(&response).as_deref(), Some("105"));
        let response = service.call(request("/s/Upload", frames(framed(101), &[60]))).await.unwrap();
        assert_eq!(exhausted(&response), refused(100));
        let reflection = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        let response = service.call(request(reflection, frames(framed(1000), &[]))).await.unwrap();
        assert_eq!(read(&response).as_deref(), Some("1005"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 6);

        // A declared content length over the limit: refused at the first read, before any byte
        // (the body itself would pass).
        let mut declared = request("/s/Get", frames(framed(3), &[]));
        declared.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("16"));
        let response = service.call(declared).await.unwrap();
        assert_eq!(exhausted(&response), refused(10));

        // Empty frames, a prefix one byte at a time, and trailers after the message pass.
        let mut cut = frames(framed(10), &[0, 1, 1, 1, 1, 1, 0, 3]);
        cut.push(http_body::Frame::trailers(HeaderMap::new()));
        let response = service.call(request("/s/Get", cut)).await.unwrap();
        assert_eq!((grpc_status(&response), read(&response).as_deref()), (None, Some("15")));
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
