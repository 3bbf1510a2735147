//! `fleuve bench telemetry`: what observability costs the saga. The same `fleuve dev` process
//! (this binary, on a scratch PostgreSQL database, every message through its embedded broker)
//! runs the saga workload of `fleuve bench saga` twice per round: once with OTLP export to a
//! receiver and `/metrics` scraped every second ("on"), once with neither ("off"), in
//! alternated order. Printed: sagas per second, latency, and CPU per saga of the Fleuve process
//! alone (`/proc/<pid>/stat`) and of the whole machine, per run and as medians of the on/off
//! ratios. The metric families themselves are always recorded (atomic counters, no switch):
//! "off" means nothing reads them and no span leaves the process.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use fleuve_mesh::{MeshConfig, Role, auth::SigningKey, auth::TokenIssuer};
use uuid::Uuid;

use crate::bench::{KilledOnDrop, ScratchDatabase, free_port};
use crate::bench_saga::{Clients, Run, one_saga, run, seed};
use crate::dev::DataDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    On,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::On => "on",
        }
    }
}

/// One measured run.
struct Measured {
    mode: Mode,
    run: Run,
    /// CPU milliseconds of the `fleuve dev` process per completed saga.
    process_ms_per_saga: f64,
    scrapes: usize,
}

/// Starts `fleuve dev` on `database_url` and waits for its banner; returns the process, its gRPC
/// and admin addresses.
pub(crate) fn start_dev(
    dir: &DataDir,
    database_url: &str,
    otlp: Option<&str>,
) -> anyhow::Result<(KilledOnDrop, std::net::SocketAddr, std::net::SocketAddr)> {
    let [grpc, registry, kafka, admin] = [free_port()?, free_port()?, free_port()?, free_port()?];
    let local = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("dev")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &local(grpc).to_string()])
        .args(["--registry-listen", &local(registry).to_string()])
        .args(["--kafka-listen", &local(kafka).to_string()])
        .args(["--admin-listen", &local(admin).to_string()])
        .args(["--database-url", database_url])
        .arg("--no-edge")
        .env_remove("FLEUVE_TELEMETRY__OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(endpoint) = otlp {
        command.env("FLEUVE_TELEMETRY__OTLP_ENDPOINT", endpoint);
    }
    let mut child = command.spawn().context("starting fleuve dev")?;
    let stdout = child.stdout.take().context("fleuve dev's stdout")?;
    let process = KilledOnDrop(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(line) => {
                if line?.starts_with("fleuve dev is ready") {
                    break;
                }
            }
            None => anyhow::bail!("fleuve dev exited before it was ready"),
        }
    }
    // The rest of the banner is not read: drain it so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((process, local(grpc), local(admin)))
}

/// One run of `mode`: a fresh node on a fresh database, `concurrency` customers, `duration`.
async fn measure(
    admin_url: &str,
    otlp_endpoint: &str,
    mode: Mode,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let scratch = ScratchDatabase::create(admin_url)?;
    let dir = DataDir::new(std::env::temp_dir().join(format!("fleuve-bench-telemetry-{}", Uuid::new_v4().simple())));
    std::fs::create_dir_all(dir.path())?;
    // The key the node will load: the bench mints its customers' tokens with it.
    let key = SigningKey::load_or_generate(&dir.key_file())?;
    let issuer = TokenIssuer::new(key, &MeshConfig::default().auth);
    let otlp = (mode == Mode::On).then_some(otlp_endpoint);
    let (process, addr, admin_addr) = tokio::task::block_in_place(|| start_dev(&dir, &scratch.url, otlp))?;
    let pid = process.0.id();

    let mut clients = Clients::connect(addr).await?;
    let (admin, _) = issuer.issue("bench-admin", Role::Admin, "bench")?;
    let customers = seed(&mut clients, &issuer, &admin, concurrency).await?;
    for customer in customers.iter().take(4) {
        anyhow::ensure!(one_saga(&mut clients.orders, customer).await?, "a warm-up saga failed");
    }

    // "On": a scraper asking for OpenMetrics every second, as Prometheus would (at 15 s, usually).
    let (stop_scraping, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let scraper = tokio::spawn(async move {
        let mut scrapes = 0;
        if mode == Mode::Off {
            return scrapes;
        }
        let client = reqwest::Client::new();
        let url = format!("http://{admin_addr}/metrics");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let response = client
                        .get(&url)
                        .header("accept", "application/openmetrics-text; version=1.0.0")
                        .send()
                        .await;
                    if let Ok(response) = response
                        && response.bytes().await.is_ok()
                    {
                        scrapes += 1;
                    }
                }
                _ = &mut stopped => return scrapes,
            }
        }
    });

    let cpu_before = crate::bench::process_cpu_ms(pid);
    let orders = clients.orders.clone();
    let measured = run(&customers, duration, move |customer| {
        let mut orders = orders.clone();
        async move { one_saga(&mut orders, &customer).await }
    })
    .await?;
    let cpu_after = crate::bench::process_cpu_ms(pid);
    let _ = stop_scraping.send(());
    let scrapes = scraper.await?;
    drop(process);
    let _ = std::fs::remove_dir_all(dir.path());
    drop(scratch);
    let process_ms = cpu_before.zip(cpu_after).map(|(b, a)| a - b).unwrap_or(f64::NAN);
    Ok(Measured { mode, process_ms_per_saga: process_ms / measured.completed.max(1) as f64, run: measured, scrapes })
}

pub async fn telemetry(
    admin_url: &str,
    otlp_endpoint: &str,
    concurrency: usize,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<()> {
    println!(
        "fleuve bench telemetry: {} s per run, {concurrency} orders in flight, {rounds} rounds of off/on in alternated \
         order; fleuve dev on PostgreSQL at {}; OTLP to {otlp_endpoint}",
        duration.as_secs(),
        crate::node::redact(admin_url)
    );
    println!(
        "{:>6} {:>5} {:>9} {:>7} {:>8} {:>8} {:>14} {:>13} {:>8}",
        "round", "mode", "sagas/s", "failed", "p50 ms", "p99 ms", "fleuve cpu ms", "machine cpu", "scrapes"
    );
    let mut throughput = Vec::new();
    let mut process_cpu = Vec::new();
    let mut machine_cpu = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [Mode::Off, Mode::On] } else { [Mode::On, Mode::Off] };
        let mut pair = Vec::new();
        for mode in order {
            let m = measure(admin_url, otlp_endpoint, mode, concurrency, duration).await?;
            println!(
                "{:>6} {:>5} {:>9.1} {:>7} {:>8.1} {:>8.1} {:>14.2} {:>13} {:>8}",
                round + 1,
                m.mode.label(),
                m.run.per_second,
                m.run.failed,
                m.run.p50_ms,
                m.run.p99_ms,
                m.process_ms_per_saga,
                crate::bench::CpuUse::ms_per_job(m.run.cpu.as_ref()),
                m.scrapes
            );
            pair.push(m);
        }
        let (on, off) = match (&pair[0], &pair[1]) {
            (a, b) if a.mode == Mode::On => (a, b),
            (a, b) => (b, a),
        };
        throughput.push(on.run.per_second / off.run.per_second);
        process_cpu.push(on.process_ms_per_saga / off.process_ms_per_saga);
        if let (Some(a), Some(b)) = (on.run.cpu, off.run.cpu) {
            machine_cpu.push(a.ms_per_job / b.ms_per_job);
        }
    }
    println!(
        "on/off, median of {rounds} rounds: throughput {:.3}x (target >= 0.95), fleuve CPU per saga {:.3}x, machine \
         CPU per saga {:.3}x (target within 5 %)",
        crate::bench::median(throughput),
        crate::bench::median(process_cpu),
        crate::bench::median(machine_cpu)
    );
    println!(
        "  fleuve cpu ms: CPU time of the fleuve dev process per completed saga; machine cpu: every process's, the \
         OTLP receiver and PostgreSQL included, from /proc/stat"
    );
    Ok(())
}
