//! Real tools against real processes: grpcurl against the `fleuve dev` binary, `fleuve token`,
//! `fleuve serve` as separate processes on PostgreSQL, and `buf lint` on the contracts.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{fleuve_command, temp_dir};

use crate::processes::{Process, free_port, start_infra, wait_for_port};

/// Finds a tool on PATH or in the test script's tool directory.
pub(crate) fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(tools) = std::env::var_os("FLEUVE_TOOLS") {
        dirs.push(Path::new(&tools).join("node_modules/.bin"));
        dirs.push(Path::new(&tools).join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: scripts/test installs it (or put it on PATH)"))
}

/// Starts `fleuve dev` and reads its banner's `export NAME=value` lines.
pub(crate) fn start_dev(data_dir: &Path, port: u16) -> (Process, HashMap<String, String>) {
    start_dev_logging(data_dir, port, None)
}

/// [`start_dev`] with its JSON logs (stderr) written to `log`.
pub(crate) fn start_dev_logging(data_dir: &Path, port: u16, log: Option<&Path>) -> (Process, HashMap<String, String>) {
    start_dev_with(data_dir, port, log, &["--no-edge"], &[])
}

/// [`start_dev`] with `extra` options and its logs written to `log`.
pub(crate) fn start_dev_with_log(
    data_dir: &Path,
    port: u16,
    log: &Path,
    extra: &[&str],
) -> (Process, HashMap<String, String>) {
    start_dev_with(data_dir, port, Some(log), extra, &[])
}

/// `fleuve dev` with `extra` options (`--no-edge`, or `--edge-listen ADDR` to run its Envoy)
/// and environment variables.
pub(crate) fn start_dev_with_env(
    data_dir: &Path,
    port: u16,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Process, HashMap<String, String>) {
    start_dev_with(data_dir, port, None, extra, env)
}

fn start_dev_with(
    data_dir: &Path,
    port: u16,
    log: Option<&Path>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Process, HashMap<String, String>) {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
        None => Stdio::null(),
    };
    let mut child = fleuve_command()
        .args(["dev", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--registry-listen",
            "127.0.0.1:0",
            "--kafka-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start fleuve dev");
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let mut vars = HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("banner");
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            vars.insert(k.to_owned(), v.to_owned());
        }
        if vars.contains_key("APPLICANT_ORG_ID") {
            break;
        }
    }
    assert!(vars.contains_key("ADMIN_TOKEN"), "fleuve dev printed no tokens");
    (process, vars)
}

fn grpcurl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(tool("grpcurl")).args(args).output().expect("run grpcurl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn grpcurl_lists_describes_and_calls_fleuve_dev() {
    let dir = temp_dir("fleuve-grpcurl");
    let port = free_port();
    let (_dev, vars) = start_dev(&dir, port);
    let addr = format!("127.0.0.1:{port}");

    // The schema registry of the same process answers the Confluent REST API.
    let registry = vars["SCHEMA_REGISTRY_URL"].trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&registry).expect("registry listens");
    std::io::Write::write_all(&mut stream, b"GET /config HTTP/1.1\r\nHost: fleuve\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("BACKWARD_TRANSITIVE"), "{reply}");

    std::net::TcpStream::connect(&vars["KAFKA_BOOTSTRAP_SERVERS"]).expect("the Kafka-API broker listens");

    let (ok, out, err) = grpcurl(&["-plaintext", &addr, "list"]);
    assert!(ok, "{err}");
    for service in [
        "fleuve.identity.v1.IdentityService",
        "fleuve.homologation.v1.DossierService",
        "fleuve.homologation.v1.CertificateService",
        "fleuve.homologation.v1.HomologationQueryService",
        "fleuve.homologation.v1.CertificateRegistryService",
        "grpc.health.v1.Health",
    ] {
        assert!(out.lines().any(|l| l == service), "{service} missing from:\n{out}");
    }

    let (ok, out, err) = grpcurl(&["-plaintext", &addr, "describe", "fleuve.homologation.v1.DossierService"]);
    assert!(ok, "{err}");
    assert!(out.contains("rpc ApproveDossier ( .fleuve.homologation.v1.ApproveDossierRequest )"), "{out}");

    let auth = format!("authorization: Bearer {}", vars["APPLICANT_TOKEN"]);
    let body = r#"{"equipment":{"brand":"Tecno","model":"Spark 20","category":"EQUIPMENT_CATEGORY_MOBILE_TERMINAL","frequency_bands":[{"lower_khz":880000,"upper_khz":960000}]}}"#;
    let (ok, out, err) =
        grpcurl(&["-plaintext", "-H", &auth, "-d", body, &addr, "fleuve.homologation.v1.DossierService/CreateDossier"]);
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["version"], "1");

    // No token: refused. The public registry: no token needed, unknown number is NOT_FOUND.
    let (ok, _, err) =
        grpcurl(&["-plaintext", "-d", body, &addr, "fleuve.homologation.v1.DossierService/CreateDossier"]);
    assert!(!ok && err.contains("Unauthenticated"), "{err}");
    let (ok, _, err) = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"certificate_number":"ARPCE-HOM-2026-999999"}"#,
        &addr,
        "fleuve.homologation.v1.CertificateRegistryService/VerifyCertificate",
    ]);
    assert!(!ok && err.contains("NotFound"), "{err}");

    // `fleuve token` mints a token that this data directory's dev server accepts.
    let token = fleuve_command().args(["token", "--role", "admin", "--data-dir"]).arg(&dir).output().unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap();
    let auth = format!("authorization: Bearer {}", token.trim());
    let (ok, out, err) = grpcurl(&[
        "-plaintext",
        "-H",
        &auth,
        "-d",
        "{}",
        &addr,
        "fleuve.homologation.v1.HomologationQueryService/ListDossiers",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(created["dossierId"].as_str().unwrap()), "{out}");
}

#[test]
fn buf_lint_accepts_the_contracts() {
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let out = Command::new(tool("buf")).arg("lint").current_dir(&proto).output().expect("run buf");
    assert!(
        out.status.success(),
        "buf lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fleuve migrate`, `fleuve infra`, then identity, homologation, statistics and notification
/// as separate `fleuve serve` processes on PostgreSQL and Kafka: the services verify tokens
/// with keys fetched from the identity process, and a command on the homologation process
/// reaches the statistics and notification processes through Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_run_as_separate_processes_on_postgres() {
    let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
    let dir = temp_dir("fleuve-serve");
    let key = dir.join("signing-key.pem");
    let migrate = fleuve_command().args(["migrate", "--database-url", db.url()]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_infra, bus) = tokio::task::block_in_place(start_infra);

    let ports = [free_port(), free_port(), free_port(), free_port()];
    let [identity_port, homologation_port, statistics_port, notification_port] = ports;
    let serve = |service: &str, port: u16| {
        let mut cmd = fleuve_command();
        cmd.args(["serve", service])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FLEUVE_DATABASE_URL", db.url())
            .env("FLEUVE_AUTH__SIGNING_KEY_FILE", &key)
            .env("FLEUVE_AUTH__JWKS_ENDPOINT", format!("http://127.0.0.1:{identity_port}"))
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Process(cmd.spawn().expect("fleuve serve"))
    };
    let _identity = serve("identity", identity_port);
    wait_for_port(identity_port, Duration::from_secs(30));
    let _homologation = serve("homologation", homologation_port);
    let _statistics = serve("statistics", statistics_port);
    let _notification = serve("notification", notification_port);
    for port in [homologation_port, statistics_port, notification_port] {
        wait_for_port(port, Duration::from_secs(60));
    }

    // Seed an admin-created applicant through the identity service, log in, file a dossier.
    use fleuve_proto::{homologation::v1 as pb, identity::v1 as id};
    let identity_channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{identity_port}")).unwrap();
    let identity_channel = identity_channel.connect().await.unwrap();
    let mut identity = id::identity_service_client::IdentityServiceClient::new(identity_channel);
    // The first admin comes from the dev seed on this database (same code as `fleuve dev`).
    let issuer = {
        let signing = fleuve_mesh::auth::SigningKey::load_or_generate(&key).unwrap();
        fleuve_mesh::auth::TokenIssuer::new(signing, &fleuve_mesh::MeshConfig::default().auth)
    };
    let database = fleuve_store::Database::connect(db.url(), 2).unwrap();
    let demo = fleuve_identity::Identity::new(database, issuer).seed_demo().await.unwrap();
    let login = identity
        .login(id::LoginRequest { email: demo.applicant.email.clone(), password: demo.password.into() })
        .await
        .expect("login")
        .into_inner();

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{homologation_port}")).unwrap();
    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(channel.connect().await.unwrap());
    let created = dossiers
        .create_dossier(crate::support::authed(
            pb::CreateDossierRequest { equipment: Some(crate::support::equipment("Alcatel", "1B")) },
            &login.access_token,
        ))
        .await
        .expect("a token from the identity process is accepted by the homologation process")
        .into_inner();
    assert_eq!(created.version, 1);
    let created_id = created.dossier_id;
    let forged = fleuve_mesh::auth::TokenIssuer::new(
        fleuve_mesh::auth::SigningKey::generate(),
        &fleuve_mesh::MeshConfig::default().auth,
    )
    .issue(&demo.applicant.user_id, fleuve_mesh::Role::Applicant, &demo.applicant.organisation_id)
    .unwrap()
    .0;
    let refused = dossiers
        .create_dossier(crate::support::authed(
            pb::CreateDossierRequest { equipment: Some(crate::support::equipment("Alcatel", "1B")) },
            &forged,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // The dossier reaches the statistics process through Kafka.
    let admin = identity
        .login(id::LoginRequest { email: demo.admin.email.clone(), password: demo.password.into() })
        .await
        .expect("admin login")
        .into_inner()
        .access_token;
    use fleuve_proto::statistics::v1 as st;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{statistics_port}")).unwrap();
    let mut statistics = st::statistics_service_client::StatisticsServiceClient::new(channel.connect().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let figures = statistics
            .get_statistics(crate::support::authed(st::GetStatisticsRequest::default(), &admin))
            .await
            .expect("statistics")
            .into_inner();
        if figures.dossiers.as_ref().is_some_and(|d| d.total == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the dossier never reached the statistics process: {figures:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An invoice becomes a "payment due" notification on the notification process.
    let id = created_id;
    for kind in crate::support::MANDATORY {
        dossiers
            .attach_document(crate::support::authed(crate::support::document(&id, kind), &login.access_token))
            .await
            .unwrap();
    }
    dossiers
        .submit_dossier(crate::support::authed(
            pb::SubmitDossierRequest { dossier_id: id.clone(), expected_version: 0 },
            &login.access_token,
        ))
        .await
        .unwrap();
    dossiers
        .invoice_fee(crate::support::authed(
            pb::InvoiceFeeRequest { dossier_id: id.clone(), expected_version: 0 },
            &admin,
        ))
        .await
        .expect("invoice");
    use fleuve_proto::notification::v1 as nt;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{notification_port}")).unwrap();
    let mut notifications =
        nt::notification_service_client::NotificationServiceClient::new(channel.connect().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = notifications
            .list_notifications(crate::support::authed(nt::ListNotificationsRequest::default(), &login.access_token))
            .await
            .expect("notifications")
            .into_inner();
        if list.notifications.iter().any(|n| n.kind.contains("payment_due")) {
            break;
        }
        assert!(Instant::now() < deadline, "no payment-due notification: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 3's first path: a gRPC command on the `fleuve dev` binary becomes an event in the
/// store, the outbox relay publishes it to the in-process Kafka-API broker, and a plain
/// librdkafka consumer decodes it by the schema id the registry resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleuve_dev_publishes_command_events_to_kafka_decodable_by_schema_id() {
    use fleuve_proto::homologation::v1 as pb;
    use prost::Message as _;
    use rdkafka::{
        Message as _,
        consumer::{Consumer, StreamConsumer},
        message::Headers,
    };

    let dir = temp_dir("fleuve-backbone");
    let port = free_port();
    let log = dir.with_extension("log");
    let (_dev, vars) = tokio::task::block_in_place(|| start_dev_logging(&dir, port, Some(&log)));
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    let channel =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await.unwrap();
    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(channel);
    let mut request = crate::support::authed(
        pb::CreateDossierRequest { equipment: Some(crate::support::equipment("Tecno", "Camon 30")) },
        &vars["APPLICANT_TOKEN"],
    );
    request.metadata_mut().insert("x-correlation-id", "e2e-backbone-0001".parse().unwrap());
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
    let id = dossiers.create_dossier(request).await.expect("create").into_inner().dossier_id;

    let bus = fleuve_bus::BusConfig::new(vars["KAFKA_BOOTSTRAP_SERVERS"].clone());
    let guard = ConsumerGuard(Some(bus.consumer_config("e2e-backbone").create().unwrap()));
    let consumer: &StreamConsumer = guard.0.as_ref().unwrap();
    consumer.subscribe(&["homologation.dossier.v1"]).unwrap();
    let record =
        tokio::time::timeout(Duration::from_secs(20), consumer.recv()).await.expect("a record within 20 s").unwrap();

    assert_eq!(record.key(), Some(id.as_bytes()), "keyed by aggregate id");
    let header = |name: &str| -> Option<String> {
        record
            .headers()?
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
    };
    assert_eq!(header("event_type").as_deref(), Some("DossierCreated"));
    assert_eq!(header("aggregate_version").as_deref(), Some("1"));
    assert_eq!(header("correlation_id").as_deref(), Some("e2e-backbone-0001"), "the gRPC correlation id reaches Kafka");
    let traceparent = header("traceparent").expect("a traceparent header");
    assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "the caller's trace reaches Kafka: {traceparent}");

    let (schema_id, indexes, payload) =
        fleuve_bus::decode_confluent(record.payload().unwrap()).expect("confluent framing");
    assert_eq!(indexes, vec![0], "DossierEvent is the first message of events.proto");
    let registry = vars["SCHEMA_REGISTRY_URL"].trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&registry).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("GET /schemas/ids/{schema_id} HTTP/1.1\r\nHost: fleuve\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains("message DossierEvent"), "{reply}");

    let event = pb::DossierEvent::decode(payload).expect("the payload decodes as the registered message");
    match event.event {
        Some(pb::dossier_event::Event::Created(created)) => assert_eq!(created.dossier_id, id),
        other => panic!("expected DossierCreated, got {other:?}"),
    }

    // The projections' consumer spans continue the same trace, with the correlation id.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        let applied: Vec<serde_json::Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["message"] == "event applied" && l["event_id"].is_string())
            .filter(|l| l["correlation_id"] == "e2e-backbone-0001")
            .collect();
        let consumers: std::collections::BTreeSet<String> =
            applied.iter().filter_map(|l| l["consumer"].as_str().map(str::to_owned)).collect();
        if consumers.contains("statistics") && consumers.contains("notification") {
            for line in &applied {
                assert_eq!(line["trace_id"], trace_id, "consumer span in the caller's trace: {line}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "no consumer span logged the event: {consumers:?}\n{logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(log);
}

/// Drops a consumer outside the async workers, also when a failed assertion unwinds: librdkafka
/// blocks while a consumer leaves its group.
struct ConsumerGuard(Option<rdkafka::consumer::StreamConsumer>);

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        let consumer = self.0.take();
        tokio::task::block_in_place(move || drop(consumer));
    }
}

/// The outbox relay killed with SIGKILL while it publishes, three times, under a steady stream
/// of commands: after restarts every stored dossier event has been applied by the statistics
/// process exactly once (one inbox row per event, each dossier's row at its stream's version),
/// whatever the relay republished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_mid_flight_loses_nothing_and_applies_once() {
    use fleuve_proto::homologation::v1 as pb;

    let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
    let dir = temp_dir("fleuve-kill");
    let key = dir.join("signing-key.pem");
    let migrate = fleuve_command().args(["migrate", "--database-url", db.url()]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let (homologation_port, statistics_port) = (free_port(), free_port());
    let jwks = dir.join("jwks.json");
    let issuer = {
        let signing = fleuve_mesh::auth::SigningKey::load_or_generate(&key).unwrap();
        fleuve_mesh::auth::TokenIssuer::new(signing, &fleuve_mesh::MeshConfig::default().auth)
    };
    std::fs::write(&jwks, serde_json::to_string(&issuer.jwks()).unwrap()).unwrap();
    let serve = |service: &str, port: u16| serve_on(service, port, db.url(), &jwks, &bus);
    let _statistics = serve("statistics", statistics_port);
    let mut homologation = serve("homologation", homologation_port);
    for port in [homologation_port, statistics_port] {
        wait_for_port(port, Duration::from_secs(60));
    }
    let database = fleuve_store::Database::connect(db.url(), 4).unwrap();
    let demo = fleuve_identity::Identity::new(database.clone(), issuer.clone()).seed_demo().await.unwrap();
    let token =
        issuer.issue(&demo.applicant.user_id, fleuve_mesh::Role::Applicant, &demo.applicant.organisation_id).unwrap().0;

    // Commands keep coming while the homologation process (and its relay) is killed and restarted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load = {
        let (stop, accepted, token) = (stop.clone(), accepted.clone(), token.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{homologation_port}"))
                    .unwrap()
                    .connect_timeout(Duration::from_millis(200));
                if let Ok(channel) = channel.connect().await {
                    let mut dossiers = pb::dossier_service_client::DossierServiceClient::new(channel);
                    for _ in 0..20 {
                        let request = crate::support::authed(
                            pb::CreateDossierRequest {
                                equipment: Some(crate::support::equipment("Kill", &format!("M{n}"))),
                            },
                            &token,
                        );
                        match dossiers.create_dossier(request).await {
                            Ok(_) => {
                                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            Err(_) => break,
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    for round in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(600 + 250 * round)).await;
        drop(homologation); // SIGKILL, then reaped
        tokio::time::sleep(Duration::from_millis(100)).await;
        homologation = serve("homologation", homologation_port);
        tokio::task::block_in_place(|| wait_for_port(homologation_port, Duration::from_secs(60)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    load.await.unwrap();
    let accepted = accepted.load(std::sync::atomic::Ordering::SeqCst) as i64;
    assert!(accepted > 20, "the load ran: {accepted} commands accepted");

    // Every dossier event in the store is applied once by the statistics process.
    let stored = statistics_caught_up(&database, Duration::from_secs(60)).await;
    assert!(stored >= accepted, "{stored} events stored for {accepted} accepted commands");
    eprintln!("{accepted} commands accepted across 3 relay kills; {stored} events, each applied once");
}

/// Waits (up to `within`) until the statistics projection has applied every stored dossier
/// event once (one inbox row each) and nothing waits in the outbox, then checks that each
/// dossier's statistics row is at its stream's version: every event applied, in order (the
/// projection parks a gap). Returns the number of events stored.
pub(crate) async fn statistics_caught_up(database: &fleuve_store::Database, within: Duration) -> i64 {
    use diesel::prelude::*;
    use fleuve_store::schema::{events, inbox, streams};

    let deadline = Instant::now() + within;
    let stored = loop {
        let (stored, applied, pending) = database
            .run(|conn| {
                let stored: i64 =
                    events::table.filter(events::aggregate_type.eq("dossier")).count().get_result(conn)?;
                let applied: i64 = inbox::table.filter(inbox::consumer.eq("statistics")).count().get_result(conn)?;
                let (pending, _) = fleuve_store::event_store::outbox_backlog(conn)?;
                Ok::<_, fleuve_store::StoreError>((stored, applied, pending))
            })
            .await
            .unwrap();
        if stored == applied && pending == 0 {
            break stored;
        }
        assert!(Instant::now() < deadline, "{applied} of {stored} events applied, {pending} unpublished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let versions: Vec<(String, i64)> = database
        .run(|conn| {
            streams::table
                .filter(streams::aggregate_type.eq("dossier"))
                .select((streams::stream_id, streams::version))
                .load(conn)
                .map_err(fleuve_store::StoreError::from)
        })
        .await
        .unwrap();
    let rows = database.run(|conn| fleuve_statistics::StatisticsProjection::live().rows(conn)).await.unwrap();
    assert_eq!(rows.len(), versions.len(), "one statistics row per dossier");
    let by_dossier: HashMap<String, i64> =
        rows.iter().map(|r| (format!("dossier-{}", r.dossier_id), r.version)).collect();
    for (stream, version) in &versions {
        assert_eq!(by_dossier.get(stream), Some(version), "statistics of {stream} at its stream's version");
    }
    stored
}

/// `fleuve serve SERVICE` on `port`, on `database_url`, verifying tokens with the keys of
/// `jwks`, on the bus `fleuve infra` printed (`bus`); its output discarded.
pub(crate) fn serve_on(
    service: &str,
    port: u16,
    database_url: &str,
    jwks: &Path,
    bus: &HashMap<String, String>,
) -> Process {
    let mut cmd = fleuve_command();
    cmd.args(["serve", service])
        .env("FLEUVE_LISTEN", format!("127.0.0.1:{port}"))
        .env("FLEUVE_DATABASE_URL", database_url)
        .env("FLEUVE_AUTH__JWKS_FILE", jwks)
        .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
        .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Process(cmd.spawn().expect("fleuve serve"))
}
