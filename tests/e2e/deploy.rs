//! The deployment files — `Dockerfile`, `docker-compose.yml`, `helm/fleuve` — checked by the
//! real tools that run here (Helm's Go SDK, kubernetes-validate, checkov, hadolint, the compose
//! spec, promtool), and their configuration exercised: every `fleuve` container the chart and
//! the compose file define is started as a local `fleuve serve` (or `fleuve migrate`) process
//! with exactly that container's arguments and environment, its service host names mapped to
//! this machine's PostgreSQL and Redis and a `fleuve infra`, behind an Envoy running the edge
//! configuration the same file gives; then a dossier's life and an order go through the edge.
//! A wrong key, a missing variable or a mistyped host name fails here.
//!
//! The tools are PyPI packages in `$FLEUVE_TOOLS/deploy-venv` (scripts/test installs them);
//! `tests/deploy/deploy.py` renders the chart and reads the compose file.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fleuve_mesh::Role;
use fleuve_proto::{
    billing::v1 as billing, homologation::v1 as pb, identity::v1 as id, order::v1 as order, stock::v1 as stock,
};
use tonic::transport::Channel;

use crate::processes::{Process, free_port, start_infra, wait_for_port};
use crate::support::{Parties, authed, fleuve_binary, temp_dir};
use crate::tools::tool;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program of the deployment tools' virtualenv.
fn deploy_tool(name: &str) -> PathBuf {
    let tools = std::env::var_os("FLEUVE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/fleuve/tools"));
    let path = tools.join("deploy-venv/bin").join(name);
    assert!(path.is_file(), "{} is not installed: scripts/test installs the deployment tools", path.display());
    path
}

/// Runs a command; its status and its output (stdout then stderr) without Helm's notes about
/// the chart's symbolic links. checkov is kept from asking its vendor's API for guidelines
/// (there is no internet here).
fn run(command: &mut Command) -> (bool, String) {
    let out = command.env("BC_SKIP_MAPPING", "TRUE").output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let text: Vec<&str> = text.lines().filter(|l| !l.contains("found symbolic link in path")).collect();
    (out.status.success(), text.join("\n"))
}

/// `tests/deploy/deploy.py ARGS`: its standard output; a failure panics with its errors.
fn deploy_py(args: &[&str]) -> String {
    let out = Command::new(deploy_tool("python"))
        .arg(root().join("tests/deploy/deploy.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run deploy.py");
    let errors: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("found symbolic link in path"))
        .map(str::to_owned)
        .collect();
    assert!(out.status.success(), "deploy.py {args:?} failed:\n{}", errors.join("\n"));
    String::from_utf8(out.stdout).unwrap()
}

/// The values files the chart is checked with: its defaults, and the two of `ci/`.
const VALUES: [(&str, &str); 3] = [
    ("default", "-"),
    ("minimal", "helm/fleuve/ci/minimal-values.yaml"),
    ("production", "helm/fleuve/ci/production-values.yaml"),
];

fn render_all(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    VALUES
        .iter()
        .map(|(name, values)| {
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, deploy_py(&["render", values])).unwrap();
            (*name, path)
        })
        .collect()
}

/// `helm lint --strict`, then each render against the Kubernetes schemas of two versions with
/// `kubernetes-validate --strict`; a misspelt field is caught; the install hooks use nothing
/// created after them; values.schema.json refuses values of the wrong type.
#[test]
fn the_chart_lints_and_its_renders_meet_two_kubernetes_versions() {
    let dir = temp_dir("fleuve-helm");
    deploy_py(&["lint"]);
    for (name, rendered) in render_all(&dir) {
        for version in ["1.31.0", "1.34.0"] {
            let (ok, out) =
                run(Command::new(deploy_tool("kubernetes-validate")).args(["--strict", "-k", version]).arg(&rendered));
            assert!(ok && !out.contains("ERROR"), "{name} on Kubernetes {version}:\n{out}");
        }
    }
    // The validator is not asleep: a misspelt field fails it.
    let text = std::fs::read_to_string(dir.join("default.yaml")).unwrap();
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, text.replacen("containerPort:", "containerPorts:", 1)).unwrap();
    let (ok, out) =
        run(Command::new(deploy_tool("kubernetes-validate")).args(["--strict", "-k", "1.31.0"]).arg(&broken));
    assert!(!ok && out.contains("did not validate for resource deployment"), "a misspelt field passed:\n{out}");

    // On install the migration hooks run before the release's other objects exist: they may
    // use only earlier hooks (the chart's first version named its ServiceAccount and would
    // have waited for ever).
    let values: Vec<&str> = VALUES.iter().map(|(_, v)| *v).collect();
    let checked = deploy_py(&[&["hooks"], values.as_slice()].concat());
    let jobs: Vec<usize> = checked
        .lines()
        .filter(|l| l.contains("pre-install hook jobs"))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(jobs, [4, 4, 4], "one migration hook per database in each render: {checked}");

    let refused = deploy_py(&["schema-rejects"]);
    assert_eq!(refused.lines().filter(|l| l.starts_with("refused")).count(), 6, "{refused}");
}

/// checkov on every render (the accepted exceptions, each with its reason, are
/// helm/fleuve/checkov.yaml) and on the Dockerfile; hadolint on the Dockerfile (its one
/// accepted rule is in .hadolint.yaml). The production values pin every image by digest.
#[test]
fn checkov_and_hadolint_accept_the_chart_and_the_image() {
    let dir = temp_dir("fleuve-checkov");
    let config = root().join("helm/fleuve/checkov.yaml");
    for (name, rendered) in render_all(&dir) {
        let (ok, out) =
            run(Command::new(deploy_tool("checkov")).arg("--config-file").arg(&config).arg("-f").arg(&rendered));
        assert!(ok && out.contains("Failed checks: 0"), "checkov on the {name} render:\n{out}");
        if name == "production" {
            let text = std::fs::read_to_string(&rendered).unwrap();
            let images: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("image:")).collect();
            assert!(!images.is_empty() && images.iter().all(|l| l.contains("@sha256:")), "{images:?}");
        }
    }
    // Without the chart's security settings, checkov fails: the exceptions are not a blanket.
    let insecure = dir.join("insecure-values.yaml");
    std::fs::write(
        &insecure,
        "podSecurityContext: {runAsNonRoot: false, runAsUser: 0}\n\
         securityContext: {allowPrivilegeEscalation: true, readOnlyRootFilesystem: false}\n",
    )
    .unwrap();
    let rendered = dir.join("insecure.yaml");
    std::fs::write(&rendered, deploy_py(&["render", insecure.to_str().unwrap()])).unwrap();
    let (ok, out) =
        run(Command::new(deploy_tool("checkov")).arg("--config-file").arg(&config).arg("-f").arg(&rendered));
    for check in ["CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23"] {
        assert!(!ok && out.contains(check), "checkov passed a chart without its security context ({check}):\n{out}");
    }

    let dockerfile = root().join("Dockerfile");
    let (ok, out) = run(Command::new(deploy_tool("checkov"))
        .args(["--framework", "dockerfile", "--compact", "--quiet", "-f"])
        .arg(&dockerfile));
    assert!(ok, "checkov on the Dockerfile:\n{out}");
    let (ok, out) =
        run(Command::new(deploy_tool("hadolint")).arg("--config").arg(root().join(".hadolint.yaml")).arg(&dockerfile));
    assert!(ok, "hadolint:\n{out}");
    // Without the exception, DL3008 and nothing else (hadolint would find .hadolint.yaml in
    // the working directory: it is given a configuration that ignores nothing).
    let strict = dir.join("hadolint-strict.yaml");
    std::fs::write(&strict, "ignored: []\n").unwrap();
    let (ok, out) =
        run(Command::new(deploy_tool("hadolint")).arg("--no-color").arg("--config").arg(&strict).arg(&dockerfile));
    assert!(!ok && out.contains("DL3008") && out.lines().all(|l| l.contains("DL3008")), "{out}");
}

/// The compose file against the compose specification (check-jsonschema's and PyPI
/// compose-spec's), its dependencies, health checks, secrets and mounts, and what it mounts:
/// Prometheus's configuration and rules (promtool), the collector's pipelines and Grafana's
/// provisioning, each naming services the compose file defines.
#[test]
fn the_compose_file_and_what_it_mounts_validate() {
    let compose = root().join("docker-compose.yml");
    let env = root().join(".env.example");
    let (ok, out) = run(Command::new(deploy_tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(&compose)
        .env("POSTGRES_PASSWORD", "x"));
    assert!(ok, "check-jsonschema:\n{out}");
    let checked = deploy_py(&["compose-validate", env.to_str().unwrap()]);
    assert!(checked.contains("services: compose spec valid"), "{checked}");
    deploy_py(&["compose-files", env.to_str().unwrap()]);
    let (ok, out) = run(Command::new(tool("promtool"))
        .args(["check", "config"])
        .arg(root().join("deploy/prometheus/prometheus.yml")));
    assert!(ok, "promtool check config:\n{out}");
}

/// Where the deployment's host names lead on this machine.
struct Hosts {
    /// `(host, port)` of the deployment → a port on 127.0.0.1.
    table: HashMap<(String, u16), u16>,
    /// Database name of the deployment → this test's database URL.
    databases: HashMap<String, String>,
    /// The PostgreSQL host of the deployment.
    postgres: (String, u16),
    /// A path inside a container → the local file holding its content.
    files: HashMap<String, PathBuf>,
}

impl Hosts {
    /// `host:port` of the deployment on this machine: a listen address (0.0.0.0) becomes the
    /// container's own port in `own`; any other host must be one the deployment defines.
    fn endpoint(&self, host: &str, port: u16, own: &HashMap<u16, u16>, what: &str) -> u16 {
        if matches!(host, "0.0.0.0" | "::" | "[::]" | "127.0.0.1") {
            return *own.get(&port).unwrap_or_else(|| panic!("{what}: nothing to listen on for port {port}"));
        }
        *self
            .table
            .get(&(host.to_owned(), port))
            .unwrap_or_else(|| panic!("{what}: {host}:{port} is no host of the deployment (a mistyped name?)"))
    }

    /// One variable's value with its hosts and paths mapped.
    fn value(&self, key: &str, value: &str, own: &HashMap<u16, u16>) -> String {
        if let Some(local) = self.files.get(value) {
            return local.display().to_string();
        }
        if key == "FLEUVE_DATABASE_URL" {
            let rest = value.strip_prefix("postgres://").unwrap_or_else(|| panic!("{key}={value}: not postgres://"));
            let (authority, path) = rest.split_once('/').unwrap_or_else(|| panic!("{key}={value}: no database"));
            let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
            assert_eq!(
                (host.to_owned(), port.parse::<u16>().unwrap()),
                self.postgres,
                "{key}={value}: not the database host"
            );
            let (name, query) = path.split_once('?').map_or((path, String::new()), |(n, q)| (n, format!("?{q}")));
            let local = self.databases.get(name).unwrap_or_else(|| panic!("{key}={value}: no database {name} here"));
            // The deployment's user: this machine's trust authentication takes the test's.
            return format!("{local}{query}");
        }
        value
            .split(',')
            .map(|token| {
                let (scheme, rest) = token.split_once("://").map_or(("", token), |(s, r)| (s, r));
                let (userinfo, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
                let end = rest.find('/').unwrap_or(rest.len());
                let (authority, tail) = rest.split_at(end);
                match authority.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() && !host.contains(' ') => {
                        let local = self.endpoint(host, port.parse().unwrap(), own, &format!("{key}={value}"));
                        let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
                        let userinfo = if userinfo.is_empty() { String::new() } else { format!("{userinfo}@") };
                        format!("{scheme}{userinfo}127.0.0.1:{local}{tail}")
                    }
                    _ => token.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A `fleuve` container of the deployment as tests/deploy/deploy.py reads it.
#[derive(Debug, serde::Deserialize)]
struct Container {
    name: String,
    kind: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    files: BTreeMap<String, serde_json::Value>,
    /// The host names and ports that lead to it (the Services selecting its pod; the compose
    /// service's name), with the container port each reaches.
    #[serde(default)]
    services: Vec<ServicePort>,
    /// Kubernetes' probes (the chart).
    #[serde(default)]
    probes: serde_json::Map<String, serde_json::Value>,
    /// Docker's health check (the compose file).
    #[serde(default)]
    healthcheck: Option<Vec<String>>,
}

#[derive(Debug, serde::Deserialize)]
struct ServicePort {
    name: String,
    port: u16,
    target: u16,
}

/// Writes a mounted file's content (`{"from_file"}`, `{"from_env"}`, `{"base64"}` or the text)
/// under `dir`.
fn materialize(dir: &Path, path: &str, content: &serde_json::Value, env: &HashMap<String, String>) -> PathBuf {
    let local = dir.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    let bytes = match content {
        serde_json::Value::String(text) => text.clone().into_bytes(),
        serde_json::Value::Object(o) if o.contains_key("from_file") => {
            let source = o["from_file"].as_str().unwrap();
            std::fs::read(source).unwrap_or_else(|e| panic!("{path} is mounted from {source}: {e}"))
        }
        serde_json::Value::Object(o) if o.contains_key("from_env") => {
            env[o["from_env"].as_str().unwrap()].clone().into_bytes()
        }
        serde_json::Value::Object(o) if o.contains_key("base64") => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(o["base64"].as_str().unwrap()).unwrap()
        }
        other => panic!("{path}: unknown content {other}"),
    };
    std::fs::write(&local, bytes).unwrap();
    local
}

/// The demo users, signed in through the edge.
struct Deployed {
    channel: Channel,
    tokens: HashMap<Role, String>,
    reviewer_id: String,
}

impl Parties for Deployed {
    fn token(&self, role: Role) -> String {
        self.tokens[&role].clone()
    }
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
    fn reviewer_id(&self) -> String {
        self.reviewer_id.clone()
    }
}

/// Waits for `/readyz` of the admin server on `port`; the time since `started`. A process that
/// exits fails at once, with its log.
async fn ready_after(name: &str, process: &mut Process, port: u16, started: Instant, log: &Path) -> Duration {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            panic!("{name} exited ({status}); its log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        if let Ok(answer) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await
            && answer.status().is_success()
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{name} never became ready; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the deployment of `source` (`helm:VALUES` or `compose:ENVFILE`) on this machine and
/// runs a dossier's life and an order through its edge. `infra_hosts` are the host names the
/// deployment gives PostgreSQL, Kafka, the registry and Redis; `elsewhere` the hosts it names
/// that have no server here (the collector, the SMTP relay): they get a port nothing listens
/// on, as in an install without them. With `browser`, an admin also uses the console's
/// operations page through that edge in Chromium. Returns how many services logged in CLEF,
/// each line checked as Seq's GELF input reads it.
async fn run_deployment(
    source: &str,
    postgres: (&str, u16),
    kafka: (&str, u16),
    registry: (&str, u16),
    redis: (&str, u16),
    elsewhere: &[(&str, u16)],
    browser: bool,
) -> usize {
    let dir = temp_dir("fleuve-deployed");
    let containers: Vec<Container> = serde_json::from_str(&deploy_py(&["containers", source])).unwrap();
    let edge: serde_json::Value = serde_json::from_str(&deploy_py(&["edge", source])).unwrap();
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let local_port = |address: &str| address.rsplit(':').next().unwrap().trim_end_matches('/').parse::<u16>().unwrap();

    // One scratch database per database the migration jobs name.
    let mut databases = HashMap::new();
    let mut scratch = Vec::new();
    for job in containers.iter().filter(|c| c.kind == "Job") {
        let url = &job.env["FLEUVE_DATABASE_URL"];
        let name = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
        databases.insert(name, db.url().to_owned());
        scratch.push(db);
    }
    let mut hosts = Hosts {
        table: HashMap::new(),
        databases,
        postgres: (postgres.0.to_owned(), postgres.1),
        files: HashMap::new(),
    };
    hosts.table.insert((postgres.0.into(), postgres.1), 5432);
    hosts.table.insert((kafka.0.into(), kafka.1), local_port(&bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"]));
    hosts.table.insert((registry.0.into(), registry.1), local_port(&bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"]));
    hosts.table.insert((redis.0.into(), redis.1), 6379);
    for (host, port) in elsewhere {
        hosts.table.insert(((*host).into(), *port), free_port());
    }
    // Each container's own ports: gRPC 50051 and admin 9464 inside it (a job listens on
    // neither, but its image sets them).
    let mut own: HashMap<String, HashMap<u16, u16>> = HashMap::new();
    for container in &containers {
        let ports = HashMap::from([(50051, free_port()), (9464, free_port())]);
        for service in &container.services {
            let local = *ports.get(&service.target).unwrap_or_else(|| {
                panic!(
                    "{} reaches {} on port {}, which it does not serve",
                    service.name, container.name, service.target
                )
            });
            hosts.table.insert((service.name.clone(), service.port), local);
        }
        own.insert(container.name.clone(), ports);
    }
    let process_env: HashMap<String, String> = std::env::vars().collect();
    for container in &containers {
        for (path, content) in &container.files {
            let local = materialize(&dir.join("files").join(&container.name), path, content, &process_env);
            hosts.files.insert(path.clone(), local);
        }
    }

    // A container's process: its arguments, and its environment mapped and nothing else.
    let spawn = |container: &Container| -> (Command, PathBuf) {
        let ports = own.get(&container.name).cloned().unwrap_or_default();
        let mut command = Command::new(fleuve_binary());
        command.args(&container.args).env_clear();
        for (key, value) in &container.env {
            command.env(key, hosts.value(key, value, &ports));
        }
        let log = dir.join(format!("{}.log", container.name));
        command.stdout(Stdio::null()).stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        (command, log)
    };

    // The migration jobs, then the services: identity first (the others fetch its keys).
    for job in containers.iter().filter(|c| c.kind == "Job") {
        let (mut command, log) = spawn(job);
        let status = command.status().unwrap();
        assert!(status.success(), "{}: {}", job.name, std::fs::read_to_string(log).unwrap_or_default());
    }
    let mut services: Vec<&Container> = containers.iter().filter(|c| c.kind == "Deployment").collect();
    services.sort_by_key(|c| !c.args.iter().any(|a| a == "identity"));
    let mut running = Vec::new();
    let mut ready = Vec::new();
    for service in &services {
        let (mut command, log) = spawn(service);
        let started = Instant::now();
        let mut process = Process(command.spawn().unwrap());
        let admin = own[&service.name][&9464];
        ready.push((service.name.clone(), ready_after(&service.name, &mut process, admin, started, &log).await));
        running.push(process);
    }
    for (name, elapsed) in &ready {
        println!("start-up to ready: {name} {} ms", elapsed.as_millis());
    }

    // The edge: the deployment's own Envoy configuration, hosts and mounted files mapped.
    let mut config = edge["config"].clone();
    let mut edge_files = HashMap::new();
    for (path, content) in edge["files"].as_object().unwrap() {
        edge_files.insert(path.clone(), materialize(&dir.join("files/edge"), path, content, &process_env));
    }
    let mut edge_own = HashMap::new();
    let (listen, admin) = (free_port(), free_port());
    edge_own.insert(8080, listen);
    edge_own.insert(9901, admin);
    map_envoy(&mut config, &hosts, &edge_own, &edge_files);
    let config_path = dir.join("envoy.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let envoy = Command::new(tool("envoy"))
        .args(["--concurrency", "1", "--use-dynamic-base-id", "-l", "warning", "--log-path"])
        .arg(dir.join("envoy.log"))
        .arg("-c")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start envoy");
    let _envoy = Process(envoy);
    wait_for_port(listen, Duration::from_secs(30));
    let channel = Channel::from_shared(format!("http://127.0.0.1:{listen}")).unwrap().connect_lazy();

    // Each container's health check as its orchestrator runs it: Docker's command (compose),
    // the kubelet's gRPC and HTTP probes (the chart), against the running processes.
    for service in &services {
        check_health(&service.name, service.healthcheck.as_deref(), &service.probes, &hosts, &own[&service.name]).await;
    }
    let edge_probes = edge["probes"].as_object().cloned().unwrap_or_default();
    let edge_check: Option<Vec<String>> = serde_json::from_value(edge["healthcheck"].clone()).unwrap_or(None);
    check_health("edge", edge_check.as_deref(), &edge_probes, &hosts, &edge_own).await;

    // The demo users on the identity service's database, signed in through the edge.
    let identity = services.iter().find(|c| c.args.iter().any(|a| a == "identity")).unwrap();
    let database = hosts.value("FLEUVE_DATABASE_URL", &identity.env["FLEUVE_DATABASE_URL"], &HashMap::new());
    let key = hosts.files[&identity.env["FLEUVE_AUTH__SIGNING_KEY_FILE"]].clone();
    let issuer = fleuve_mesh::auth::TokenIssuer::new(
        fleuve_mesh::auth::SigningKey::load_or_generate(&key).expect("the deployment's signing key"),
        &fleuve_mesh::MeshConfig::default().auth,
    );
    let demo = fleuve_identity::Identity::new(fleuve_store::Database::connect(&database, 2).unwrap(), issuer)
        .seed_demo()
        .await
        .unwrap();
    let mut tokens = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (role, user) in
        [(Role::Applicant, &demo.applicant), (Role::Reviewer, &demo.reviewer), (Role::Admin, &demo.admin)]
    {
        let token = loop {
            let login = id::identity_service_client::IdentityServiceClient::new(channel.clone())
                .login(id::LoginRequest { email: user.email.clone(), password: demo.password.into() })
                .await;
            match login {
                Ok(answer) => break answer.into_inner().access_token,
                Err(status) => {
                    assert!(Instant::now() < deadline, "no login through the edge: {status}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        tokens.insert(role, token);
    }
    let parties = Deployed { channel: channel.clone(), tokens, reviewer_id: demo.reviewer.user_id.clone() };
    until_every_service_routes(&parties).await;

    // Identity publishes its signing key and every key the deployment lists as retired.
    let retired = containers
        .iter()
        .find(|c| c.env.contains_key("FLEUVE_AUTH__SIGNING_KEY_FILE"))
        .and_then(|c| c.env.get("FLEUVE_AUTH__RETIRED_KEY_FILES"))
        .map_or(0, |files| files.split(',').filter(|f| !f.is_empty()).count());
    let jwks = id::identity_service_client::IdentityServiceClient::new(channel.clone())
        .get_jwks(id::GetJwksRequest {})
        .await
        .expect("the published keys")
        .into_inner();
    assert_eq!(jwks.keys.len(), 1 + retired, "the signing key and {retired} retired: {jwks:?}");

    // A dossier's life: filed, reviewed, approved; its certificate verified by anyone once the
    // registry projection (Kafka) has it, through the Redis cache.
    let dossier_id = crate::support::approved_dossier(&parties, "Tecno", "Spark 20").await;
    let dossier = pb::homologation_query_service_client::HomologationQueryServiceClient::new(channel.clone())
        .get_dossier(authed(pb::GetDossierRequest { dossier_id }, &parties.token(Role::Applicant)))
        .await
        .expect("the approved dossier")
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(dossier.status, pb::DossierStatus::Approved as i32);
    let mut registry = pb::certificate_registry_service_client::CertificateRegistryServiceClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = registry
            .verify_certificate(pb::VerifyCertificateRequest { certificate_number: dossier.certificate_number.clone() })
            .await;
        if answer.as_ref().is_ok_and(|a| a.get_ref().valid) {
            break;
        }
        assert!(Instant::now() < deadline, "certificate {} never verified: {answer:?}", dossier.certificate_number);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An order: stock reserved, payment charged, the saga confirms it.
    let admin = parties.token(Role::Admin);
    stock::stock_service_client::StockServiceClient::new(channel.clone())
        .create_product(authed(
            stock::CreateProductRequest {
                product_id: "sku-sim".into(),
                name: "SIM card".into(),
                quantity: 10,
                price: None,
            },
            &admin,
        ))
        .await
        .expect("CreateProduct");
    billing::billing_service_client::BillingServiceClient::new(channel.clone())
        .open_account(authed(
            billing::OpenAccountRequest {
                customer_id: demo.applicant.user_id.clone(),
                currency: "XAF".into(),
                credit_limit: 0,
                opening_balance: 100_000,
            },
            &admin,
        ))
        .await
        .expect("OpenAccount");
    let applicant = parties.token(Role::Applicant);
    let mut orders = order::order_service_client::OrderServiceClient::new(channel.clone());
    let placed = orders
        .place_order(authed(
            order::PlaceOrderRequest {
                idempotency_key: "deployed-order-1".into(),
                customer_id: String::new(),
                lines: vec![order::OrderLine { product_id: "sku-sim".into(), quantity: 2, unit_price: 1500 }],
                currency: "XAF".into(),
                payment_token: "tok_visa".into(),
            },
            &applicant,
        ))
        .await
        .expect("PlaceOrder")
        .into_inner()
        .order
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let current = orders
            .get_order(authed(order::GetOrderRequest { order_id: placed.order_id.clone() }, &applicant))
            .await
            .expect("GetOrder")
            .into_inner()
            .order
            .unwrap();
        if current.status() == order::OrderStatus::Confirmed {
            break;
        }
        assert!(
            Instant::now() < deadline && current.status() != order::OrderStatus::Failed,
            "the order never confirmed: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The operations API of each service through the edge (grpc-web, as the console's
    // operations page calls it), chosen by the x-fleuve-node header: each answers with its own
    // consumers.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let edge_url = format!("http://127.0.0.1:{listen}");
    let consumers = [("order", "order-saga"), ("stock", "stock"), ("billing", "billing"), ("statistics", "statistics")];
    for (node, consumer) in consumers {
        let reply = crate::grpc_web::call(
            &http,
            &edge_url,
            "/fleuve.ops.v1.OperationsService/ListProjections",
            &fleuve_proto::ops::v1::ListProjectionsRequest {},
            Some(&admin),
            crate::grpc_web::Format::Binary,
            &[(fleuve_gateway::envoy::NODE_HEADER, node)],
        )
        .await;
        assert_eq!(reply.grpc_status(), Some(0), "{node}: {reply:?}");
        let listed: fleuve_proto::ops::v1::ListProjectionsResponse = reply.message(0);
        let names: Vec<&str> = listed.projections.iter().map(|p| p.name.as_str()).collect();
        let others = consumers.iter().filter(|(n, _)| *n != node).any(|(_, c)| names.contains(c));
        assert!(names.contains(&consumer) && !others, "{node} answered with {names:?}");
    }
    if browser {
        // The console through this edge: an admin's operations page, service by service.
        let console = format!("{edge_url}/console/");
        let seen = tokio::task::block_in_place(|| {
            crate::console::run_browser(
                "operations-edge.mjs",
                &[("CONSOLE", &console), ("ADMIN_EMAIL", &demo.admin.email), ("PASSWORD", demo.password)],
                |action| panic!("unexpected {action}"),
            )
        });
        for (node, consumer) in consumers {
            let shown: Vec<&str> = seen["nodes"][node].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
            let others = consumers.iter().filter(|(n, _)| *n != node).any(|(_, c)| shown.contains(c));
            assert!(shown.contains(&consumer) && !others, "the page for {node} showed {shown:?}");
        }
        // (axe-core's serious and critical violations fail the script itself.)
        assert_eq!(seen["problems"], serde_json::json!([]), "the page's errors: {seen}");
    }
    drop(running);
    drop(scratch);
    // What the services wrote, as the deployment ships it.
    let mut clef = 0;
    for service in &services {
        let lines = std::fs::read_to_string(dir.join(format!("{}.log", service.name))).unwrap();
        assert!(!lines.is_empty(), "{} logged nothing", service.name);
        if service.env.get("FLEUVE_LOG__FORMAT").map(String::as_str) == Some("clef") {
            for line in lines.lines() {
                assert_seq_reads_as_clef(&service.name, line);
            }
            clef += 1;
        }
    }
    clef
}

/// A line as Seq's GELF input (datalust/seq-input-gelf) takes a message: a JSON object is a CLEF
/// event whose `@t` must be RFC 3339; Seq shows `@l` as the level and `@m` as the text.
fn assert_seq_reads_as_clef(service: &str, line: &str) {
    assert!(line.starts_with('{'), "{service}: not a JSON object: {line}");
    let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{service}: {e}: {line}"));
    let time = event["@t"].as_str().unwrap_or_else(|| panic!("{service}: no @t: {line}"));
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'), "{service}: @t {time}");
    let level = event["@l"].as_str().unwrap_or_default();
    assert!(["Verbose", "Debug", "Information", "Warning", "Error"].contains(&level), "{service}: @l {level}: {line}");
    assert!(event["@m"].is_string(), "{service}: no @m: {line}");
    assert!(event.get("timestamp").is_none() && event.get("level").is_none(), "{service}: {line}");
}

/// Runs a container's health check: a Docker `CMD` (the `fleuve` binary, or `bash -c` with
/// its loopback address mapped), or the kubelet's probes (gRPC health as `fleuve health`
/// asks it, HTTP GET). Each must pass against the running process.
async fn check_health(
    name: &str,
    docker: Option<&[String]>,
    probes: &serde_json::Map<String, serde_json::Value>,
    hosts: &Hosts,
    own: &HashMap<u16, u16>,
) {
    let mut checked = 0;
    if let Some(test) = docker {
        assert_eq!(test.first().map(String::as_str), Some("CMD"), "{name}: health check {test:?}");
        let mut command = match test[1].as_str() {
            "/usr/local/bin/fleuve" => {
                let mut command = Command::new(fleuve_binary());
                command.env_clear().args(test[2..].iter().map(|a| hosts.value("healthcheck", a, own)));
                command
            }
            "bash" => {
                let mut script = test[3].clone();
                for (port, local) in own {
                    script = script.replace(&format!("127.0.0.1/{port}"), &format!("127.0.0.1/{local}"));
                }
                let mut command = Command::new("bash");
                command.args(["-c", &script]);
                command
            }
            other => panic!("{name}: a health check with {other}, which this test does not run"),
        };
        let (ok, out) = tokio::task::block_in_place(|| run(&mut command));
        assert!(ok, "{name}: health check {test:?} failed: {out}");
        checked += 1;
    }
    for (kind, probe) in probes {
        if let Some(grpc) = probe.get("grpc") {
            let port = own[&(grpc["port"].as_u64().unwrap() as u16)];
            let mut command = Command::new(fleuve_binary());
            command.env_clear().args(["health", "--addr", &format!("127.0.0.1:{port}")]);
            let (ok, out) = tokio::task::block_in_place(|| run(&mut command));
            assert!(ok, "{name}: {kind} (gRPC) failed: {out}");
        } else if let Some(http) = probe.get("httpGet") {
            let port = match &http["port"] {
                serde_json::Value::Number(n) => own[&(n.as_u64().unwrap() as u16)],
                // The edge's only named port: `http`, its listener.
                _ => own[&8080],
            };
            let url = format!("http://127.0.0.1:{port}{}", http["path"].as_str().unwrap());
            let status = reqwest::get(&url).await.map(|r| r.status().as_u16());
            assert!(matches!(status, Ok(200..=399)), "{name}: {kind} {url}: {status:?}");
        } else {
            panic!("{name}: {kind} {probe}: a probe this test does not run");
        }
        checked += 1;
    }
    assert!(checked > 0, "{name} has no health check");
}

/// Maps every `socket_address` of an Envoy configuration (listeners, admin, clusters) and every
/// path of a mounted file to this machine.
fn map_envoy(value: &mut serde_json::Value, hosts: &Hosts, own: &HashMap<u16, u16>, files: &HashMap<String, PathBuf>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(address) = map.get_mut("socket_address") {
                let host = address["address"].as_str().unwrap().to_owned();
                let port = address["port_value"].as_u64().unwrap() as u16;
                let local = hosts.endpoint(&host, port, own, "the edge's configuration");
                address["address"] = "127.0.0.1".into();
                address["port_value"] = local.into();
            }
            for child in map.values_mut() {
                map_envoy(child, hosts, own, files);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|item| map_envoy(item, hosts, own, files)),
        serde_json::Value::String(text) => {
            if let Some(local) = files.get(text.as_str()) {
                *text = local.display().to_string();
            }
        }
        _ => {}
    }
}

/// Waits until the edge routes a signed-in call to each service (its health checks passed).
async fn until_every_service_routes(parties: &Deployed) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let admin = parties.token(Role::Admin);
    loop {
        let channel = parties.channel();
        let calls = [
            stock::stock_service_client::StockServiceClient::new(channel.clone())
                .list_products(authed(stock::ListProductsRequest::default(), &admin))
                .await
                .err(),
            order::order_service_client::OrderServiceClient::new(channel.clone())
                .list_orders(authed(order::ListOrdersRequest::default(), &admin))
                .await
                .err(),
            pb::homologation_query_service_client::HomologationQueryServiceClient::new(channel.clone())
                .list_dossiers(authed(pb::ListDossiersRequest::default(), &admin))
                .await
                .err(),
        ];
        let failed: Vec<_> = calls.into_iter().flatten().collect();
        if failed.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the edge does not route to every service: {failed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The chart's configuration (ci/minimal-values.yaml: one broker, so replication 1), run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_s_configuration_runs_a_dossier_and_an_order() {
    let values = root().join("helm/fleuve/ci/minimal-values.yaml");
    run_deployment(
        &format!("helm:{}", values.display()),
        ("postgresql", 5432),
        ("kafka", 9092),
        ("schema-registry", 8081),
        ("redis", 6379),
        // The edge's tracer names a collector the chart does not install.
        &[("otel-collector", 4317)],
        true,
    )
    .await;
}

/// The compose file's configuration (with .env.example and keys made as its header says), run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_configuration_runs_a_dossier_and_an_order() {
    let dir = temp_dir("fleuve-compose-env");
    let mut env = std::fs::read_to_string(root().join(".env.example")).unwrap();
    for key in ["signing-key.pem", "seal-key.pem"] {
        let path = dir.join(key);
        let out = Command::new("openssl")
            .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"])
            .arg(&path)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let variable = if key.starts_with("signing") { "STACK_SIGNING_KEY_FILE" } else { "STACK_SEAL_KEY_FILE" };
        env = env
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{variable}=")) {
                    format!("{variable}={}", path.display())
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    let env_file = dir.join(".env");
    std::fs::write(&env_file, env).unwrap();
    let clef = run_deployment(
        &format!("compose:{}", env_file.display()),
        ("postgres", 5432),
        ("kafka", 9092),
        ("schema-registry", 8081),
        ("redis", 6379),
        &[("otel-collector", 4317), ("mailpit", 1025)],
        false,
    )
    .await;
    assert_eq!(clef, 7, "the compose services log in CLEF for Seq");
}

/// What the chart relies on for upgrades: a `fleuve serve` that does not migrate
/// (`FLEUVE_APPLY_MIGRATIONS=false`, as the chart and the compose file set it) on a database
/// whose schema is behind stays not ready — `/readyz` says why, the gRPC port is closed, `fleuve
/// health` fails — and does not exit; once `fleuve migrate` has run, it becomes ready and
/// `fleuve health` answers SERVING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_waits_not_ready_until_the_schema_is_migrated() {
    let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
    let dir = temp_dir("fleuve-schema-wait");
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let (grpc, admin) = (free_port(), free_port());
    let log = dir.join("billing.log");
    let mut command = Command::new(fleuve_binary());
    command
        .args(["serve", "billing"])
        .env("FLEUVE_LISTEN", format!("127.0.0.1:{grpc}"))
        .env("FLEUVE_ADMIN__LISTEN", format!("127.0.0.1:{admin}"))
        .env("FLEUVE_APPLY_MIGRATIONS", "false")
        .env("FLEUVE_DATABASE_URL", db.url())
        .env("FLEUVE_AUTH__JWKS_FILE", write_jwks(&dir))
        .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
        .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let mut service = Process(command.spawn().unwrap());
    wait_for_port(admin, Duration::from_secs(30));
    let health = |addr: String| {
        let mut command = Command::new(fleuve_binary());
        command.args(["health", "--timeout", "2", "--addr", &addr]).env_clear();
        run(&mut command)
    };
    let readyz = || async move {
        let answer = reqwest::get(format!("http://127.0.0.1:{admin}/readyz")).await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    };
    // Several checks of the schema later, still waiting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(service.0.try_wait().unwrap().is_none(), "the service exited: {}", std::fs::read_to_string(&log).unwrap());
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("migrations"), "{body}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", grpc)).is_err(), "gRPC served on a schema behind");
    let (ok, out) = health(format!("127.0.0.1:{grpc}"));
    assert!(!ok && out.contains("connecting to"), "{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("not ready until `fleuve migrate` has run"), "{logged}");

    let migrate = Command::new(fleuve_binary())
        .args(["migrate", "--database-url", db.url()])
        .env("FLEUVE_ADMIN__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let migrated = Instant::now();
    loop {
        let (status, body) = readyz().await;
        if status == 200 {
            break;
        }
        assert!(migrated.elapsed() < Duration::from_secs(30), "never ready after the migration: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ready {} ms after the migration", migrated.elapsed().as_millis());
    let (ok, out) = health(format!("127.0.0.1:{grpc}"));
    assert!(ok && out.contains("SERVING"), "{out}");
    let (ok, out) = health(format!("http://127.0.0.1:{grpc}"));
    assert!(ok, "{out}");
    service.kill();
}

/// A JWK set file with one fresh key (a service that verifies tokens needs one).
fn write_jwks(dir: &Path) -> PathBuf {
    let key = fleuve_mesh::auth::SigningKey::generate();
    let path = dir.join("jwks.json");
    let jwks = fleuve_mesh::auth::JwkSet { keys: vec![key.jwk().clone()] };
    std::fs::write(&path, serde_json::to_vec(&jwks).unwrap()).unwrap();
    path
}

/// The schema registry over TLS with a private CA and basic authentication, as the production
/// values configure it (`bus.schema_registry_ca_file`, `_username`, `_password`): a real HTTPS
/// server (Python's `http.server` with a certificate signed by a CA made here with openssl)
/// answers Fleuve's registry client when it trusts that CA, and refuses the handshake when it
/// does not; the credentials arrive as `Authorization: Basic`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_client_trusts_the_configured_ca_and_sends_its_credentials() {
    let dir = temp_dir("fleuve-registry-tls");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Fleuve test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=registry",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    let port = free_port();
    let server = r#"
import http.server, ssl, sys
class Registry(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print(self.headers.get("Authorization", ""), flush=True)
        body = b'["homologation.dossier.v1-value"]'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
httpd = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Registry)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("server.pem", "server.key")
httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
"#;
    let child = Command::new("python3")
        .args(["-c", server, &port.to_string()])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut server = Process(child);
    wait_for_port(port, Duration::from_secs(10));
    let url = format!("https://127.0.0.1:{port}/subjects");

    let trusted = fleuve_bus::RegistryAccess {
        username: "fleuve".into(),
        password: "s3cret".into(),
        ca_file: dir.join("ca.pem").display().to_string(),
    };
    let client = trusted.http_client(Some(Duration::from_secs(5))).unwrap();
    let answer = client.get(&url).send().await.expect("the registry trusted through the configured CA");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), r#"["homologation.dossier.v1-value"]"#);

    let untrusted = fleuve_bus::RegistryAccess { ca_file: String::new(), ..trusted.clone() };
    let refused = untrusted.http_client(Some(Duration::from_secs(5))).unwrap().get(&url).send().await;
    assert!(refused.is_err(), "a certificate from an unknown CA was accepted");

    server.kill();
    let mut seen = String::new();
    use std::io::Read as _;
    server.0.stdout.take().unwrap().read_to_string(&mut seen).unwrap();
    // base64("fleuve:s3cret")
    assert_eq!(seen.lines().next(), Some("Basic ZmxldXZlOnMzY3JldA=="), "{seen}");
}
