//! The admin HTTP server every process runs beside its gRPC server: `/metrics` (Prometheus
//! text or OpenMetrics, by the scraper's `Accept`), `/healthz` (the process is alive) and
//! `/readyz` (the process can do its work: every condition it waits for is met and every live
//! probe answers).

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use fleuve_metrics::{Format, metrics};
use tokio::net::TcpListener;

/// The answer of a live probe: `Err` says what is wrong.
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Probe = Arc<dyn Fn() -> ProbeFuture + Send + Sync>;

/// How long `/readyz` waits for a live probe before counting it as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

enum State {
    Waiting,
    Ready,
    Probe(Probe),
}

struct Condition {
    name: &'static str,
    state: State,
}

/// What `/readyz` checks: conditions a startup step meets once (migrations applied, topics
/// created) and live probes asked on every request (the broker, the registry answer).
#[derive(Clone, Default)]
pub struct Readiness {
    conditions: Arc<Mutex<Vec<Condition>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.lock().iter().map(|c| c.name).collect();
        f.debug_struct("Readiness").field("conditions", &names).finish()
    }
}

/// Marks one condition met.
#[derive(Debug, Clone)]
pub struct ReadyFlag {
    readiness: Readiness,
    name: &'static str,
}

impl ReadyFlag {
    pub fn set(&self) {
        for condition in self.readiness.lock().iter_mut().filter(|c| c.name == self.name) {
            condition.state = State::Ready;
        }
    }
}

impl Readiness {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Condition>> {
        self.conditions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A condition `/readyz` waits for until the returned flag is set.
    pub fn require(&self, name: &'static str) -> ReadyFlag {
        self.lock().push(Condition { name, state: State::Waiting });
        ReadyFlag { readiness: self.clone(), name }
    }

    /// A check run on every `/readyz` (bounded by [`PROBE_TIMEOUT`]); it replaces a condition
    /// of the same name, so a startup flag can become a live probe once the step is done.
    pub fn probe(&self, name: &'static str, probe: impl Fn() -> ProbeFuture + Send + Sync + 'static) {
        let mut conditions = self.lock();
        conditions.retain(|c| c.name != name);
        conditions.push(Condition { name, state: State::Probe(Arc::new(probe)) });
    }

    /// From now on the process is not ready: it is shutting down and should get no new work.
    pub fn stopping(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every condition and what is wrong with it, if anything.
    pub async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let pending: Vec<(&'static str, Option<Probe>, bool)> = self
            .lock()
            .iter()
            .map(|c| match &c.state {
                State::Waiting => (c.name, None, false),
                State::Ready => (c.name, None, true),
                State::Probe(probe) => (c.name, Some(probe.clone()), true),
            })
            .collect();
        let mut results = Vec::with_capacity(pending.len() + 1);
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            results.push(("shutdown", Err("the process is shutting down".to_owned())));
        }
        let probes = pending.into_iter().map(|(name, probe, ready)| async move {
            let result = match probe {
                None if ready => Ok(()),
                None => Err("not yet".to_owned()),
                Some(probe) => match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
                },
            };
            (name, result)
        });
        results.extend(futures::future::join_all(probes).await);
        results
    }
}

/// The admin routes over `readiness`.
pub fn router(readiness: Readiness) -> Router {
    Router::new().route("/metrics", get(serve_metrics)).route("/healthz", get(|| async { "ok\n" })).route(
        "/readyz",
        get(move || {
            let readiness = readiness.clone();
            async move { ready(readiness).await }
        }),
    )
}

async fn serve_metrics(headers: HeaderMap) -> impl IntoResponse {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    ([(header::CONTENT_TYPE, format.content_type())], metrics().encode(format))
}

async fn ready(readiness: Readiness) -> impl IntoResponse {
    let checks = readiness.check().await;
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not ready" },
        "checks": checks
            .iter()
            .map(|(name, r)| (name.to_string(), serde_json::Value::String(r.clone().err().unwrap_or_else(|| "ok".into()))))
            .collect::<serde_json::Map<_, _>>(),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], format!("{body}\n"))
}

/// Binds `addr` and serves the admin routes until the process ends; returns the bound address.
pub async fn start(addr: SocketAddr, readiness: Readiness) -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("binding the admin address {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let app = router(readiness);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the admin server stopped");
        }
    });
    tracing::info!(addr = %local, "admin server listening (/metrics, /healthz, /readyz)");
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_waits_for_every_condition_and_probe() {
        let readiness = Readiness::default();
        let migrations = readiness.require("migrations");
        let checks = readiness.check().await;
        assert_eq!(checks, vec![("migrations", Err("not yet".to_owned()))]);
        migrations.set();
        assert!(readiness.check().await.iter().all(|(_, r)| r.is_ok()));

        readiness.probe("broker", || Box::pin(async { Err("connection refused".to_owned()) }));
        let checks = readiness.check().await;
        assert_eq!(checks[1], ("broker", Err("connection refused".to_owned())));
        readiness.probe("broker", || Box::pin(async { Ok(()) }));
        assert!(readiness.check().await.iter().all(|(_, r)| r.is_ok()));

        readiness.stopping();
        assert_eq!(readiness.check().await[0].0, "shutdown");
    }

    #[tokio::test]
    async fn a_slow_probe_fails_after_the_timeout() {
        let readiness = Readiness::default();
        readiness.probe("registry", || Box::pin(std::future::pending()));
        let checks = readiness.check().await;
        assert!(checks[0].1.as_ref().unwrap_err().contains("no answer"), "{checks:?}");
    }
}
