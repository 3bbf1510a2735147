//! `fleuve bench deploy`: what the deployment files size their containers by. The seven
//! services as separate `fleuve serve` processes of this binary — configured as the Helm chart
//! and the compose file configure them (`FLEUVE_APPLY_MIGRATIONS=false` after `fleuve
//! migrate`, keys fetched from the identity process, static membership ids), each saga service
//! on its own scratch PostgreSQL database, Kafka and the registry from a `fleuve infra` — then
//! printed: the binary's size; per process, start-up to ready (`/readyz`), resident memory
//! when idle, and its peak (`VmHWM`) after the saga workload of `fleuve bench saga` at the
//! given concurrency, sent to the order process.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use fleuve_mesh::{MeshConfig, Role, auth::SigningKey, auth::TokenIssuer};
use uuid::Uuid;

use crate::bench::{KilledOnDrop, ScratchDatabase, free_port};
use crate::bench_saga::{Clients, one_saga, run, seed};

/// The services in start order (identity first: the others fetch its keys), and the database
/// each uses (the chart's: one for the homologation context, one per saga service).
const SERVICES: [(&str, &str); 7] = [
    ("identity", "homologation"),
    ("homologation", "homologation"),
    ("statistics", "homologation"),
    ("notification", "homologation"),
    ("order", "order"),
    ("stock", "stock"),
    ("billing", "billing"),
];

/// A `/proc/<pid>/status` figure in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Served {
    name: &'static str,
    process: KilledOnDrop,
    grpc: String,
    ready_ms: u128,
    idle_mib: f64,
}

pub async fn deploy(admin_url: &str, concurrency: usize, seconds: u64) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("fleuve-bench-deploy-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("signing-key.pem");
    let issuer = TokenIssuer::new(SigningKey::load_or_generate(&key_file)?, &MeshConfig::default().auth);

    // The broker and registry, and the four databases with their schema.
    let mut infra = Command::new(&binary)
        .args(["infra", "--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"])
        .env("FLEUVE_ADMIN__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting fleuve infra")?;
    let stdout = infra.stdout.take().context("infra's output")?;
    let _infra = KilledOnDrop(infra);
    let mut bus = BTreeMap::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            bus.insert(k.to_owned(), v.to_owned());
        }
        if bus.len() == 2 {
            break;
        }
    }
    let mut databases = BTreeMap::new();
    for name in ["homologation", "order", "stock", "billing"] {
        let scratch = ScratchDatabase::create(admin_url)?;
        let migrated = Command::new(&binary)
            .args(["migrate", "--database-url", &scratch.url])
            .env("FLEUVE_ADMIN__LISTEN", "127.0.0.1:0")
            .output()?;
        anyhow::ensure!(migrated.status.success(), "fleuve migrate: {}", String::from_utf8_lossy(&migrated.stderr));
        databases.insert(name, scratch);
    }

    // The services, one at a time, each timed from its start to its first ready answer.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let identity_port = free_port()?;
    let mut served = Vec::new();
    for (name, database) in SERVICES {
        let grpc = if name == "identity" { identity_port } else { free_port()? };
        let admin = free_port()?;
        let mut command = Command::new(&binary);
        command
            .args(["serve", name])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{grpc}"))
            .env("FLEUVE_ADMIN__LISTEN", format!("127.0.0.1:{admin}"))
            .env("FLEUVE_APPLY_MIGRATIONS", "false")
            .env("FLEUVE_DATABASE_URL", &databases[database].url)
            .env("FLEUVE_AUTH__JWKS_ENDPOINT", format!("http://127.0.0.1:{identity_port}"))
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .env("FLEUVE_BUS__INSTANCE_ID", format!("{name}-0"))
            .env("FLEUVE_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join(format!("{name}.log")))?));
        if name == "identity" {
            command.env("FLEUVE_AUTH__SIGNING_KEY_FILE", &key_file);
        }
        let started = Instant::now();
        let mut process = KilledOnDrop(command.spawn().with_context(|| format!("starting {name}"))?);
        loop {
            if let Some(status) = process.0.try_wait()? {
                anyhow::bail!("{name} exited ({status}): see {}", dir.join(format!("{name}.log")).display());
            }
            let ready = http.get(format!("http://127.0.0.1:{admin}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "{name} was not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ready_ms = started.elapsed().as_millis();
        served.push(Served { name, process, grpc: format!("127.0.0.1:{grpc}"), ready_ms, idle_mib: 0.0 });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for service in &mut served {
        service.idle_mib = memory_mib(service.process.0.id(), "VmRSS:").unwrap_or(f64::NAN);
    }

    // The saga workload on the order process.
    let address = |name: &str| served.iter().find(|s| s.name == name).map(|s| s.grpc.clone()).unwrap_or_default();
    let mut clients = Clients::split(&address("order"), &address("stock"), &address("billing")).await?;
    let (admin, _) = issuer.issue("bench-admin", Role::Admin, "bench")?;
    let customers = seed(&mut clients, &issuer, &admin, concurrency).await?;
    for customer in customers.iter().take(4) {
        anyhow::ensure!(one_saga(&mut clients.orders, customer).await?, "a warm-up saga failed");
    }
    let orders = clients.orders.clone();
    let load = run(&customers, Duration::from_secs(seconds), move |customer| {
        let mut orders = orders.clone();
        async move { one_saga(&mut orders, &customer).await }
    })
    .await?;

    let size = std::fs::metadata(&binary)?.len() as f64 / (1024.0 * 1024.0);
    println!("fleuve bench deploy: {} ({size:.1} MiB)", binary.display());
    println!(
        "  saga workload: {concurrency} orders in flight for {seconds} s: {:.1} sagas/s, p50 {:.0} ms, p99 {:.0} ms, {} failed",
        load.per_second, load.p50_ms, load.p99_ms, load.failed
    );
    println!("{:>14} {:>16} {:>14} {:>18}", "service", "start to ready", "idle RSS", "peak RSS (VmHWM)");
    for service in &served {
        let peak = memory_mib(service.process.0.id(), "VmHWM:").unwrap_or(f64::NAN);
        println!("{:>14} {:>13} ms {:>10.1} MiB {:>14.1} MiB", service.name, service.ready_ms, service.idle_mib, peak);
    }
    println!("  targets: start to ready <= 2 s with the schema in place; <= 150 MiB per service process");
    drop(served);
    drop(databases);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
