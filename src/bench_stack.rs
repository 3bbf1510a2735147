//! `fleuve bench stack`: what Fleuve's server stack costs a call. The same cheap query handler
//! (identity's `GetJwks`: no database, a small answer) served two ways, each in its own process
//! of this binary started side by side: by a bare tonic server (`Server::builder()
//! .add_service(..)`, `TCP_NODELAY`, nothing else), and by `fleuve serve identity` as it runs in
//! production (reflection, health, grpc-web and CORS for browsers, the tracing span and access
//! log line, call metrics, the deadline cap, the request-size limit and token verification; logs
//! at the default level in JSON to a file). Every call carries the same bearer token (the full server
//! verifies it: a cached verification after the first call). Alternated rounds at each
//! concurrency; the medians of the ratios are the figures.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use fleuve_mesh::{MeshConfig, Role, auth::SigningKey, auth::TokenIssuer};
use fleuve_proto::identity::v1 as identity;
use fleuve_store::Database;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::bench::{CpuUse, KilledOnDrop, ScratchDatabase, free_port};
use crate::bench_edge::Cell;

/// The hidden `fleuve bench bare-identity`: the identity service on a bare tonic server.
pub async fn bare_identity(
    config: &MeshConfig,
    listen: &str,
    database_url: &str,
    signing_key_file: &Path,
) -> anyhow::Result<()> {
    let url = database_url.to_owned();
    let db = tokio::task::spawn_blocking(move || Database::connect(&url, 2)).await??;
    let issuer = TokenIssuer::new(SigningKey::load_or_generate(signing_key_file)?, &config.auth);
    let service = fleuve_identity::server(fleuve_identity::Identity::new(db, issuer));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await?;
    Ok(())
}

pub async fn stack(
    config: &MeshConfig,
    admin_url: &str,
    clients: &[usize],
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("fleuve-bench-stack-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let outcome = measure_both(config, &binary, &dir, admin_url, clients, duration, rounds).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn measure_both(
    config: &MeshConfig,
    binary: &Path,
    dir: &Path,
    admin_url: &str,
    clients: &[usize],
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<()> {
    let key_file = dir.join("signing-key.pem");
    let issuer = TokenIssuer::new(SigningKey::load_or_generate(&key_file)?, &config.auth);
    let (token, _) = issuer.issue("bench-user", Role::Applicant, "bench")?;
    drop(issuer);
    let scratch = ScratchDatabase::create(admin_url)?;
    let migrated = Command::new(binary)
        .args(["migrate", "--database-url", &scratch.url])
        .env("FLEUVE_ADMIN__LISTEN", "127.0.0.1:0")
        .output()?;
    anyhow::ensure!(migrated.status.success(), "fleuve migrate: {}", String::from_utf8_lossy(&migrated.stderr));

    let (bare_port, full_port, admin_port) = (free_port()?, free_port()?, free_port()?);
    let _bare = KilledOnDrop(
        Command::new(binary)
            .args(["bench", "bare-identity", "--listen", &format!("127.0.0.1:{bare_port}")])
            .args(["--database-url", &scratch.url, "--signing-key-file"])
            .arg(&key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("bare.log"))?))
            .spawn()
            .context("starting the bare tonic server")?,
    );
    let full_log = dir.join("full.log");
    let _full = KilledOnDrop(
        Command::new(binary)
            .args(["serve", "identity"])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{full_port}"))
            .env("FLEUVE_ADMIN__LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("FLEUVE_APPLY_MIGRATIONS", "false")
            .env("FLEUVE_DATABASE_URL", &scratch.url)
            .env("FLEUVE_AUTH__SIGNING_KEY_FILE", &key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&full_log)?))
            .spawn()
            .context("starting fleuve serve identity")?,
    );
    let bare = Server { channel: connect(bare_port).await?, pid: _bare.0.id() };
    let full = Server { channel: connect(full_port).await?, pid: _full.0.id() };

    println!(
        "fleuve bench stack: GetJwks with a bearer token, {} s per run, {rounds} round(s) (bare first in odd rounds); \
         CPU µs/call: the whole machine's (client, both servers, PostgreSQL idle) per call; \
         server µs/call: the measured server process's own; client µs/call: this process's (the calls' client)",
        duration.as_secs()
    );
    println!(
        "{:>7} {:>7} {:>6} {:>10} {:>8} {:>8} {:>12} {:>15} {:>15} {:>6} {:>8} {:>11}",
        "round",
        "clients",
        "server",
        "calls/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/call",
        "server µs/call",
        "client µs/call",
        "busy",
        "ratio",
        "added p50"
    );
    let mut ratios: Vec<(usize, f64, f64)> = Vec::new();
    // (clients, bare µs/call, Fleuve µs/call): the servers' own, and the client's beside each.
    let mut server_cpu: Vec<(usize, f64, f64)> = Vec::new();
    let mut client_cpu: Vec<(usize, f64, f64)> = Vec::new();
    for round in 1..=rounds {
        for &n in clients {
            // Bare first in odd rounds, Fleuve first in even ones.
            let (b, f) = if round % 2 == 1 {
                let b = run(&bare, &token, n, duration).await.context("the bare server")?;
                (b, run(&full, &token, n, duration).await.context("the full server")?)
            } else {
                let f = run(&full, &token, n, duration).await.context("the full server")?;
                (run(&bare, &token, n, duration).await.context("the bare server")?, f)
            };
            print_run(round, n, "bare", &b, None);
            print_run(round, n, "fleuve", &f, Some(&b));
            ratios.push((n, f.cell.per_second / b.cell.per_second, (f.cell.p50_ms - b.cell.p50_ms) * 1000.0));
            if let (Some(fs), Some(bs)) = (f.server_us_per_call, b.server_us_per_call) {
                server_cpu.push((n, bs, fs));
            }
            if let (Some(fc), Some(bc)) = (f.client_us_per_call, b.client_us_per_call) {
                client_cpu.push((n, bc, fc));
            }
        }
    }
    println!("medians over {rounds} round(s) (targets: ≥ 0.9× the bare server's calls/s, ≤ 100 µs added p50)");
    for &n in clients {
        let of = |pick: fn(&(usize, f64, f64)) -> f64| {
            crate::bench::median(ratios.iter().filter(|r| r.0 == n).map(pick).collect())
        };
        print!("{:>7} {:>7} ratio {:.2}, added p50 {:.0} µs", "median", n, of(|r| r.1), of(|r| r.2));
        for (what, figures) in [("server", &server_cpu), ("client", &client_cpu)] {
            let mine: Vec<&(usize, f64, f64)> = figures.iter().filter(|r| r.0 == n).collect();
            if !mine.is_empty() {
                let (bare, fleuve) = (
                    crate::bench::median(mine.iter().map(|r| r.1).collect()),
                    crate::bench::median(mine.iter().map(|r| r.2).collect()),
                );
                print!("; {what} CPU per call: bare {bare:.1} µs, Fleuve {fleuve:.1} µs");
            }
        }
        println!();
    }
    let lines = std::fs::read_to_string(&full_log).map(|log| log.lines().count()).unwrap_or(0);
    println!(
        "the full server wrote {lines} log lines so far (one per call at the default level; the last \
         {} ms of them may still wait in its buffer)",
        fleuve_mesh::config::DEFAULT_LOG_FLUSH_INTERVAL_MS
    );
    Ok(())
}

fn print_run(round: usize, clients: usize, server: &str, run: &Measured, baseline: Option<&Measured>) {
    let (run, server_us, client_us) = (&run.cell, run.server_us_per_call, run.client_us_per_call);
    let baseline = baseline.map(|b| &b.cell);
    let cpu = run.cpu.as_ref().map_or_else(|| "n/a".to_owned(), |c| format!("{:.1}", c.ms_per_job * 1000.0));
    let (ratio, added) = baseline.map_or_else(
        || (String::new(), String::new()),
        |b| (format!("{:.2}", run.per_second / b.per_second), format!("{:.0} µs", (run.p50_ms - b.p50_ms) * 1000.0)),
    );
    println!(
        "{:>7} {:>7} {:>6} {:>10.0} {:>8.3} {:>8.3} {:>12} {:>15} {:>15} {:>6} {:>8} {:>11}",
        round,
        clients,
        server,
        run.per_second,
        run.p50_ms,
        run.p99_ms,
        cpu,
        server_us.map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}")),
        client_us.map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}")),
        CpuUse::busy(run.cpu.as_ref()),
        ratio,
        added
    );
}

/// A channel to the server on `port`, once it answers.
async fn connect(port: u16) -> anyhow::Result<Channel> {
    let endpoint = Channel::from_shared(format!("http://127.0.0.1:{port}"))?.tcp_nodelay(true);
    let started = Instant::now();
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                return Err(anyhow::anyhow!(e).context(format!("no server on 127.0.0.1:{port} within 30 s")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A server under test: the channel to it and its process.
struct Server {
    channel: Channel,
    pid: u32,
}

/// One server's run: the cell, and the CPU its own process and the client (this process)
/// spent per call.
struct Measured {
    cell: Cell,
    server_us_per_call: Option<f64>,
    client_us_per_call: Option<f64>,
}

/// `clients` workers on one channel calling `GetJwks` on `server` back to back for `duration`.
async fn run(server: &Server, token: &str, clients: usize, duration: Duration) -> anyhow::Result<Measured> {
    let client = std::process::id();
    let (before, client_before) = (crate::bench::process_cpu_ms(server.pid), crate::bench::process_cpu_ms(client));
    let cell = calls(&server.channel, token, clients, duration).await?;
    // The warm-up calls are counted in the CPU but not in the calls: 20 of tens of thousands.
    let calls = cell.per_second * duration.as_secs_f64();
    let per_call = |before: Option<f64>, after: Option<f64>| {
        before.zip(after).map(|(before, after)| (after - before) * 1000.0 / calls.max(1.0))
    };
    let server_us_per_call = per_call(before, crate::bench::process_cpu_ms(server.pid));
    let client_us_per_call = per_call(client_before, crate::bench::process_cpu_ms(client));
    Ok(Measured { cell, server_us_per_call, client_us_per_call })
}

async fn calls(channel: &Channel, token: &str, clients: usize, duration: Duration) -> anyhow::Result<Cell> {
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let call = {
        let channel = channel.clone();
        move || {
            let mut client = identity::identity_service_client::IdentityServiceClient::new(channel.clone());
            let bearer = bearer.clone();
            async move {
                let mut request = tonic::Request::new(identity::GetJwksRequest {});
                request.metadata_mut().insert("authorization", bearer);
                let keys = client.get_jwks(request).await?.into_inner().keys;
                anyhow::ensure!(!keys.is_empty(), "GetJwks answered no keys");
                Ok::<_, anyhow::Error>(())
            }
        }
    };
    crate::bench_edge::measure(clients, duration, call).await
}
