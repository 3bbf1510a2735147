//! Configuration in three layers: built-in defaults < a TOML file < `FLEUVE_*` environment
//! variables. Nesting in variable names uses a double underscore: `FLEUVE_AUTH__ISSUER` sets
//! `auth.issuer`. Empty strings mean "not configured" so every key always exists.

use std::{net::SocketAddr, path::Path};

use serde::{Deserialize, Serialize};

const ENV_PREFIX: &str = "FLEUVE_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Address of the gRPC server.
    pub listen: SocketAddr,
    /// `postgres://user@host/db` or `sqlite://path/to/file.db`.
    pub database_url: String,
    pub database_pool_size: u32,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub homologation: HomologationConfig,
    pub bus: BusSettings,
    pub cache: CacheSettings,
    pub statistics: StatisticsConfig,
    pub notification: NotificationConfig,
    pub order: OrderConfig,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite://.fleuve/fleuve.db".into(),
            database_pool_size: 16,
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            homologation: HomologationConfig::default(),
            bus: BusSettings::default(),
            cache: CacheSettings::default(),
            statistics: StatisticsConfig::default(),
            notification: NotificationConfig::default(),
            order: OrderConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// An `EnvFilter` directive, e.g. `info,fleuve_store=debug`; `RUST_LOG` wins when set.
    pub level: String,
    /// `json` (one object per line) or `pretty`.
    pub format: String,
}

/// The default filter: `info`, except the embedded broker's storage, which traces every
/// metadata read and write at `info` (a cached read shows as `Err(NotModified)`): about three
/// lines in four of an idle `fleuve dev`.
pub const DEFAULT_LOG_LEVEL: &str = "info,tansu_storage=warn";

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: DEFAULT_LOG_LEVEL.into(), format: "json".into() }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HomologationConfig {
    pub certificate_validity_years: u32,
    /// Snapshot an aggregate every N events (0 disables snapshots).
    pub snapshot_every: i64,
}

impl Default for HomologationConfig {
    fn default() -> Self {
        Self { certificate_validity_years: 5, snapshot_every: 50 }
    }
}

/// The event bus: Kafka, the schema registry, the relay and the consumers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// Kafka `bootstrap.servers`; empty in `fleuve dev` (the embedded broker is used).
    pub bootstrap_servers: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, `ssl.*`).
    pub security: std::collections::BTreeMap<String, String>,
    /// Confluent Schema Registry URL; empty in `fleuve dev` (the embedded registry is used).
    pub schema_registry_url: String,
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
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            security: Default::default(),
            schema_registry_url: String::new(),
            partitions: 3,
            replication: 1,
            max_attempts: 5,
            relay: true,
            instance_id: String::new(),
            consumer_concurrency: 8,
            consumer_transactions: 2,
        }
    }
}

/// The read-through cache of hot queries.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatisticsConfig {
    /// The legal processing deadline of a dossier, in days.
    pub legal_deadline_days: u32,
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        Self { legal_deadline_days: 60 }
    }
}

/// The order saga's step deadlines. A step without its reply by then fails and compensates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderConfig {
    pub stock_check_timeout_seconds: u64,
    pub payment_timeout_seconds: u64,
    pub stock_release_timeout_seconds: u64,
    /// Releases sent before an order fails with its compensation unconfirmed.
    pub max_release_attempts: u32,
    /// How often due deadlines are looked for, in milliseconds.
    pub deadline_interval_ms: u64,
}

impl Default for OrderConfig {
    fn default() -> Self {
        Self {
            stock_check_timeout_seconds: 30,
            payment_timeout_seconds: 60,
            stock_release_timeout_seconds: 30,
            max_release_attempts: 5,
            deadline_interval_ms: 1000,
        }
    }
}

/// Delivery channels of the notification service. Log is always on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationConfig {
    /// SMTP relay `host:port`; empty disables e-mail.
    pub smtp_server: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub smtp_from: String,
    /// URL receiving a JSON POST per notification; empty disables the webhook.
    pub webhook_url: String,
    /// HMAC-SHA256 key of the `X-Fleuve-Signature` header; empty sends no signature.
    pub webhook_secret: String,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// How often the durable scheduler looks for due reminders.
    pub scheduler_interval_seconds: u64,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            smtp_server: String::new(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_from: "Fleuve <no-reply@fleuve.local>".into(),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            max_attempts: 5,
            scheduler_interval_seconds: 60,
        }
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

impl MeshConfig {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`MeshConfig::load`] with an explicit environment (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree = toml::Value::try_from(Self::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
            let layer: toml::Value =
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: shown, source })?;
            merge(&mut tree, layer);
        }
        for (key, value) in env {
            if let Some(path) = key.strip_prefix(ENV_PREFIX) {
                let path: Vec<String> = path.split("__").map(str::to_lowercase).collect();
                set_existing(&mut tree, &path, &value);
            }
        }
        tree.try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
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

/// Sets a key that the defaults define, parsing the value as the type already there; variables
/// naming no known key (e.g. `FLEUVE_CONFIG`) are left alone.
fn set_existing(tree: &mut toml::Value, path: &[String], raw: &str) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = tree;
    for key in parents {
        match node.get_mut(key) {
            Some(child) => node = child,
            None => return,
        }
    }
    let Some(slot) = node.get_mut(last) else { return };
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
        _ => toml::Value::String(raw.to_owned()),
    };
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
    fn a_malformed_value_is_a_clear_error() {
        let err = MeshConfig::load_from(None, env(&[("FLEUVE_LIMITS__MAX_DEADLINE_SECONDS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("max_deadline_seconds"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("fleuve-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("fleuve.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:6000\"\n").unwrap();
        assert!(MeshConfig::load_from(Some(&file), env(&[])).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
