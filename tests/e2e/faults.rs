//! The failures operators meet, on a private PostgreSQL cluster of the test's own (its own
//! `initdb`, another port; the shared server is never touched): the database stopped with
//! `pg_ctl stop -m immediate` (a crash: no checkpoint, every connection cut) while dossiers are
//! filed and orders placed on `fleuve dev`.
//!
//! What must hold: while it is down callers get UNAVAILABLE (never INTERNAL, never a hang past
//! the pool's checkout timeout); after its restart the node serves again within 10 s without
//! being restarted; every acknowledged dossier and order is there; the relay and the consumers
//! resume (the statistics count every acknowledged dossier); every order ends confirmed, and no
//! record is parked for the outage.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::processes::free_port;
use crate::support::{authed, equipment, temp_dir};
use fleuve_proto::homologation::v1 as pb;
use fleuve_proto::order::v1 as order;
use fleuve_proto::statistics::v1 as st;
use tonic::Code;

/// A PostgreSQL cluster in a temporary directory, run as the `postgres` user when the tests
/// run as root (PostgreSQL refuses root), stopped on drop and removed with its directory
/// (kept for a failed test).
pub struct PrivatePostgres {
    dir: crate::support::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb");
        let dir = temp_dir("fleuve-private-pg");
        let pg = PrivatePostgres { dir, bin, port: free_port() };
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&pg.dir).status().unwrap();
            assert!(status.success(), "chown the cluster's directory");
        }
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
        pg.pg_ctl_start();
        let created = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "postgres", "-c", "CREATE DATABASE fleuve"])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/fleuve", self.port)
    }

    /// Runs one of the server's programs, as `postgres` when root.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn pg_ctl_start(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
    }

    /// A crash: no shutdown checkpoint, every backend killed; the next start recovers.
    pub fn stop_immediately(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&path).args(args).output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// What the load saw: acknowledged dossiers and orders, and the codes of the refused calls.
#[derive(Default)]
struct Seen {
    dossiers: Vec<String>,
    orders: Vec<String>,
    refused: Vec<(Code, String)>,
}

async fn channel(port: u16) -> Option<tonic::transport::Channel> {
    tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(8))
        .connect()
        .await
        .ok()
}

/// One round of load: a dossier filed and an order placed.
async fn one_round(port: u16, applicant: &str, n: usize, seen: &mut Seen) {
    let channel = channel(port).await.expect("the node keeps listening whatever its database does");
    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(channel.clone());
    let request = pb::CreateDossierRequest { equipment: Some(equipment("Crash", &format!("PG {n}"))) };
    match dossiers.create_dossier(authed(request, applicant)).await {
        Ok(r) => seen.dossiers.push(r.into_inner().dossier_id),
        Err(status) => seen.refused.push((status.code(), status.message().to_owned())),
    }
    let mut orders = order::order_service_client::OrderServiceClient::new(channel);
    let lines = vec![order::OrderLine { product_id: "sku-pen".into(), quantity: 1, unit_price: 250 }];
    let request = crate::saga::place(&format!("pg-crash-{n}"), lines, "tok_visa");
    match orders.place_order(authed(request, applicant)).await {
        Ok(r) => seen.orders.push(r.into_inner().order.map(|o| o.order_id).unwrap_or_default()),
        Err(status) => seen.refused.push((status.code(), status.message().to_owned())),
    }
}

/// Four rounds at once, each on its own connection; each reports what it saw and how long it took.
fn spawn_rounds(port: u16, applicant: &str, base: usize) -> Vec<tokio::task::JoinHandle<(Seen, Duration)>> {
    (0..4)
        .map(|i| {
            let applicant = applicant.to_owned();
            tokio::spawn(async move {
                let (mut seen, started) = (Seen::default(), Instant::now());
                one_round(port, &applicant, base + i, &mut seen).await;
                (seen, started.elapsed())
            })
        })
        .collect()
}

fn is_terminal(status: order::OrderStatus) -> bool {
    matches!(status, order::OrderStatus::Confirmed | order::OrderStatus::Failed | order::OrderStatus::Cancelled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_crash_costs_availability_only() {
    let pg = tokio::task::block_in_place(PrivatePostgres::start);
    let dir = temp_dir("fleuve-pg-crash");
    let port = free_port();
    let url = pg.url();
    let log = dir.join("dev.log");
    let (_dev, vars) = tokio::task::block_in_place(|| {
        crate::tools::start_dev_with_log(&dir, port, &log, &["--no-edge", "--database-url", &url])
    });
    let (applicant, admin) = (vars["APPLICANT_TOKEN"].clone(), vars["ADMIN_TOKEN"].clone());

    // Load before the crash.
    let mut seen = Seen::default();
    let mut n = 0;
    for _ in 0..10 {
        n += 1;
        one_round(port, &applicant, n, &mut seen).await;
    }
    assert_eq!((seen.dossiers.len(), seen.orders.len()), (10, 10), "before the crash: {:?}", seen.refused);

    // The crash, with calls in flight (they may land either side of it) and more arriving
    // while the database is down (those must be refused).
    let in_flight = spawn_rounds(port, &applicant, 1_000);
    tokio::task::block_in_place(|| pg.stop_immediately());
    let down = Instant::now();
    let while_down = spawn_rounds(port, &applicant, 2_000);
    for (rounds, must_fail) in [(in_flight, false), (while_down, true)] {
        for round in rounds {
            let (outage, took) = round.await.unwrap();
            assert!(took < Duration::from_secs(15), "a round while down took {took:?}");
            if must_fail {
                assert!(outage.dossiers.is_empty() && outage.orders.is_empty(), "accepted while down");
                assert_eq!(outage.refused.len(), 2, "both calls of a round refused");
            }
            seen.dossiers.extend(outage.dossiers);
            seen.orders.extend(outage.orders);
            seen.refused.extend(outage.refused);
        }
    }
    let during_outage = seen.refused.len();
    assert!(during_outage >= 8, "calls while the database is down fail: {:?}", seen.refused);
    for (code, message) in &seen.refused {
        assert_eq!(*code, Code::Unavailable, "while down: {code:?} {message}");
    }
    println!("database down {:?}: {during_outage} calls refused UNAVAILABLE", down.elapsed());

    // The restart: the node serves again within 10 s, without a restart of its own.
    tokio::task::block_in_place(|| pg.pg_ctl_start());
    let restarted = Instant::now();
    loop {
        n += 1;
        let before = (seen.dossiers.len(), seen.orders.len());
        one_round(port, &applicant, n, &mut seen).await;
        if (seen.dossiers.len(), seen.orders.len()) == (before.0 + 1, before.1 + 1) {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "not serving 10 s after the restart: {:?}",
            &seen.refused[during_outage..]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("serving again {:?} after the restart", restarted.elapsed());
    for _ in 0..10 {
        n += 1;
        one_round(port, &applicant, n, &mut seen).await;
    }
    for (code, message) in &seen.refused {
        assert_eq!(*code, Code::Unavailable, "{code:?} {message}");
    }

    // Nothing acknowledged is lost, and everything resumes: every order ends, and the
    // statistics (fed through the relay and the broker) count every acknowledged dossier.
    let channel = channel(port).await.expect("the node");
    let mut queries = pb::homologation_query_service_client::HomologationQueryServiceClient::new(channel.clone());
    for id in &seen.dossiers {
        let found = queries.get_dossier(authed(pb::GetDossierRequest { dossier_id: id.clone() }, &applicant)).await;
        assert!(found.is_ok(), "acknowledged dossier {id} lost: {found:?}");
    }
    let mut orders = order::order_service_client::OrderServiceClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut pending = seen.orders.clone();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let got = orders.get_order(authed(order::GetOrderRequest { order_id: id.clone() }, &applicant)).await;
            let status = got.map(|r| r.into_inner().order.map(|o| o.status()).unwrap_or_default());
            match status {
                Ok(order::OrderStatus::Confirmed) => {}
                Ok(status) if is_terminal(status) => panic!("order {id} ended {status:?}: the outage cost it"),
                Ok(_) => still.push(id),
                Err(status) => panic!("acknowledged order {id} lost: {status:?}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            assert!(Instant::now() < deadline, "orders not ended 90 s after: {pending:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let node_channel = channel.clone();
    let mut statistics = st::statistics_service_client::StatisticsServiceClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let figures =
            statistics.get_statistics(authed(st::GetStatisticsRequest::default(), &admin)).await.unwrap().into_inner();
        let counted = figures.dossiers.map_or(0, |d| d.total) as usize;
        if counted >= seen.dossiers.len() {
            assert_eq!(counted, seen.dossiers.len(), "counted once each");
            break;
        }
        assert!(Instant::now() < deadline, "statistics count {counted} of {} dossiers", seen.dossiers.len());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Nothing was parked for the outage: it was no record's fault.
    let mut operations = fleuve_proto::ops::v1::operations_service_client::OperationsServiceClient::new(node_channel);
    let letters = operations
        .list_dead_letters(authed(fleuve_proto::ops::v1::ListDeadLettersRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert!(letters.is_empty(), "records parked during the outage: {letters:?}");
    println!(
        "{} dossiers and {} orders acknowledged, {} calls refused UNAVAILABLE, none lost; PostgreSQL log {}",
        seen.dossiers.len(),
        seen.orders.len(),
        seen.refused.len(),
        Path::new(&pg.log()).display()
    );
}
