//! Client configuration of the bus: one place that turns Fleuve settings into librdkafka properties.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// Where the bus lives and how to authenticate to it.
///
/// Pointing Fleuve at a real cluster is configuration only: put `security.protocol`,
/// `sasl.mechanism`, `sasl.username`, `ssl.ca.location`, ... into [`BusConfig::security`].
/// TLS and SASL/SCRAM need librdkafka built with SSL (the `ssl` feature of this crate);
/// the default build (embedded broker, plaintext) leaves it out.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct BusConfig {
    /// Comma-separated `host:port` list (librdkafka `bootstrap.servers`).
    pub bootstrap_servers: String,
    /// Extra librdkafka properties, applied after the Fleuve defaults (so they can override
    /// them). Meant for `security.protocol`, `sasl.*` and `ssl.*`.
    #[serde(default)]
    pub security: BTreeMap<String, String>,
    /// Credentials and certificate authority of the schema registry.
    #[serde(default)]
    pub registry: crate::schema::RegistryAccess,
}

/// The extra properties by name only: any value may carry a secret (`sasl.password`,
/// `ssl.key.pem`, `sasl.oauthbearer.config`...).
impl std::fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security: Vec<&str> = self.security.keys().map(String::as_str).collect();
        f.debug_struct("BusConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("security", &security)
            .field("registry", &self.registry)
            .finish()
    }
}

impl BusConfig {
    /// A plaintext configuration for the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self { bootstrap_servers: bootstrap_servers.into(), ..Self::default() }
    }

    /// Adds one extra librdkafka property (builder style).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.security.insert(key.into(), value.into());
        self
    }

    /// Properties shared by every client: bootstrap servers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        self.apply_security(&mut config);
        config
    }

    /// An idempotent producer: no duplicates or reordering on retries, every record
    /// acknowledged by all in-sync replicas, sent without batching delay.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0");
        self.apply_security(&mut config);
        config
    }

    /// A consumer in `group_id` that commits explicitly: offsets are neither stored nor
    /// committed automatically, a new group starts from the earliest record, and a fetch
    /// waits at most 100 ms for records (brokers answer as soon as a record is there; the
    /// wait bounds how long other requests on the fetch connection queue behind it). A
    /// member that died without leaving (SIGKILL, lost node) is evicted after 10 s instead of
    /// librdkafka's 45 s, and a rebalance waits at most 30 s for members to rejoin instead of
    /// 5 minutes (the rebalance timeout is `max.poll.interval.ms`; a record's retries take
    /// under 10 s, so a live member always polls well within it). A restarted service thus
    /// gets its partitions back within seconds. The brokers' default
    /// `group.min.session.timeout.ms` (6 s) allows these values. Security settings may override them.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "2000")
            .set("max.poll.interval.ms", "30000");
        self.apply_security(&mut config);
        config
    }

    fn apply_security(&self, config: &mut ClientConfig) {
        for (key, value) in &self.security {
            config.set(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_idempotent_and_security_is_applied() {
        let config = BusConfig::new("kafka:9093")
            .with_property("security.protocol", "SASL_SSL")
            .with_property("sasl.mechanism", "PLAIN");
        let producer = config.producer_config();
        assert_eq!(producer.get("bootstrap.servers"), Some("kafka:9093"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("acks"), Some("all"));
        assert_eq!(producer.get("linger.ms"), Some("0"));
        assert_eq!(producer.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(producer.get("sasl.mechanism"), Some("PLAIN"));
    }

    #[test]
    fn consumer_commits_explicitly() {
        let consumer = BusConfig::new("localhost:9092").consumer_config("projections");
        assert_eq!(consumer.get("group.id"), Some("projections"));
        assert_eq!(consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(consumer.get("security.protocol"), None);
    }

    /// The `ssl` feature (on in the `fleuve` binary) gives librdkafka OpenSSL and SASL/SCRAM:
    /// a client for a SASL_SSL cluster is created (it connects lazily). Without it librdkafka
    /// refuses the property ("OpenSSL not available at build time").
    #[cfg(feature = "ssl")]
    #[test]
    fn a_sasl_ssl_client_can_be_configured() {
        let config = BusConfig::new("kafka.example:9093")
            .with_property("security.protocol", "SASL_SSL")
            .with_property("sasl.mechanism", "SCRAM-SHA-512")
            .with_property("sasl.username", "fleuve")
            .with_property("sasl.password", "secret");
        let producer: Result<rdkafka::producer::BaseProducer, _> = config.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
        assert!(!format!("{config:?}").contains("secret"));
    }
}
