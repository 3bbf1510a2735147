//! `fleuve dev`: every service in one process on embedded defaults (SQLite under the data
//! directory, generated signing key), seeded with demo organisations and users; and
//! `fleuve token`, which mints tokens that this data directory's `fleuve dev` accepts.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;
use fleuve_identity::DemoAccounts;
use fleuve_mesh::{
    MeshConfig, Role,
    auth::{SigningKey, TokenIssuer},
    grpc::MeshServer,
};
use tokio::net::TcpListener;

use crate::backbone::{self, Backbone, BackboneSettings};
use crate::node;

const KEY_FILE: &str = "jwt-signing-key.pem";
const DATABASE_FILE: &str = "fleuve.db";
const BROKER_DIR: &str = "broker";
const REGISTRY_JOURNAL: &str = "registry.jsonl";

/// The data directory layout of `fleuve dev`.
#[derive(Debug, Clone)]
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataDir(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.0.join(DATABASE_FILE).display())
    }

    pub fn key_file(&self) -> PathBuf {
        self.0.join(KEY_FILE)
    }

    /// Where the embedded broker keeps its journal (topics, records, committed offsets).
    pub fn broker_dir(&self) -> PathBuf {
        self.0.join(BROKER_DIR)
    }

    /// The schema registry's journal (schemas keep their ids across restarts).
    pub fn registry_journal(&self) -> PathBuf {
        self.0.join(REGISTRY_JOURNAL)
    }

    /// The dev configuration: `config` with the database and signing key of this directory,
    /// and, unless origins are configured, CORS for pages served from this machine
    /// (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`).
    pub fn configure(&self, mut config: MeshConfig) -> MeshConfig {
        config.database_url = self.database_url();
        config.auth.signing_key_file = self.key_file().display().to_string();
        if config.cors.allowed_origins.is_empty() {
            config.cors.allowed_origins = DEV_ORIGINS.iter().map(|o| (*o).to_owned()).collect();
        }
        config
    }
}

/// The key certificate seals are signed with, in the data directory (unless
/// `homologation.seal_key_file` names another).
pub const SEAL_KEY_FILE: &str = "seal-key.pem";

/// The browser origins `fleuve dev` grants CORS by default: pages on this machine.
pub const DEV_ORIGINS: [&str; 3] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// A started dev node: its bound addresses, demo accounts and a token issuer.
pub struct DevNode {
    pub config: MeshConfig,
    pub database: fleuve_store::Database,
    pub server: MeshServer,
    pub listener: TcpListener,
    pub addr: SocketAddr,
    /// The in-process Kafka-API broker (journaled under the data directory).
    pub broker: fleuve_bus::EmbeddedBroker,
    /// The outbox relay and the projection consumers, running.
    pub backbone: Backbone,
    /// The in-process Confluent-compatible schema registry.
    pub registry: fleuve_registry::RegistryServer,
    pub registry_addr: SocketAddr,
    pub demo: DemoAccounts,
    pub issuer: TokenIssuer,
    /// Where the broker journals topics, records and committed offsets.
    pub broker_dir: PathBuf,
}

impl std::fmt::Debug for DevNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevNode").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// The addresses `fleuve dev` listens on.
#[derive(Debug, Clone, Copy)]
pub struct DevListen {
    pub grpc: SocketAddr,
    pub registry: SocketAddr,
    pub kafka: SocketAddr,
    /// The Envoy edge `fleuve dev` runs in front of the node, if any: the API docs send their
    /// "try it" calls there (REST is Envoy's).
    pub edge: Option<SocketAddr>,
}

impl DevListen {
    /// Ephemeral ports on the loopback interface (tests), no edge.
    pub fn ephemeral() -> DevListen {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        DevListen { grpc: any, registry: any, kafka: any, edge: None }
    }
}

/// Prepares the data directory, database, demo data, schema registry, broker, event backbone
/// and gRPC server.
pub async fn prepare(config: MeshConfig, data_dir: &DataDir, listen: DevListen) -> anyhow::Result<DevNode> {
    prepare_on(config, data_dir, listen, None).await
}

/// [`prepare`] on another database than the data directory's SQLite file (tests on PostgreSQL).
pub async fn prepare_on(
    config: MeshConfig,
    data_dir: &DataDir,
    listen: DevListen,
    database_url: Option<String>,
) -> anyhow::Result<DevNode> {
    std::fs::create_dir_all(data_dir.path())
        .with_context(|| format!("creating data directory {}", data_dir.path().display()))?;
    let mut config = data_dir.configure(config);
    if let Some(url) = database_url {
        config.database_url = url;
    }
    let key = SigningKey::load_or_generate(&data_dir.key_file())?;
    let db = node::open_database(&config).await?;
    let schemas = fleuve_registry::SchemaRegistry::open(&data_dir.registry_journal())?;
    let (registry_addr, registry) = fleuve_registry::RegistryServer::start_with(listen.registry, schemas)
        .await
        .with_context(|| format!("binding the schema registry on {}", listen.registry))?;
    let broker = fleuve_bus::EmbeddedBroker::start_in(listen.kafka, &data_dir.broker_dir())
        .await
        .with_context(|| format!("starting the Kafka-API broker on {}", listen.kafka))?;
    let registry_url = format!("http://{registry_addr}");
    let settings = BackboneSettings::from_config(&config, &broker.bootstrap_servers(), &registry_url);
    let issuer = TokenIssuer::new(key, &config.auth).with_retired_key_files(&config.auth.retired_key_files)?;
    let mut apps = node::Apps::new(&config, &db, issuer)?;
    // Certificates are sealed with a key of the data directory unless one is configured.
    if config.section::<fleuve_homologation::Settings>().seal_key_file.is_empty() {
        let seal = SigningKey::load_or_generate(&data_dir.path().join(SEAL_KEY_FILE))?;
        apps.homologation = apps.homologation.clone().with_seal_key(seal);
    }
    let demo = apps.identity.seed_demo().await.context("seeding demo accounts")?;
    seed_shop(&apps, &demo).await.context("seeding the demo shop")?;
    let projections = apps.projections();
    let mut backbone =
        backbone::start(db.clone(), &settings, &node::event_topics(), projections.consumers.clone()).await?;
    let directory = std::sync::Arc::new(node::IdentityDirectory(db.clone()));
    backbone.add_task(apps.notifications.spawn_delivery_worker(directory, backbone.stopped())?);
    backbone.add_task(apps.notifications.spawn_scheduler(backbone.stopped()));
    backbone.add_task(apps.orders.spawn_deadline_ticker(backbone.stopped()));
    backbone.add_task(crate::observe::spawn_order_sampler(
        apps.orders.clone(),
        settings.sample_interval,
        backbone.stopped(),
    ));
    let ops = node::operations(&db, backbone.consumers(), &projections);
    let docs_servers = vec![listen.edge.map_or_else(|| "/".to_owned(), |edge| format!("http://{edge}"))];
    let server =
        crate::console::with_console(crate::docs::with_docs(node::all_services(&config, &apps, ops)?, &docs_servers));
    let identity = apps.identity;
    let listener = TcpListener::bind(listen.grpc).await.with_context(|| format!("binding {}", listen.grpc))?;
    let addr = listener.local_addr()?;
    let issuer = identity.issuer().clone();
    Ok(DevNode {
        config,
        database: db,
        server,
        listener,
        addr,
        broker,
        backbone,
        registry,
        registry_addr,
        demo,
        issuer,
        broker_dir: data_dir.broker_dir(),
    })
}

/// The demo shop of the commerce saga: a few products, and a billing account (1 000 000 XAF)
/// for each demo user, so an order can be placed right away. Seeding again changes nothing.
/// Id, name, units on hand, unit price in XAF.
pub const DEMO_PRODUCTS: [(&str, &str, u64, i64); 3] = [
    ("sku-pen", "Ballpoint pen", 1_000, 250),
    ("sku-notebook", "A5 notebook", 200, 1_500),
    ("sku-ink", "Ink bottle", 3, 4_000),
];

async fn seed_shop(apps: &node::Apps, demo: &DemoAccounts) -> anyhow::Result<()> {
    let caller = fleuve_stock::Caller {
        principal: fleuve_mesh::Principal {
            subject: "system".into(),
            role: Role::Admin,
            organisation_id: demo.regulator.organisation_id.clone(),
            expires_at: 0,
        },
        correlation_id: "fleuve-dev-seed".into(),
        trace_context: None,
    };
    for (id, name, quantity, price) in DEMO_PRODUCTS {
        match apps.stock.get_product(id).await {
            Ok(_) => {}
            Err(_) => {
                let price = fleuve_proto::common::v1::Money { currency: "XAF".into(), amount: price };
                apps.stock.create_product(&caller, id, name, quantity, Some(price)).await?;
            }
        }
    }
    let cx = fleuve_billing::Caller::system("fleuve-dev-seed");
    let principal = &caller.principal;
    for user in [&demo.admin, &demo.reviewer, &demo.applicant, &demo.second_applicant] {
        if apps.billing.get_account(principal, &user.user_id).await.is_err() {
            apps.billing.open_account(&cx, &user.user_id, "XAF", 1_000_000, 0).await?;
        }
    }
    Ok(())
}

impl DevNode {
    /// Serves until `shutdown` completes, then stops the backbone (offsets committed, relay
    /// closed), the registry and the broker, in that order.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let served = self.server.serve(self.listener, shutdown).await;
        self.backbone.shutdown().await;
        if let Err(error) = self.registry.shutdown().await {
            tracing::warn!(%error, "schema registry shutdown");
        }
        self.broker.shutdown().await;
        served
    }

    /// A token for one of the demo users.
    pub fn demo_token(&self, role: Role) -> anyhow::Result<String> {
        let user = match role {
            Role::Admin => &self.demo.admin,
            Role::Reviewer => &self.demo.reviewer,
            Role::Applicant => &self.demo.applicant,
        };
        let (token, _) = self.issuer.issue(&user.user_id, role, &user.organisation_id)?;
        Ok(token)
    }

    /// What `fleuve dev` prints: endpoints, demo accounts and ready-to-use tokens, with the
    /// `export` lines machine-readable. `edge` is the Envoy edge's address if one runs, or why
    /// none does.
    pub fn banner(&self, edge: Result<SocketAddr, String>) -> anyhow::Result<String> {
        self.banner_info().render(edge)
    }

    /// What the banner shows, owned: printed once the node serves (and its edge runs).
    pub fn banner_info(&self) -> Banner {
        Banner {
            addr: self.addr,
            cors: self.config.cors.allowed_origins.clone(),
            bootstrap_servers: self.broker.bootstrap_servers(),
            registry_addr: self.registry_addr,
            database_url: node::redact(&self.config.database_url),
            signing_key_file: self.config.auth.signing_key_file.clone(),
            broker_dir: self.broker_dir.display().to_string(),
            demo: self.demo.clone(),
            issuer: self.issuer.clone(),
            admin: None,
        }
    }

    /// The bus this node runs on (its embedded broker) and its registry's URL.
    pub fn bus(&self) -> (fleuve_bus::BusConfig, String) {
        (fleuve_bus::BusConfig::new(self.broker.bootstrap_servers()), format!("http://{}", self.registry_addr))
    }
}

/// The banner of a dev node (see [`DevNode::banner`]).
#[derive(Clone)]
pub struct Banner {
    addr: SocketAddr,
    cors: Vec<String>,
    bootstrap_servers: String,
    registry_addr: SocketAddr,
    database_url: String,
    signing_key_file: String,
    broker_dir: String,
    demo: DemoAccounts,
    issuer: TokenIssuer,
    admin: Option<SocketAddr>,
}

impl std::fmt::Debug for Banner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Banner").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Banner {
    /// Shows the admin server's address (`/metrics`, `/healthz`, `/readyz`).
    pub fn with_admin(mut self, addr: SocketAddr) -> Banner {
        self.admin = Some(addr);
        self
    }

    fn demo_token(&self, role: Role) -> anyhow::Result<String> {
        let user = match role {
            Role::Admin => &self.demo.admin,
            Role::Reviewer => &self.demo.reviewer,
            Role::Applicant => &self.demo.applicant,
        };
        let (token, _) = self.issuer.issue(&user.user_id, role, &user.organisation_id)?;
        Ok(token)
    }

    /// The text, with the edge's address or why none runs.
    pub fn render(&self, edge: Result<SocketAddr, String>) -> anyhow::Result<String> {
        let d = &self.demo;
        let mut out = String::new();
        out.push_str("fleuve dev is ready\n");
        out.push_str(&format!(
            "  gRPC         {} (plaintext, HTTP/2; grpc-web over HTTP/1.1 too; reflection and health on)\n",
            self.addr
        ));
        out.push_str(&format!(
            "  console      http://{}{}/ (the web console; sign in with a demo user below)\n",
            self.addr,
            crate::console::CONSOLE_PATH
        ));
        out.push_str(&format!("  keys         http://{}{}\n", self.addr, fleuve_mesh::grpc::JWKS_PATH));
        out.push_str(&format!("  browsers     CORS for {}\n", self.cors.join(", ")));
        match &edge {
            Ok(addr) => out.push_str(&format!(
                "  edge         http://{addr} (Envoy: gRPC, grpc-web, REST under /v1/, JWT, rate limits); \
                 API docs http://{addr}/docs\n"
            )),
            Err(why) => out.push_str(&format!("  edge         not running: {why}\n")),
        }
        if let Some(admin) = self.admin {
            out.push_str(&format!(
                "  admin        http://{admin}/metrics (Prometheus, OpenMetrics), /healthz, /readyz\n"
            ));
        }
        out.push_str(&format!(
            "  kafka        {} (Kafka API, in-process, journaled in {})\n",
            self.bootstrap_servers, self.broker_dir
        ));
        out.push_str(&format!("  registry     http://{} (Confluent Schema Registry API)\n", self.registry_addr));
        out.push_str(&format!("  database     {}\n", self.database_url));
        out.push_str(&format!("  signing key  {}\n", self.signing_key_file));
        out.push_str(&format!("  try          grpcurl -plaintext {} list\n", self.addr));
        out.push_str(
            "  consumers    certificate-registry, statistics, notification, order-saga, stock, billing; `fleuve projections list`, `fleuve dlq list`\n",
        );
        out.push_str(&format!(
            "  demo users   {} (admin), {} (reviewer), {} and {} (applicants); password {}\n",
            d.admin.email, d.reviewer.email, d.applicant.email, d.second_applicant.email, d.password
        ));
        out.push_str(
            "  shop         products sku-pen (1000 at 250 XAF), sku-notebook (200 at 1500), sku-ink (3 at 4000); every demo user has a \
             1 000 000 XAF account; payment tokens tok_flagged*, tok_insufficient*, tok_timeout* fail\n",
        );
        out.push_str(&format!(
            "  tokens       valid {} s; `fleuve token --role ROLE` mints more\n",
            self.issuer.ttl_seconds()
        ));
        out.push_str(&format!("export FLEUVE_ADDR={}\n", self.addr));
        if let Ok(addr) = &edge {
            out.push_str(&format!("export FLEUVE_EDGE=http://{addr}\n"));
        }
        if let Some(admin) = self.admin {
            out.push_str(&format!("export FLEUVE_METRICS=http://{admin}/metrics\n"));
        }
        out.push_str(&format!("export SCHEMA_REGISTRY_URL=http://{}\n", self.registry_addr));
        out.push_str(&format!("export KAFKA_BOOTSTRAP_SERVERS={}\n", self.bootstrap_servers));
        out.push_str(&format!("export ADMIN_TOKEN={}\n", self.demo_token(Role::Admin)?));
        out.push_str(&format!("export REVIEWER_TOKEN={}\n", self.demo_token(Role::Reviewer)?));
        out.push_str(&format!("export APPLICANT_TOKEN={}\n", self.demo_token(Role::Applicant)?));
        out.push_str(&format!("export REVIEWER_ID={}\n", d.reviewer.user_id));
        out.push_str(&format!("export APPLICANT_ID={}\n", d.applicant.user_id));
        out.push_str(&format!("export APPLICANT_ORG_ID={}\n", d.applicant_organisation.organisation_id));
        Ok(out)
    }
}

/// `fleuve token`: a token signed with the data directory's key. Without `--org`, the demo
/// user of that role (and its organisation) is the subject.
pub async fn mint_token(
    config: MeshConfig,
    data_dir: &DataDir,
    role: Role,
    organisation_id: Option<String>,
    subject: Option<String>,
) -> anyhow::Result<String> {
    let key_file = data_dir.key_file();
    anyhow::ensure!(
        key_file.exists(),
        "no signing key at {}: run `fleuve dev --data-dir {}` once first",
        key_file.display(),
        data_dir.path().display()
    );
    let config = data_dir.configure(config);
    let key = SigningKey::load_or_generate(&key_file)?;
    let issuer = TokenIssuer::new(key, &config.auth);
    let (subject, organisation_id) = match organisation_id {
        Some(org) => (subject.unwrap_or_else(|| format!("dev-{}", role.as_str())), org),
        None => {
            let db = node::open_database(&config).await?;
            let identity = fleuve_identity::Identity::new(db, issuer.clone());
            let demo = identity.seed_demo().await?;
            let user = match role {
                Role::Admin => demo.admin,
                Role::Reviewer => demo.reviewer,
                Role::Applicant => demo.applicant,
            };
            (subject.unwrap_or(user.user_id), user.organisation_id)
        }
    };
    let (token, _) = issuer.issue(&subject, role, &organisation_id)?;
    Ok(token)
}
