//! `fleuve bench`: load generators that print their figures. `append` measures single-event
//! appends (stream version + event with its topic, one transaction each) against PostgreSQL and,
//! in the same run, pgbench with a one-row INSERT script on the same server.

use std::{process::Command, time::Duration};

use anyhow::Context;
use clap::Subcommand;
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use fleuve_mesh::MeshConfig;
use uuid::Uuid;

/// The PostgreSQL the benches use by default: this machine's, over loopback without TLS (the
/// same URL serves pgbench, so both sides pay the same connection costs).
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Event-store appends beside a peer event store (Message DB's `write_message`, driven by
    /// pgbench) and pgbench one-row INSERTs, on the same PostgreSQL server in the same run.
    Append {
        /// An admin connection: a scratch database is created on this server and dropped after.
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Concurrent clients, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        clients: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Rounds of the three runs at each client count; the median of each is printed last.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// What Fleuve's server stack costs a call: a cheap query on a bare tonic server and on
    /// `fleuve serve identity`, each its own process, in alternated rounds.
    Stack {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Concurrent clients, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Bare-then-full rounds at each client count; the medians of the ratios are printed last.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Whether Fleuve stays flat as its data grows: appends against the events stored, and a
    /// command against its aggregate's stream length (with snapshots, beside a full replay).
    Growth {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Events in the log at which appends are measured, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000,10000000")]
        sizes: Vec<i64>,
        /// Stream lengths at which the command is measured, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "10,1000,100000")]
        lengths: Vec<i64>,
        /// Concurrent appending clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Seconds of appends at each size.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Dossier events the read model is rebuilt over, and the outbox and inbox hold.
        #[arg(long, default_value_t = 1_000_000)]
        rebuild_events: i64,
        /// Dossiers whose lives interleave in the rebuilt log: at 10 000, each replayed batch
        /// holds 5 000 different dossiers (the worst case); fewer put several events of a
        /// dossier in a batch.
        #[arg(long, default_value_t = 10_000)]
        rebuild_in_flight: i64,
        /// Which parts to run, comma separated: 1 appends, 2 command, 3 rebuild, 4 outbox and
        /// inbox (3 and 4 run together).
        #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
        parts: Vec<u8>,
    },
    /// The identity service on a bare tonic server (the baseline `fleuve bench stack` starts).
    #[command(hide = true)]
    BareIdentity {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        signing_key_file: std::path::PathBuf,
    },
    /// Outbox relay throughput beside a bare rdkafka producer on the same embedded broker.
    Relay {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Outbox rows the relay reads and publishes per batch (by default what the node's
        /// relay does).
        #[arg(long, default_value_t = fleuve_bus::relay::DEFAULT_BATCH_SIZE)]
        batch_size: i64,
        /// Relay runs, each between two bare-producer runs; the median ratio is the figure.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Append-to-read-model lag of the projections under a steady rate of gRPC commands.
    Projection {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Commands per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Completed order sagas per second and end-to-end latency at each concurrency, beside a
    /// synchronous chain of gRPC writes and pgbench on the same server.
    Saga {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Concurrent orders in flight, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The services as separate processes, configured as the Helm chart configures them: the
    /// binary's size, each one's start-up to ready and resident memory, idle and under the
    /// saga workload.
    Deploy {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Concurrent orders in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// What the Envoy edge adds: a query and a command on the node directly and through
    /// Envoy (gRPC, grpc-web, REST), at each concurrency, in one run.
    Edge {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Concurrent clients, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Certificate lookups per second through the read-through cache beside the database read.
    Cache {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        #[arg(long, env = "FLEUVE_BENCH_REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
        redis_url: String,
        #[arg(long, default_value_t = 1000)]
        certificates: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// What observability costs the saga: `fleuve dev` with OTLP export and a scrape every
    /// second against neither, in alternated runs (scripts/bench-telemetry starts a receiver).
    Telemetry {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// The OTLP/gRPC receiver the "on" runs export to.
        #[arg(long)]
        otlp_endpoint: String,
        /// Orders in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Off/on pairs; the figure is the median of their ratios.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// What a console user waits for, in Chromium: the dossier list with many dossiers, and a
    /// saga step from its commit to the order page (needs a checkout with scripts/build-web run).
    Console {
        #[arg(long, env = "FLEUVE_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
        admin_url: String,
        /// Dossiers of the applicant's organisation.
        #[arg(long, default_value_t = 1_000)]
        dossiers: usize,
        /// Orders followed live.
        #[arg(long, default_value_t = 50)]
        orders: usize,
        /// Loads of the dossier list.
        #[arg(long, default_value_t = 5)]
        loads: usize,
    },
    /// What a scrape costs: rendering /metrics with this many series, in both formats, beside
    /// formatting as many lines directly.
    Metrics {
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        #[arg(long, default_value_t = 50)]
        renders: usize,
    },
}

pub async fn run(command: BenchCommand, config: &MeshConfig) -> anyhow::Result<()> {
    match command {
        BenchCommand::Append { admin_url, clients, seconds, rounds } => {
            crate::bench_append::append(&admin_url, &clients, Duration::from_secs(seconds), rounds).await
        }
        BenchCommand::Stack { admin_url, clients, seconds, rounds } => {
            crate::bench_stack::stack(config, &admin_url, &clients, Duration::from_secs(seconds), rounds).await
        }
        BenchCommand::Growth {
            admin_url,
            sizes,
            lengths,
            clients,
            seconds,
            rebuild_events,
            rebuild_in_flight,
            parts,
        } => {
            let rebuild = (rebuild_events, rebuild_in_flight);
            crate::bench_growth::growth(config, &admin_url, &sizes, &lengths, clients, seconds, rebuild, &parts).await
        }
        BenchCommand::BareIdentity { listen, database_url, signing_key_file } => {
            crate::bench_stack::bare_identity(config, &listen, &database_url, &signing_key_file).await
        }
        BenchCommand::Relay { admin_url, events, batch_size, rounds } => {
            crate::bench_backbone::relay(&admin_url, events, batch_size, rounds).await
        }
        BenchCommand::Projection { admin_url, rate, seconds } => {
            crate::bench_backbone::projection(&admin_url, rate, seconds).await
        }
        BenchCommand::Saga { admin_url, concurrency, seconds } => {
            crate::bench_saga::saga(config, &admin_url, &concurrency, Duration::from_secs(seconds)).await
        }
        BenchCommand::Deploy { admin_url, concurrency, seconds } => {
            crate::bench_deploy::deploy(&admin_url, concurrency, seconds).await
        }
        BenchCommand::Edge { admin_url, clients, seconds } => {
            crate::bench_edge::edge(&admin_url, &clients, Duration::from_secs(seconds)).await
        }
        BenchCommand::Cache { admin_url, redis_url, certificates, clients, seconds } => {
            crate::bench_backbone::cache(&admin_url, &redis_url, certificates, clients, seconds).await
        }
        BenchCommand::Telemetry { admin_url, otlp_endpoint, concurrency, seconds, rounds } => {
            crate::bench_telemetry::telemetry(
                &admin_url,
                &otlp_endpoint,
                concurrency,
                Duration::from_secs(seconds),
                rounds,
            )
            .await
        }
        BenchCommand::Console { admin_url, dossiers, orders, loads } => {
            crate::bench_console::console(&admin_url, dossiers, orders, loads).await
        }
        BenchCommand::Metrics { series, renders } => crate::bench_metrics::scrape(series, renders),
    }
}

/// A database created for one run and dropped at the end.
pub(crate) struct ScratchDatabase {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl ScratchDatabase {
    pub(crate) fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("fleuve_bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(admin_url).with_context(|| format!("connecting to {admin_url}"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
        Ok(ScratchDatabase { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name), name })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin);
        }
    }
}

/// The machine's CPU time counters (`/proc/stat`, first line), in clock ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTimes {
    /// user + nice + system + irq + softirq.
    busy: u64,
    steal: u64,
    total: u64,
}

/// CPU used between two readings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuUse {
    /// Busy CPU milliseconds per completed job.
    pub ms_per_job: f64,
    /// Stolen share of all CPU time in the interval.
    pub steal: f64,
    /// Busy share of all CPU time in the interval (what is left was idle, waiting or stolen).
    pub busy: f64,
}

/// User + system CPU time of a process in milliseconds (`/proc/<pid>/stat`, USER_HZ = 100).
pub(crate) fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 * 10.0)
}

/// `/proc/stat` counts in USER_HZ, which Linux fixes at 100 for user space.
const TICK_MS: f64 = 10.0;

impl CpuTimes {
    /// `None` where `/proc/stat` cannot be read or parsed (not Linux).
    pub(crate) fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        CpuTimes::parse(stat.lines().next()?)
    }

    fn parse(line: &str) -> Option<CpuTimes> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = fields.map(str::parse).collect::<Result<_, _>>().ok()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice, counted in user]
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(CpuTimes { busy: get(0) + get(1) + get(2) + get(5) + get(6), steal: get(7), total: (0..8).map(get).sum() })
    }

    pub(crate) fn since(&self, before: &CpuTimes, jobs: usize) -> CpuUse {
        let busy = self.busy.saturating_sub(before.busy) as f64;
        let total = self.total.saturating_sub(before.total).max(1) as f64;
        CpuUse {
            ms_per_job: if jobs == 0 { f64::NAN } else { busy * TICK_MS / jobs as f64 },
            steal: self.steal.saturating_sub(before.steal) as f64 / total,
            busy: busy / total,
        }
    }
}

impl CpuUse {
    pub(crate) fn ms_per_job(cpu: Option<&CpuUse>) -> String {
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{:.2}", c.ms_per_job))
    }

    /// Busy CPU milliseconds per 1 000 jobs.
    pub(crate) fn ms_per_thousand(cpu: Option<&CpuUse>) -> String {
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{:.1}", c.ms_per_job * 1000.0))
    }

    pub(crate) fn steal(cpu: Option<&CpuUse>) -> String {
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{:.0}%", c.steal * 100.0))
    }

    pub(crate) fn busy(cpu: Option<&CpuUse>) -> String {
        cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{:.0}%", c.busy * 100.0))
    }
}

/// The median of `values` (NaN when there are none).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// pgbench's transactions per second with a one-row INSERT script against `url` (a database it
/// may create a `pgbench_rows` table in): the server's commit ceiling for one-row writes.
/// `url` with its database name replaced, its parameters (`?sslmode=...`) kept.
fn with_database(url: &str, name: &str) -> String {
    let (location, query) = url.split_once('?').map_or((url, None), |(l, q)| (l, Some(q)));
    let base = location.rsplit_once('/').map_or(location, |(b, _)| b);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

pub(crate) fn pgbench_insert_tps(url: &str, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    {
        let mut conn = PgConnection::establish(url)?;
        diesel::sql_query("CREATE TABLE IF NOT EXISTS pgbench_rows (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .execute(&mut conn)?;
    }
    let script = std::env::temp_dir().join(format!("fleuve-pgbench-{}.sql", Uuid::new_v4().simple()));
    std::fs::write(&script, "INSERT INTO pgbench_rows (payload) VALUES (decode(repeat('ab', 120), 'hex'));\n")?;
    let tps = run_pgbench(url, &script, clients, duration);
    let _ = std::fs::remove_file(&script);
    tps
}

fn run_pgbench(url: &str, script: &std::path::Path, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    pgbench(url, script, clients, duration, &[], &[])
}

/// pgbench's transactions per second running `script` with `clients` clients, its variables
/// `defines` (`-D name=value`) and extra environment (`PGOPTIONS`, say).
pub(crate) fn pgbench(
    url: &str,
    script: &std::path::Path,
    clients: usize,
    duration: Duration,
    defines: &[(&str, String)],
    env: &[(&str, &str)],
) -> anyhow::Result<f64> {
    let mut command = Command::new("pgbench");
    command
        .args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", &clients.to_string()])
        .args(["-T", &duration.as_secs().to_string()]);
    for (name, value) in defines {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    command.envs(env.iter().copied());
    let output = command
        .arg("-f")
        .arg(script)
        .arg(url)
        .output()
        .context("running pgbench (Debian package postgresql-contrib or postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .ok_or_else(|| anyhow::anyhow!("no tps line in pgbench output:\n{stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_cpu_time() {
        let before = process_cpu_ms(std::process::id()).expect("/proc/self/stat");
        // Busy for 300 ms of wall time: at least some of it is counted (10 ms ticks).
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = process_cpu_ms(std::process::id()).expect("/proc/self/stat");
        assert!(after - before >= 50.0, "{before} ms then {after} ms");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median(Vec::new()).is_nan());
    }

    #[test]
    fn cpu_counters_parse_and_subtract() {
        let before = CpuTimes::parse("cpu  100 5 50 1000 10 3 2 40 0 0").unwrap();
        let after = CpuTimes::parse("cpu  300 5 150 1200 10 3 2 80 0 0").unwrap();
        let used = after.since(&before, 30);
        // 300 busy ticks = 3000 ms over 30 jobs; 40 of 540 ticks stolen.
        assert!((used.ms_per_job - 100.0).abs() < 1e-9);
        assert!((used.steal - 40.0 / 540.0).abs() < 1e-9);
        assert!((used.busy - 300.0 / 540.0).abs() < 1e-9);
        assert!(CpuTimes::parse("intr 1 2 3").is_none());
    }

    #[test]
    fn a_scratch_database_keeps_the_connection_parameters() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "s1"), "postgres://u@h:5432/s1");
        assert_eq!(
            super::with_database("postgres://u@h:5432/test?sslmode=disable", "s1"),
            "postgres://u@h:5432/s1?sslmode=disable"
        );
    }
}

/// A child process (`fleuve dev`, `infra`, `serve`) killed when dropped.
pub(crate) struct KilledOnDrop(pub(crate) std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
