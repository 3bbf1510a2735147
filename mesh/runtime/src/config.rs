//! Configuration in three layers: built-in defaults < a TOML file < `FLEUVE_*` environment
//! variables. Nesting in variable names uses a double underscore: `FLEUVE_AUTH__ISSUER` sets
//! `auth.issuer`. Empty strings mean "not configured" so every key always exists.
//!
//! The mesh's own sections (listen address, database, log, telemetry, auth, limits, cors, bus,
//! cache) are fields of [`MeshConfig`]. A service owns its section (`[order]`,
//! `[notification]`...): it implements [`Section`], the binary registers it in [`Sections`]
//! before loading, and the service reads it back with [`MeshConfig::section`]. Unknown keys
//! are refused in every section.

use std::{net::SocketAddr, path::Path};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

const ENV_PREFIX: &str = "FLEUVE_";

/// The `FLEUVE_*` variables that are not configuration keys: read by the command line, the
/// tools and the scripts around the binary. Any other `FLEUVE_*` variable must name a key, so
/// that a mistyped one (`FLEUVE_LISTN`) is an error instead of a setting silently ignored.
pub const OTHER_VARIABLES: [&str; 23] = [
    // the configuration file (`--config`)
    "FLEUVE_CONFIG",
    // the operations commands (`fleuve dlq`, `fleuve projections`): node address and token
    "FLEUVE_ADDR",
    "FLEUVE_TOKEN",
    // `fleuve dev`'s Envoy binary and its worker threads
    "FLEUVE_ENVOY",
    "FLEUVE_ENVOY_WORKERS",
    // printed by `fleuve dev`'s banner for the shell (`eval`): edge and metrics addresses
    "FLEUVE_EDGE",
    "FLEUVE_METRICS",
    // the benchmarks' PostgreSQL and Redis, and scripts/bench-telemetry's binary
    "FLEUVE_BENCH_PG_URL",
    "FLEUVE_BENCH_REDIS_URL",
    "FLEUVE_BIN",
    // scripts/test: the tools' cache, the Node test clients, the tests' PostgreSQL and Redis
    "FLEUVE_TOOLS",
    "FLEUVE_NODE_TESTS",
    "FLEUVE_TEST_PG_URL",
    "FLEUVE_TEST_REDIS_URL",
    // the console's Vite dev server (web/vite.config.ts) and the client examples
    "FLEUVE_DEV_URL",
    "FLEUVE_EMAIL",
    "FLEUVE_PASSWORD",
    "FLEUVE_DEMO_PASSWORD",
    // the health check of the container image (`fleuve health`)
    "FLEUVE_HEALTH_ADDR",
    // the sizes of the fault tests (README: faults at full size)
    "FLEUVE_DECISION_DOSSIERS",
    "FLEUVE_FAULT_ORDERS",
    "FLEUVE_FAILPOINT_ROUNDS",
    "FLEUVE_STORM_EVENTS",
];

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Address of the gRPC server.
    pub listen: SocketAddr,
    /// `postgres://user@host/db` or `sqlite://path/to/file.db`.
    pub database_url: String,
    pub database_pool_size: u32,
    /// Whether `fleuve serve` applies pending migrations when it starts. Off where a separate
    /// step migrates (`fleuve migrate` as a Helm hook or a compose one-shot service): the
    /// process then waits, not ready, until the schema is current, instead of racing it.
    pub apply_migrations: bool,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub cors: CorsConfig,
    pub bus: BusSettings,
    pub cache: CacheSettings,
    /// The services' sections as loaded, by name; read with [`MeshConfig::section`].
    #[serde(skip)]
    sections: toml::Table,
}

/// The services' sections by name only: they hold credentials (SMTP password, webhook
/// secret) that each section's own `Debug` redacts.
impl std::fmt::Debug for MeshConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshConfig")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_pool_size", &self.database_pool_size)
            .field("apply_migrations", &self.apply_migrations)
            .field("admin", &self.admin)
            .field("log", &self.log)
            .field("telemetry", &self.telemetry)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("cors", &self.cors)
            .field("bus", &self.bus)
            .field("cache", &self.cache)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite://.fleuve/fleuve.db".into(),
            database_pool_size: 16,
            apply_migrations: true,
            admin: AdminConfig::default(),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            cors: CorsConfig::default(),
            bus: BusSettings::default(),
            cache: CacheSettings::default(),
            sections: toml::Table::new(),
        }
    }
}

/// The admin HTTP server: `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin server listens; bind `0.0.0.0:9464` in a container so Prometheus and
    /// the kubelet reach it.
    pub listen: SocketAddr,
    /// How often the gauges read from the database (outbox backlog, dead letters, orders by
    /// state) and from Kafka (consumer lag) are refreshed.
    pub sample_interval_seconds: u64,
}

/// The admin port: the one OpenTelemetry's Prometheus exporter uses by default.
pub const DEFAULT_ADMIN_PORT: u16 = 9464;

impl Default for AdminConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_ADMIN_PORT)), sample_interval_seconds: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// An `EnvFilter` directive, e.g. `info,fleuve_store=debug`; `RUST_LOG` wins when set.
    pub level: String,
    /// `json` (one object per line), `clef` (the same in Seq's CLEF keys) or `pretty`.
    pub format: String,
    /// How long a line at `info` or below may wait in memory before it is written to stderr
    /// with the others (one `write` for many lines); warnings and errors are written at once,
    /// after the lines before them. 0 writes every line when it is logged.
    pub flush_interval_ms: u64,
}

/// The default filter: `info`, except the embedded broker's storage, which traces every
/// metadata read and write at `info` (a cached read shows as `Err(NotModified)`): about three
/// lines in four of an idle `fleuve dev`.
pub const DEFAULT_LOG_LEVEL: &str = "info,tansu_storage=warn";

/// Lines at `info` wait at most this long in memory (Envoy flushes its access log files every
/// 10 s by default, `--file-flush-interval-msec`).
pub const DEFAULT_LOG_FLUSH_INTERVAL_MS: u64 = 100;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: DEFAULT_LOG_LEVEL.into(),
            format: "json".into(),
            flush_interval_ms: DEFAULT_LOG_FLUSH_INTERVAL_MS,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`; empty disables export.
    pub otlp_endpoint: String,
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { otlp_endpoint: String::new(), service_name: "fleuve".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Required `iss` of every token.
    pub issuer: String,
    /// Required `aud` of every token.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The only accepted signature algorithm: `ES256`.
    pub algorithm: String,
    pub token_ttl_seconds: u64,
    /// PKCS#8 PEM of the identity service's signing key; generated when missing.
    pub signing_key_file: String,
    /// A JWK set file to verify tokens with (services that do not sign).
    pub jwks_file: String,
    /// gRPC address of the identity service to fetch the JWK set from, e.g. `http://identity:50051`.
    pub jwks_endpoint: String,
    /// Keys that signed before a rotation and sign no more (PEM, public or private): the
    /// identity service keeps publishing them so the tokens they signed verify until they
    /// expire. From the environment, comma-separated.
    pub retired_key_files: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "fleuve-identity".into(),
            audience: "fleuve".into(),
            leeway_seconds: 30,
            algorithm: "ES256".into(),
            token_ttl_seconds: 3600,
            signing_key_file: String::new(),
            jwks_file: String::new(),
            jwks_endpoint: String::new(),
            retired_key_files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request message; larger ones get RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Upper bound on any request's deadline, whatever `grpc-timeout` asks for.
    pub max_deadline_seconds: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_request_bytes: 4 * 1024 * 1024, max_deadline_seconds: 30 }
    }
}

/// Which browser origins may call the server (grpc-web and the HTTP routes) from their pages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins granted CORS, exactly as browsers send them (`https://console.example.org`); a
    /// port of `*` matches any port (`http://localhost:*`). Empty grants none (same-origin
    /// pages and non-browser clients are not concerned). A variable takes a comma-separated
    /// list: `FLEUVE_CORS__ALLOWED_ORIGINS=https://a.example,https://b.example`.
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer; 0 lets it decide.
    pub max_age_seconds: u64,
}

/// The event bus: Kafka, the schema registry, the relay and the consumers.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// Kafka `bootstrap.servers`; empty in `fleuve dev` (the embedded broker is used).
    pub bootstrap_servers: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, `ssl.*`).
    pub security: std::collections::BTreeMap<String, String>,
    /// Confluent Schema Registry URL; empty in `fleuve dev` (the embedded registry is used).
    /// `https://` works with the system's trusted roots, or with `schema_registry_ca_file`.
    pub schema_registry_url: String,
    /// HTTP basic credentials of the registry (Confluent's `basic.auth.user.info`); empty
    /// sends none.
    pub schema_registry_username: String,
    pub schema_registry_password: String,
    /// PEM file of the certificate authority that signed the registry's certificate, trusted
    /// on top of the system's roots.
    pub schema_registry_ca_file: String,
    /// Partitions and replication factor of the topics a node creates.
    pub partitions: i32,
    pub replication: i32,
    /// Attempts of a transiently failing record before it is parked as a dead letter.
    pub max_attempts: u32,
    /// Whether this process runs the outbox relay of its database.
    pub relay: bool,
    /// Kafka static membership id of this replica's consumers (`group.instance.id`), e.g. the
    /// pod name: a restarted replica gets its partitions back at once. Unique per replica;
    /// empty joins the groups dynamically.
    pub instance_id: String,
    /// Records of different keys a consumer applies at once, for projections that allow it
    /// (the saga participants); each key's records stay in order. 1 applies one at a time.
    pub consumer_concurrency: usize,
    /// Transactions a consumer runs at once; records arriving while they are busy are applied
    /// together in the next one (one commit for the lot). Raise it for a distant database.
    pub consumer_transactions: usize,
    /// Hours a consumer's inbox rows are kept (the ids of the events it applied, which make a
    /// redelivery apply nothing); older rows are pruned. Keep it above the topics' retention
    /// plus a segment's age (Kafka's defaults: 7 + 7 days). 0 keeps them for ever.
    pub inbox_retention_hours: u64,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            security: Default::default(),
            schema_registry_url: String::new(),
            schema_registry_username: String::new(),
            schema_registry_password: String::new(),
            schema_registry_ca_file: String::new(),
            partitions: 3,
            replication: 1,
            max_attempts: 5,
            relay: true,
            instance_id: String::new(),
            consumer_concurrency: 8,
            consumer_transactions: 2,
            inbox_retention_hours: 720,
        }
    }
}

/// Credentials redacted: the registry's password, and the Kafka properties' values (any of
/// them may carry a secret: `sasl.password`, `ssl.key.pem`, `sasl.oauthbearer.config`...).
impl std::fmt::Debug for BusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security: Vec<&str> = self.security.keys().map(String::as_str).collect();
        f.debug_struct("BusSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("security", &security)
            .field("schema_registry_url", &self.schema_registry_url)
            .field("schema_registry_username", &self.schema_registry_username)
            .field("schema_registry_password", &if self.schema_registry_password.is_empty() { "" } else { "***" })
            .field("schema_registry_ca_file", &self.schema_registry_ca_file)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("max_attempts", &self.max_attempts)
            .field("relay", &self.relay)
            .field("instance_id", &self.instance_id)
            .field("consumer_concurrency", &self.consumer_concurrency)
            .field("consumer_transactions", &self.consumer_transactions)
            .field("inbox_retention_hours", &self.inbox_retention_hours)
            .finish()
    }
}

/// A URL with the password of its user information hidden (`postgres://u:***@host/db`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// The read-through cache of hot queries.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// `redis://host:6379/0`; empty means an in-process cache.
    pub redis_url: String,
    pub ttl_seconds: u64,
    /// Entries of the in-process cache.
    pub max_entries: u64,
    /// Prefix of every key (several deployments can share one Redis).
    pub key_prefix: String,
    /// With Redis, keep read entries in process too, invalidated by Redis's change reports
    /// (client tracking, Redis 6 or later; `max_entries` bounds it).
    pub near_cache: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            ttl_seconds: 300,
            max_entries: 10_000,
            key_prefix: "fleuve".into(),
            near_cache: true,
        }
    }
}

/// The Redis URL's password hidden.
impl std::fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSettings")
            .field("redis_url", &redact_url(&self.redis_url))
            .field("ttl_seconds", &self.ttl_seconds)
            .field("max_entries", &self.max_entries)
            .field("key_prefix", &self.key_prefix)
            .field("near_cache", &self.near_cache)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A section of the configuration that a service owns: a table of the file (`[NAME]`) and
/// the variables `FLEUVE_NAME__*`. Its `Default` gives every key, so that a variable can set
/// any of them; its `Deserialize` should refuse unknown keys (`deny_unknown_fields`).
pub trait Section: Serialize + DeserializeOwned + Default {
    const NAME: &'static str;
}

/// The service sections a binary knows, each with its defaults and its check.
#[derive(Debug, Default)]
pub struct Sections {
    entries: Vec<SectionEntry>,
}

#[derive(Debug)]
struct SectionEntry {
    name: &'static str,
    defaults: fn() -> Result<toml::Value, toml::ser::Error>,
    check: fn(toml::Value) -> Result<(), toml::de::Error>,
}

impl Sections {
    /// Registers the section `S`.
    pub fn with<S: Section>(mut self) -> Sections {
        self.entries.push(SectionEntry {
            name: S::NAME,
            defaults: || toml::Value::try_from(S::default()),
            check: |value| value.try_into::<S>().map(drop),
        });
        self
    }
}

impl MeshConfig {
    /// Defaults, then `file` if given, then the process environment; the service sections of
    /// `sections` are read and checked with the mesh's own.
    pub fn load(file: Option<&Path>, sections: &Sections) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars(), sections)
    }

    /// The service section `S` as loaded; its defaults when the configuration has none (a
    /// `MeshConfig` built in code, or a binary that did not register it).
    pub fn section<S: Section>(&self) -> S {
        match self.sections.get(S::NAME) {
            // Checked when loaded.
            Some(value) => value.clone().try_into().unwrap_or_default(),
            None => S::default(),
        }
    }

    /// Replaces the service section `S` (tests and embedded nodes that configure in code).
    pub fn set_section<S: Section>(&mut self, section: &S) -> Result<(), ConfigError> {
        let value = toml::Value::try_from(section).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.sections.insert(S::NAME.to_owned(), value);
        Ok(())
    }

    /// Like [`MeshConfig::load`] with an explicit environment (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        sections: &Sections,
    ) -> Result<Self, ConfigError> {
        let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid(e.to_string());
        let mut tree = toml::Value::try_from(Self::default()).map_err(|e| invalid(&e))?;
        if let toml::Value::Table(table) = &mut tree {
            for entry in &sections.entries {
                table.insert(entry.name.to_owned(), (entry.defaults)().map_err(|e| invalid(&e))?);
            }
        }
        let known = Known::of(&tree);
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
            let layer: toml::Value =
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: shown, source })?;
            merge(&mut tree, layer);
        }
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        for (key, value) in env {
            let Some(name) = key.strip_prefix(ENV_PREFIX) else { continue };
            if OTHER_VARIABLES.contains(&key.as_str()) || is_service_link(&key, &value) {
                continue;
            }
            let mut path: Vec<String> = name.split("__").map(str::to_lowercase).collect();
            if let Some(map) = known.maps.iter().find(|map| path.len() == map.len() + 1 && path.starts_with(map)) {
                // A key of an open table (`bus.security`): librdkafka's names have dots,
                // which variable names cannot: `FLEUVE_BUS__SECURITY__SASL_MECHANISM`.
                let key = path[map.len()].replace('_', ".");
                path[map.len()] = key;
                insert_string(&mut tree, &path, &value);
            } else if !set_existing(&mut tree, &path, &value) {
                return Err(ConfigError::Invalid(format!(
                    "unknown variable {key} (did you mean {}?)",
                    known.closest(&key).unwrap_or("FLEUVE_LISTEN")
                )));
            }
        }
        let mut loaded = toml::Table::new();
        if let toml::Value::Table(table) = &mut tree {
            for entry in &sections.entries {
                let Some(value) = table.remove(entry.name) else { continue };
                (entry.check)(value.clone())
                    .map_err(|e| ConfigError::Invalid(format!("section [{}]: {e}", entry.name)))?;
                loaded.insert(entry.name.to_owned(), value);
            }
        }
        let mut config: MeshConfig = tree.try_into().map_err(|e: toml::de::Error| invalid(&e))?;
        config.sections = loaded;
        Ok(config)
    }
}

fn merge(base: &mut toml::Value, layer: toml::Value) {
    match (base, layer) {
        (toml::Value::Table(base), toml::Value::Table(layer)) => {
            for (k, v) in layer {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, layer) => *base = layer,
    }
}

/// Whether `name=value` is one of the variables Kubernetes (and Docker links) give a container
/// for each Service of its namespace — a Service named `fleuve-order` gives
/// `FLEUVE_ORDER_SERVICE_HOST` — judged by name and value together, so that a mistyped setting
/// (`FLEUVE_LISTEN_PORT=50051`) is still refused: `<SVC>_SERVICE_HOST` = an IP address,
/// `<SVC>_SERVICE_PORT[_<NAME>]` = a port number, `<SVC>_PORT` and `<SVC>_PORT_<N>_<PROTO>` =
/// `tcp://…` (or udp, sctp), and their `_PROTO`, `_PORT`, `_ADDR` parts.
fn is_service_link(name: &str, value: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let address = |s: &str| s.parse::<std::net::IpAddr>().is_ok();
    let url = |s: &str| ["tcp://", "udp://", "sctp://"].iter().any(|p| s.starts_with(p));
    if name.ends_with("_SERVICE_HOST") {
        return address(value);
    }
    if name.ends_with("_SERVICE_PORT") || name.contains("_SERVICE_PORT_") {
        return number(value);
    }
    // `_PORT` may also occur in the Service's name and as the last part: try each place.
    name.match_indices("_PORT").any(|(at, _)| {
        let tail = &name[at + "_PORT".len()..];
        if tail.is_empty() {
            return url(value);
        }
        let Some(tail) = tail.strip_prefix('_') else { return false };
        let parts: Vec<&str> = tail.split('_').collect();
        match parts.as_slice() {
            [port, "TCP" | "UDP" | "SCTP"] => number(port) && url(value),
            [port, "TCP" | "UDP" | "SCTP", "PROTO"] => number(port) && matches!(value, "tcp" | "udp" | "sctp"),
            [port, "TCP" | "UDP" | "SCTP", "PORT"] => number(port) && number(value),
            [port, "TCP" | "UDP" | "SCTP", "ADDR"] => number(port) && address(value),
            _ => false,
        }
    })
}

/// What the variables can name: every key of the defaults (as `FLEUVE_A__B`), and the open
/// tables (empty in the defaults, e.g. `bus.security`) whose keys are free.
struct Known {
    variables: Vec<String>,
    maps: Vec<Vec<String>>,
}

impl Known {
    fn of(tree: &toml::Value) -> Known {
        fn walk(value: &toml::Value, path: &mut Vec<String>, known: &mut Known) {
            match value {
                toml::Value::Table(table) if table.is_empty() && !path.is_empty() => known.maps.push(path.clone()),
                toml::Value::Table(table) => {
                    for (key, child) in table {
                        path.push(key.clone());
                        walk(child, path, known);
                        path.pop();
                    }
                }
                _ => known.variables.push(format!("{ENV_PREFIX}{}", path.join("__").to_uppercase())),
            }
        }
        let mut known = Known { variables: Vec::new(), maps: Vec::new() };
        walk(tree, &mut Vec::new(), &mut known);
        known
    }

    /// The valid name closest to `name` (edit distance).
    fn closest(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .map(String::as_str)
            .chain(OTHER_VARIABLES)
            .min_by_key(|candidate| edit_distance(name, candidate))
    }
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(x != y)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Sets `path` (whose parent is an open table) to a string.
fn insert_string(tree: &mut toml::Value, path: &[String], raw: &str) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = tree;
    for key in parents {
        match node.get_mut(key) {
            Some(child) => node = child,
            None => return,
        }
    }
    if let toml::Value::Table(table) = node {
        table.insert(last.clone(), toml::Value::String(raw.to_owned()));
    }
}

/// Sets a key that the defaults define, parsing the value as the type already there; false
/// when no such key exists.
fn set_existing(tree: &mut toml::Value, path: &[String], raw: &str) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut node = tree;
    for key in parents {
        match node.get_mut(key) {
            Some(child) => node = child,
            None => return false,
        }
    }
    let Some(slot) = node.get_mut(last) else { return false };
    if slot.is_table() {
        return false;
    }
    *slot = match slot {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => match raw.parse() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(raw.to_owned()),
        },
        toml::Value::Boolean(_) => match raw.parse() {
            Ok(b) => toml::Value::Boolean(b),
            Err(_) => toml::Value::String(raw.to_owned()),
        },
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("fleuve-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleuve.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:6000\"\n[auth]\nissuer = \"from-file\"\naudience = \"file-aud\"\n")
            .unwrap();

        let config = MeshConfig::load_from(
            Some(&file),
            env(&[
                ("FLEUVE_AUTH__ISSUER", "from-env"),
                ("FLEUVE_LIMITS__MAX_DEADLINE_SECONDS", "7"),
                ("FLEUVE_CONFIG", "x"),
            ]),
            &Sections::default(),
        )
        .unwrap();

        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.auth.issuer, "from-env");
        assert_eq!(config.auth.audience, "file-aud");
        assert_eq!(config.limits.max_deadline_seconds, 7);
        assert_eq!(config.auth.leeway_seconds, 30);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_list_is_set_from_a_comma_separated_variable() {
        let config = MeshConfig::load_from(
            None,
            env(&[("FLEUVE_CORS__ALLOWED_ORIGINS", "https://a.example, http://localhost:*,")]),
            &Sections::default(),
        )
        .unwrap();
        assert_eq!(config.cors.allowed_origins, ["https://a.example", "http://localhost:*"]);
        assert!(MeshConfig::default().cors.allowed_origins.is_empty());
    }

    #[test]
    fn a_malformed_value_is_a_clear_error() {
        let err =
            MeshConfig::load_from(None, env(&[("FLEUVE_LIMITS__MAX_DEADLINE_SECONDS", "soon")]), &Sections::default())
                .unwrap_err();
        assert!(err.to_string().contains("max_deadline_seconds"), "{err}");
    }

    #[test]
    fn a_mistyped_variable_is_refused_with_the_closest_name() {
        let err = MeshConfig::load_from(None, env(&[("FLEUVE_LISTN", "0.0.0.0:50051")]), &Sections::default())
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid configuration: unknown variable FLEUVE_LISTN (did you mean FLEUVE_LISTEN?)"
        );
        let err =
            MeshConfig::load_from(None, env(&[("FLEUVE_BUS__BOOTSTRAP_SERVER", "kafka:9092")]), &Sections::default())
                .expect_err("refused");
        assert!(err.to_string().contains("did you mean FLEUVE_BUS__BOOTSTRAP_SERVERS?"), "{err}");
        // A section variable is known only when the binary registered the section.
        let sections = Sections::default().with::<Saga>();
        let err =
            MeshConfig::load_from(None, env(&[("FLEUVE_SAGA__TIMEOUT_SECS", "5")]), &sections).expect_err("refused");
        assert!(err.to_string().contains("did you mean FLEUVE_SAGA__TIMEOUT_SECONDS?"), "{err}");
        // A table is not a value.
        assert!(MeshConfig::load_from(None, env(&[("FLEUVE_AUTH", "x")]), &Sections::default()).is_err());
        // Kubernetes' variables for a Service named fleuve-order are not settings either.
        let links = env(&[
            ("FLEUVE_ORDER_SERVICE_HOST", "10.0.0.7"),
            ("FLEUVE_ORDER_SERVICE_PORT", "50051"),
            ("FLEUVE_ORDER_SERVICE_PORT_GRPC", "50051"),
            ("FLEUVE_ORDER_PORT", "tcp://10.0.0.7:50051"),
            ("FLEUVE_ORDER_PORT_50051_TCP", "tcp://10.0.0.7:50051"),
            ("FLEUVE_ORDER_PORT_50051_TCP_PROTO", "tcp"),
            ("FLEUVE_ORDER_PORT_50051_TCP_PORT", "50051"),
            ("FLEUVE_ORDER_PORT_50051_TCP_ADDR", "10.0.0.7"),
        ]);
        assert!(MeshConfig::load_from(None, links, &Sections::default()).is_ok());
        // A setting mistyped into the same shape is still refused: the value gives it away.
        for typo in [("FLEUVE_ORDER_PORTS", "1"), ("FLEUVE_LISTEN_PORT", "50051"), ("FLEUVE_ADMIN_PORT", "9464")] {
            let err = MeshConfig::load_from(None, env(&[typo]), &Sections::default()).unwrap_err();
            assert!(err.to_string().contains("unknown variable"), "{typo:?}: {err}");
        }
        // The tools' own variables are not configuration keys and pass.
        let tools =
            env(&[("FLEUVE_TOOLS", "/x"), ("FLEUVE_ADDR", "127.0.0.1:1"), ("FLEUVE_TEST_PG_URL", "postgres://")]);
        assert!(MeshConfig::load_from(None, tools, &Sections::default()).is_ok());
    }

    #[test]
    fn kafka_properties_are_set_from_variables() {
        let config = MeshConfig::load_from(
            None,
            env(&[
                ("FLEUVE_BUS__SECURITY__SECURITY_PROTOCOL", "SASL_SSL"),
                ("FLEUVE_BUS__SECURITY__SASL_PASSWORD", "s3cret"),
                ("FLEUVE_BUS__SCHEMA_REGISTRY_PASSWORD", "r3gistry"),
                ("FLEUVE_BUS__SECURITY__SSL_KEY_PEM", "-----BEGIN PRIVATE KEY-----k3y"),
                ("FLEUVE_DATABASE_URL", "postgres://fleuve:pgs3cret@db:5432/fleuve"),
                ("FLEUVE_CACHE__REDIS_URL", "redis://:r3dis@redis:6379/0"),
            ]),
            &Sections::default(),
        )
        .unwrap();
        assert_eq!(config.bus.security["security.protocol"], "SASL_SSL");
        assert_eq!(config.bus.security["sasl.password"], "s3cret");
        let shown = format!("{config:?}");
        for secret in ["s3cret", "r3gistry", "k3y", "pgs3cret", "r3dis"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://fleuve:***@db:5432/fleuve") && shown.contains("sasl.password"), "{shown}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("fleuve-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleuve.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:6000\"\n").unwrap();
        assert!(MeshConfig::load_from(Some(&file), env(&[]), &Sections::default()).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A service's own section, as the `order` service would declare it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Saga {
        timeout_seconds: u64,
        name: String,
    }

    impl Default for Saga {
        fn default() -> Self {
            Saga { timeout_seconds: 30, name: "saga".into() }
        }
    }

    impl Section for Saga {
        const NAME: &'static str = "saga";
    }

    #[test]
    fn a_registered_section_is_layered_like_the_mesh_s_own() {
        let dir = std::env::temp_dir().join(format!("fleuve-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleuve.toml");
        std::fs::write(&file, "[saga]\nname = \"from-file\"\n").unwrap();
        let sections = Sections::default().with::<Saga>();
        let config =
            MeshConfig::load_from(Some(&file), env(&[("FLEUVE_SAGA__TIMEOUT_SECONDS", "5")]), &sections).unwrap();
        assert_eq!(config.section::<Saga>(), Saga { timeout_seconds: 5, name: "from-file".into() });
        assert_eq!(MeshConfig::default().section::<Saga>(), Saga::default());

        std::fs::write(&file, "[saga]\ntimeout_secs = 5\n").unwrap();
        let err = MeshConfig::load_from(Some(&file), env(&[]), &sections).unwrap_err();
        assert!(err.to_string().contains("section [saga]") && err.to_string().contains("timeout_secs"), "{err}");
        let err = MeshConfig::load_from(Some(&file), env(&[]), &Sections::default()).unwrap_err();
        assert!(err.to_string().contains("saga"), "an unregistered section is an unknown key: {err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
