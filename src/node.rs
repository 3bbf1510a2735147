//! Assembles services into one gRPC server: the same code for `fleuve dev` (all services, one
//! address) and `fleuve serve <service>` (one service per process).

use std::{path::Path, time::Duration};

use anyhow::Context;
use fleuve_homologation::{Homologation, Settings};
use fleuve_identity::Identity;
use fleuve_mesh::{
    MeshConfig,
    auth::{Jwk, JwkSet, JwksFetch, KeyRefresh, SigningKey, TokenIssuer, TokenVerifier},
    grpc::MeshServer,
};
use fleuve_proto::identity::v1::{GetJwksRequest, identity_service_client::IdentityServiceClient};
use fleuve_store::{Database, MigrationSet};

/// Every migration set of the node, in dependency order.
pub const MIGRATIONS: [MigrationSet; 8] = [
    fleuve_store::EVENT_STORE_MIGRATIONS,
    fleuve_identity::MIGRATIONS,
    fleuve_homologation::MIGRATIONS,
    fleuve_notification::MIGRATIONS,
    fleuve_statistics::MIGRATIONS,
    fleuve_order::MIGRATIONS,
    fleuve_stock::MIGRATIONS,
    fleuve_billing::MIGRATIONS,
];

/// The services `fleuve serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    Identity,
    Homologation,
    Statistics,
    Notification,
    Order,
    Stock,
    Billing,
}

/// Connects to the configured database and applies every pending migration; with
/// `apply_migrations` off, waits instead until another process (`fleuve migrate`) has applied
/// them, checking every [`SCHEMA_POLL`].
pub async fn open_database(config: &MeshConfig) -> anyhow::Result<Database> {
    let url = config.database_url.clone();
    let size = config.database_pool_size;
    let apply = config.apply_migrations;
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<Database> {
        let db = Database::connect(&url, size).with_context(|| format!("connecting to {}", redact(&url)))?;
        if apply {
            db.migrate(&MIGRATIONS).context("running migrations")?;
        }
        Ok(db)
    })
    .await??;
    if !apply {
        wait_for_schema(&db).await?;
    }
    Ok(db)
}

/// How often a process that does not migrate checks whether the schema is current.
pub const SCHEMA_POLL: Duration = Duration::from_secs(2);

/// Returns once every migration of the binary is applied to `db`.
async fn wait_for_schema(db: &Database) -> anyhow::Result<()> {
    let mut reported = usize::MAX;
    loop {
        let checked = db.clone();
        let pending = tokio::task::spawn_blocking(move || checked.pending_migrations(&MIGRATIONS))
            .await?
            .context("reading the applied migrations")?;
        if pending.is_empty() {
            return Ok(());
        }
        if pending.len() != reported {
            reported = pending.len();
            tracing::warn!(
                pending = pending.len(),
                first = %pending[0],
                "the database schema is behind this binary: not ready until `fleuve migrate` has run"
            );
        }
        tokio::time::sleep(SCHEMA_POLL).await;
    }
}

/// Hides a password in a database URL before it is logged or printed.
pub fn redact(url: &str) -> String {
    fleuve_mesh::config::redact_url(url)
}

/// Every topic the node's services publish to and the message each carries: the
/// homologation events and the commerce saga's messages.
pub fn event_topics() -> Vec<fleuve_bus::TopicSchema> {
    let tables: [&[(&str, &str, &str)]; 4] = [
        &fleuve_homologation::app::EVENT_TOPICS,
        &fleuve_order::topics::PRODUCED,
        &fleuve_stock::topics::PRODUCED,
        &fleuve_billing::topics::PRODUCED,
    ];
    tables.into_iter().flat_map(fleuve_bus::saga::topic_schemas).collect()
}

/// The service sections of the configuration this binary reads, each owned by its service.
pub fn sections() -> fleuve_mesh::config::Sections {
    fleuve_mesh::config::Sections::default()
        .with::<fleuve_homologation::Settings>()
        .with::<fleuve_statistics::Settings>()
        .with::<fleuve_notification::NotificationConfig>()
        .with::<fleuve_order::OrderConfig>()
}

/// The order service's settings from `[order]`.
pub fn order_settings(config: &MeshConfig) -> fleuve_order::Settings {
    fleuve_order::Settings::from(&config.section::<fleuve_order::OrderConfig>())
}

/// The projections a node runs as Kafka consumers, and the read models among them that can
/// be rebuilt.
#[derive(Clone, Default)]
pub struct Projections {
    pub consumers: Vec<std::sync::Arc<dyn fleuve_bus::Projection>>,
    pub rebuilds: Vec<std::sync::Arc<dyn fleuve_bus::Rebuild>>,
}

impl Projections {
    /// One consumer and nothing to rebuild.
    pub fn consuming(consumer: std::sync::Arc<dyn fleuve_bus::Projection>) -> Projections {
        Projections { consumers: vec![consumer], rebuilds: Vec::new() }
    }
}

impl std::fmt::Debug for Projections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.consumers.iter().map(|p| p.name()).collect();
        f.debug_struct("Projections").field("consumers", &names).finish_non_exhaustive()
    }
}

/// The read-through cache of the public certificate registry, from `cache.*`.
pub fn registry_cache(config: &MeshConfig) -> anyhow::Result<fleuve_cache::Cache> {
    let cache = fleuve_cache::CacheConfig {
        redis_url: config.cache.redis_url.clone(),
        ttl_seconds: config.cache.ttl_seconds,
        max_entries: config.cache.max_entries,
        key_prefix: format!("{}:homologation:registry", config.cache.key_prefix),
        near_cache: config.cache.near_cache,
        ..fleuve_cache::CacheConfig::default()
    };
    Ok(fleuve_cache::Cache::new(&cache)?)
}

/// The notification settings from `[notification]`.
pub fn notification_settings(config: &MeshConfig) -> anyhow::Result<fleuve_notification::Settings> {
    Ok(fleuve_notification::Settings::try_from(&config.section::<fleuve_notification::NotificationConfig>())?)
}

/// Users' e-mail addresses for the notification service, from the identity service's tables
/// (the node's database: the services of one context share it).
#[derive(Clone, Debug)]
pub struct IdentityDirectory(pub Database);

impl fleuve_notification::Directory for IdentityDirectory {
    fn email<'a>(&'a self, user_id: &'a str) -> fleuve_notification::DirectoryFuture<'a> {
        Box::pin(async move {
            fleuve_identity::user_email(&self.0, user_id)
                .await
                .map_err(|e| fleuve_notification::DirectoryError(e.to_string()))
        })
    }
}

/// The application services of the homologation context, sharing one database.
#[derive(Clone)]
pub struct Apps {
    pub identity: Identity,
    pub homologation: Homologation,
    pub notifications: fleuve_notification::Notifications,
    pub statistics: fleuve_statistics::Statistics,
    pub orders: fleuve_order::Orders,
    pub stock: fleuve_stock::Stock,
    pub billing: fleuve_billing::Billing,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apps").finish_non_exhaustive()
    }
}

/// The homologation service from `[homologation]`: its registry cache, and its seal key when
/// `seal_key_file` is set.
pub fn homologation(config: &MeshConfig, db: &Database) -> anyhow::Result<Homologation> {
    let settings = config.section::<Settings>();
    let seal_key = settings.seal_key_file.clone();
    let mut app = Homologation::new(db.clone(), settings).with_registry_cache(registry_cache(config)?);
    if !seal_key.is_empty() {
        app = app.with_seal_key(fleuve_mesh::auth::SigningKey::load_or_generate(std::path::Path::new(&seal_key))?);
    }
    Ok(app)
}

impl Apps {
    /// Every application service of `fleuve dev`; tokens signed with `issuer`.
    pub fn new(config: &MeshConfig, db: &Database, issuer: TokenIssuer) -> anyhow::Result<Apps> {
        let homologation = homologation(config, db)?;
        Ok(Apps {
            identity: Identity::new(db.clone(), issuer),
            homologation,
            notifications: fleuve_notification::Notifications::new(db.clone(), notification_settings(config)?),
            statistics: fleuve_statistics::Statistics::new(db.clone(), config.section::<fleuve_statistics::Settings>()),
            orders: fleuve_order::Orders::new(db.clone(), order_settings(config)),
            stock: fleuve_stock::Stock::new(db.clone()),
            billing: fleuve_billing::Billing::new(db.clone()),
        })
    }

    /// The projections of these services (each built from the instance that serves its
    /// queries, so cache invalidations and watch wake-ups reach them).
    pub fn projections(&self) -> Projections {
        Projections {
            consumers: vec![
                std::sync::Arc::new(self.homologation.certificate_registry_projection()),
                std::sync::Arc::new(self.notifications.projection()),
                std::sync::Arc::new(fleuve_statistics::projection()),
                std::sync::Arc::new(self.orders.participant()),
                std::sync::Arc::new(self.stock.participant()),
                std::sync::Arc::new(self.billing.participant()),
            ],
            rebuilds: vec![
                std::sync::Arc::new(self.homologation.certificate_registry_rebuild()),
                std::sync::Arc::new(fleuve_statistics::rebuild()),
            ],
        }
    }
}

/// The operations service over the running consumers and the rebuildable read models.
pub fn operations(
    db: &Database,
    consumers: Vec<std::sync::Arc<fleuve_bus::ProjectionConsumer>>,
    projections: &Projections,
) -> fleuve_bus::ops::Operations {
    let mut ops = fleuve_bus::ops::Operations::new(db.clone());
    for consumer in consumers {
        ops = ops.with_consumer(consumer);
    }
    for model in &projections.rebuilds {
        ops = ops.with_rebuild(model.clone());
    }
    ops
}

/// Every service on one server, tokens signed and verified with `key` (`fleuve dev`).
pub fn all_services(config: &MeshConfig, apps: &Apps, ops: fleuve_bus::ops::Operations) -> anyhow::Result<MeshServer> {
    let verifier = TokenVerifier::new(&config.auth, &apps.identity.issuer().jwks())?;
    let server = MeshServer::new(&config.limits, &config.cors, verifier);
    let server = with_identity(server, apps.identity.clone());
    let server = with_homologation(server, apps.homologation.clone());
    let server = server.add_service(fleuve_notification::server(apps.notifications.clone()));
    let server = server.add_service(fleuve_statistics::server(apps.statistics.clone()));
    let server = server
        .add_service(fleuve_order::server(apps.orders.clone()))
        .add_service(fleuve_stock::server(apps.stock.clone()))
        .add_service(fleuve_billing::server(apps.billing.clone()));
    Ok(server.add_service(fleuve_bus::ops::server(ops)))
}

/// The identity service, its public methods (login, keys) and its keys at
/// `/.well-known/jwks.json`.
fn with_identity(mut server: MeshServer, identity: Identity) -> MeshServer {
    for method in fleuve_identity::PUBLIC_METHODS {
        server = server.public(method);
    }
    let jwks = identity.issuer().jwks();
    server.jwks(&jwks).add_service(fleuve_identity::server(identity))
}

fn with_homologation(mut server: MeshServer, app: Homologation) -> MeshServer {
    for method in fleuve_homologation::adapters::grpc::PUBLIC_METHODS {
        server = server.public(method);
    }
    let upload_limit = app.settings().max_upload_bytes + fleuve_homologation::app::UPLOAD_OVERHEAD_BYTES;
    let services = fleuve_homologation::adapters::grpc::services(app);
    server
        .allow_larger_requests(fleuve_homologation::adapters::grpc::UPLOAD_METHOD, upload_limit)
        .add_service(services.dossiers)
        .add_service(services.certificates)
        .add_service(services.queries)
        .add_service(services.registry)
}

/// One service of `fleuve serve`: its gRPC server and, for the services that publish or
/// consume events, its backbone (relay and consumers) on the configured Kafka and registry.
pub struct ServedService {
    pub server: MeshServer,
    pub backbone: Option<crate::backbone::Backbone>,
}

impl std::fmt::Debug for ServedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedService").field("backbone", &self.backbone).finish_non_exhaustive()
    }
}

impl ServedService {
    /// Serves until `shutdown`, then stops the backbone.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let served = self.server.serve(listener, shutdown).await;
        if let Some(backbone) = self.backbone {
            backbone.shutdown().await;
        }
        served
    }
}

/// The bus settings of a `fleuve serve` process: Kafka and the registry must be configured.
fn served_backbone(config: &MeshConfig, relay: bool) -> anyhow::Result<crate::backbone::BackboneSettings> {
    anyhow::ensure!(
        !config.bus.bootstrap_servers.is_empty(),
        "set bus.bootstrap_servers (FLEUVE_BUS__BOOTSTRAP_SERVERS) to the Kafka cluster"
    );
    anyhow::ensure!(
        !config.bus.schema_registry_url.is_empty(),
        "set bus.schema_registry_url (FLEUVE_BUS__SCHEMA_REGISTRY_URL) to the schema registry"
    );
    let mut settings = crate::backbone::BackboneSettings::from_config(
        config,
        &config.bus.bootstrap_servers,
        &config.bus.schema_registry_url,
    );
    settings.relay = relay && config.bus.relay;
    Ok(settings)
}

/// One service on its own server (`fleuve serve <service>`).
pub async fn single_service(config: &MeshConfig, service: ServiceName, db: Database) -> anyhow::Result<ServedService> {
    match service {
        ServiceName::Identity => {
            anyhow::ensure!(
                !config.auth.signing_key_file.is_empty(),
                "the identity service signs tokens: set auth.signing_key_file (FLEUVE_AUTH__SIGNING_KEY_FILE)"
            );
            let key = SigningKey::load_or_generate(Path::new(&config.auth.signing_key_file))?;
            let issuer = TokenIssuer::new(key, &config.auth).with_retired_key_files(&config.auth.retired_key_files)?;
            let verifier = TokenVerifier::new(&config.auth, &issuer.jwks())?;
            let server =
                with_identity(MeshServer::new(&config.limits, &config.cors, verifier), Identity::new(db, issuer));
            Ok(ServedService { server, backbone: None })
        }
        ServiceName::Homologation => {
            let app = homologation(config, &db)?;
            let projections = Projections {
                consumers: vec![std::sync::Arc::new(app.certificate_registry_projection())],
                rebuilds: vec![std::sync::Arc::new(app.certificate_registry_rebuild())],
            };
            let (server, backbone) = with_bus(config, &db, &projections, true).await?;
            Ok(ServedService { server: with_homologation(server, app), backbone: Some(backbone) })
        }
        ServiceName::Statistics => {
            let app = fleuve_statistics::Statistics::new(db.clone(), config.section::<fleuve_statistics::Settings>());
            let projections = Projections {
                consumers: vec![std::sync::Arc::new(fleuve_statistics::projection())],
                rebuilds: vec![std::sync::Arc::new(fleuve_statistics::rebuild())],
            };
            let (server, backbone) = with_bus(config, &db, &projections, false).await?;
            Ok(ServedService { server: server.add_service(fleuve_statistics::server(app)), backbone: Some(backbone) })
        }
        ServiceName::Notification => {
            let app = fleuve_notification::Notifications::new(db.clone(), notification_settings(config)?);
            let projections = Projections::consuming(std::sync::Arc::new(app.projection()));
            let (server, mut backbone) = with_bus(config, &db, &projections, false).await?;
            let directory = std::sync::Arc::new(IdentityDirectory(db.clone()));
            backbone.add_task(app.spawn_delivery_worker(directory, backbone.stopped())?);
            backbone.add_task(app.spawn_scheduler(backbone.stopped()));
            Ok(ServedService { server: server.add_service(fleuve_notification::server(app)), backbone: Some(backbone) })
        }
        // The saga's participants each own their database, so each relays its own outbox.
        ServiceName::Order => {
            let app = fleuve_order::Orders::new(db.clone(), order_settings(config));
            let projections = Projections::consuming(std::sync::Arc::new(app.participant()));
            let (server, mut backbone) = with_bus(config, &db, &projections, true).await?;
            backbone.add_task(app.spawn_deadline_ticker(backbone.stopped()));
            let interval = Duration::from_secs(config.admin.sample_interval_seconds.max(1));
            backbone.add_task(crate::observe::spawn_order_sampler(app.clone(), interval, backbone.stopped()));
            Ok(ServedService { server: server.add_service(fleuve_order::server(app)), backbone: Some(backbone) })
        }
        ServiceName::Stock => {
            let app = fleuve_stock::Stock::new(db.clone());
            let projections = Projections::consuming(std::sync::Arc::new(app.participant()));
            let (server, backbone) = with_bus(config, &db, &projections, true).await?;
            Ok(ServedService { server: server.add_service(fleuve_stock::server(app)), backbone: Some(backbone) })
        }
        ServiceName::Billing => {
            let app = fleuve_billing::Billing::new(db.clone());
            let projections = Projections::consuming(std::sync::Arc::new(app.participant()));
            let (server, backbone) = with_bus(config, &db, &projections, true).await?;
            Ok(ServedService { server: server.add_service(fleuve_billing::server(app)), backbone: Some(backbone) })
        }
    }
}

/// What every `fleuve serve` process on the bus shares: a server verifying tokens with the
/// identity service's keys and carrying the operations service, and the backbone running
/// `projections` (and the outbox relay when `relay`) on the configured Kafka and registry.
async fn with_bus(
    config: &MeshConfig,
    db: &Database,
    projections: &Projections,
    relay: bool,
) -> anyhow::Result<(MeshServer, crate::backbone::Backbone)> {
    let verifier = remote_verifier(config).await?;
    let settings = served_backbone(config, relay)?;
    let backbone =
        crate::backbone::start(db.clone(), &settings, &event_topics(), projections.consumers.clone()).await?;
    let ops = operations(db, backbone.consumers(), projections);
    let server = MeshServer::new(&config.limits, &config.cors, verifier).add_service(fleuve_bus::ops::server(ops));
    Ok((server, backbone))
}

/// A verifier for a service that does not sign: keys from a JWK set file, or fetched from the
/// identity service, refreshed every five minutes and when a token names an unknown key (key
/// rotation).
async fn remote_verifier(config: &MeshConfig) -> anyhow::Result<TokenVerifier> {
    if !config.auth.jwks_file.is_empty() {
        let text = std::fs::read_to_string(&config.auth.jwks_file)
            .with_context(|| format!("reading {}", config.auth.jwks_file))?;
        let jwks: JwkSet = serde_json::from_str(&text).context("parsing the JWK set file")?;
        return Ok(TokenVerifier::new(&config.auth, &jwks)?);
    }
    anyhow::ensure!(
        !config.auth.jwks_endpoint.is_empty(),
        "set auth.jwks_file or auth.jwks_endpoint (the identity service's gRPC address) to verify tokens"
    );
    let endpoint = config.auth.jwks_endpoint.clone();
    let mut attempt = 0u32;
    let jwks = loop {
        match fetch_jwks(&endpoint).await {
            Ok(jwks) => break jwks,
            Err(err) if attempt < 30 => {
                attempt += 1;
                tracing::warn!(attempt, endpoint, error = %err, "identity service not reachable yet");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(err) => return Err(err.context("fetching the JWK set")),
        }
    };
    // A token signed with a key not seen yet (the identity service rotated) makes the
    // verifier fetch the set again, at most once per KeyRefresh::MIN_INTERVAL.
    let fetch: JwksFetch = {
        let endpoint = endpoint.clone();
        std::sync::Arc::new(move || {
            let endpoint = endpoint.clone();
            Box::pin(async move { fetch_jwks(&endpoint).await.map_err(|e| format!("{e:#}")) })
        })
    };
    let verifier =
        TokenVerifier::new(&config.auth, &jwks)?.with_refresh(KeyRefresh::new(fetch, KeyRefresh::MIN_INTERVAL));
    let refreshed = verifier.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        tick.tick().await;
        loop {
            tick.tick().await;
            match fetch_jwks(&endpoint).await {
                Ok(jwks) => {
                    if let Err(err) = refreshed.replace_keys(&jwks) {
                        tracing::warn!(error = %err, "refreshed JWK set refused");
                    }
                }
                Err(err) => tracing::warn!(error = %err, "JWK set refresh failed, keeping the current keys"),
            }
        }
    });
    Ok(verifier)
}

async fn fetch_jwks(endpoint: &str) -> anyhow::Result<JwkSet> {
    let mut client = IdentityServiceClient::connect(endpoint.to_owned()).await?;
    let keys = client.get_jwks(GetJwksRequest {}).await?.into_inner().keys;
    Ok(JwkSet { keys: keys.iter().map(Jwk::from_proto).collect() })
}
