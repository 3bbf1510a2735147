//! The event backbone of a node: the outbox relay of its database and one Kafka consumer per
//! projection, run as tasks until the node stops. The same code runs in `fleuve dev` (embedded
//! broker and registry) and in `fleuve serve` (a real cluster; configuration only).

use std::sync::Arc;

use anyhow::Context;
use fleuve_bus::{BusConfig, ConsumerSettings, OutboxRelay, Projection, ProjectionConsumer, TopicSchema};
use fleuve_store::Database;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the bus is and how the node uses it.
#[derive(Debug, Clone)]
pub struct BackboneSettings {
    pub bus: BusConfig,
    pub registry_url: String,
    pub partitions: i32,
    pub replication: i32,
    /// Run the outbox relay of this database (one relay per database).
    pub relay: bool,
    pub consumer: ConsumerSettings,
    /// How often the outbox and dead-letter gauges are read from the database.
    pub sample_interval: std::time::Duration,
    /// How long the consumers' inbox rows are kept; `None` keeps them for ever.
    pub inbox_retention: Option<std::time::Duration>,
}

impl BackboneSettings {
    /// From the node configuration, with the bootstrap servers and registry given by the caller
    /// (`fleuve dev` passes its embedded ones).
    pub fn from_config(config: &fleuve_mesh::MeshConfig, bootstrap_servers: &str, registry_url: &str) -> Self {
        let mut bus = BusConfig::new(bootstrap_servers);
        bus.security = config.bus.security.clone();
        bus.registry = registry_access(config);
        let sample_interval = std::time::Duration::from_secs(config.admin.sample_interval_seconds.max(1));
        BackboneSettings {
            bus,
            registry_url: registry_url.to_owned(),
            partitions: config.bus.partitions,
            replication: config.bus.replication,
            relay: config.bus.relay,
            consumer: ConsumerSettings {
                max_attempts: config.bus.max_attempts.max(1),
                instance_id: Some(config.bus.instance_id.clone()).filter(|i| !i.is_empty()),
                max_concurrency: config.bus.consumer_concurrency.max(1),
                max_transactions: config.bus.consumer_transactions.max(1),
                lag_interval: sample_interval,
                ..ConsumerSettings::default()
            },
            sample_interval,
            inbox_retention: (config.bus.inbox_retention_hours > 0)
                .then(|| std::time::Duration::from_secs(config.bus.inbox_retention_hours.saturating_mul(3600))),
        }
    }
}

/// The schema registry's credentials and CA from `bus.schema_registry_*`.
pub fn registry_access(config: &fleuve_mesh::MeshConfig) -> fleuve_bus::RegistryAccess {
    fleuve_bus::RegistryAccess {
        username: config.bus.schema_registry_username.clone(),
        password: config.bus.schema_registry_password.clone(),
        ca_file: config.bus.schema_registry_ca_file.clone(),
    }
}

/// The running relay and consumers.
pub struct Backbone {
    stop: watch::Sender<bool>,
    relay: Option<JoinHandle<OutboxRelay>>,
    consumers: Vec<(Arc<ProjectionConsumer>, JoinHandle<()>)>,
    /// Other background workers stopped with the backbone (delivery, scheduling).
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Backbone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.consumers.iter().map(|(c, _)| c.name()).collect();
        f.debug_struct("Backbone").field("relay", &self.relay.is_some()).field("consumers", &names).finish()
    }
}

fn stopped(mut stop: watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    async move {
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// Creates the topics, registers the event schemas, and starts the relay (when enabled) and a
/// consumer per projection.
pub async fn start(
    db: Database,
    settings: &BackboneSettings,
    topics: &[TopicSchema],
    projections: Vec<Arc<dyn Projection>>,
) -> anyhow::Result<Backbone> {
    let (stop, _) = watch::channel(false);
    let names: Vec<&str> = topics.iter().map(|t| t.topic.as_str()).collect();
    fleuve_bus::ensure_topics(&settings.bus, &names, settings.partitions, settings.replication)
        .await
        .context("creating the event topics")?;

    let relay = if settings.relay {
        let mut relay = OutboxRelay::new(db.clone(), &settings.bus, &settings.registry_url, topics.to_vec())?;
        relay
            .register_schemas()
            .await
            .with_context(|| format!("registering event schemas at {}", settings.registry_url))?;
        let shutdown = stopped(stop.subscribe());
        Some(tokio::spawn(async move {
            relay.run(shutdown).await;
            relay
        }))
    } else {
        None
    };

    let mut consumers = Vec::new();
    for projection in projections {
        let name = projection.name().to_owned();
        let consumer = Arc::new(ProjectionConsumer::new(
            projection,
            db.clone(),
            &settings.bus,
            &settings.registry_url,
            settings.consumer.clone(),
        )?);
        consumer
            .ensure_dlq_topics(settings.partitions, settings.replication)
            .await
            .with_context(|| format!("creating the dead-letter topics of {name}"))?;
        let shutdown = stopped(stop.subscribe());
        let running = consumer.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = running.run(shutdown).await {
                tracing::error!(consumer = name, %error, "consumer failed");
            }
        });
        consumers.push((consumer, task));
    }
    let names: Vec<String> = consumers.iter().map(|(c, _)| c.name().to_owned()).collect();
    let mut tasks = Vec::new();
    if let Some(retention) = settings.inbox_retention {
        tasks.push(tokio::spawn(prune_inboxes(db.clone(), names.clone(), retention, stopped(stop.subscribe()))));
    }
    tasks.push(tokio::spawn(sample(db, settings.relay, names, settings.sample_interval, stopped(stop.subscribe()))));
    Ok(Backbone { stop, relay, consumers, tasks })
}

/// Inbox rows deleted per statement by [`prune_inboxes`].
pub(crate) const PRUNE_BATCH: i64 = 5_000;
/// How long one round may prune a consumer's inbox: a backlog (the first round after an
/// upgrade) is worked off over several rounds instead of in one long burst, while a round
/// deletes far more than the busiest consumer adds in a minute.
const PRUNE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// How often the inboxes are pruned.
const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Deletes, every minute until `stopped`, the inbox rows of `consumers` older than `retention`
/// (see `fleuve_store::consumer::inbox_prune`), so the inbox holds a retention's worth of
/// events, not every event ever applied.
async fn prune_inboxes(
    db: Database,
    consumers: Vec<String>,
    retention: std::time::Duration,
    stopped: impl std::future::Future<Output = ()>,
) {
    crate::observe::every(PRUNE_INTERVAL, stopped, || {
        let (db, names) = (db.clone(), consumers.clone());
        async move {
            let before = chrono::Duration::from_std(retention)
                .ok()
                .and_then(|retention| chrono::Utc::now().checked_sub_signed(retention));
            let Some(before) = before else {
                tracing::warn!(?retention, "the inbox retention reaches before any date: nothing pruned");
                return;
            };
            for name in names {
                let (mut pruned, started) = (0, std::time::Instant::now());
                while started.elapsed() < PRUNE_BUDGET {
                    let consumer = name.clone();
                    let deleted = db
                        .run(move |conn| fleuve_store::consumer::inbox_prune(conn, &consumer, before, PRUNE_BATCH))
                        .await;
                    match deleted {
                        Ok(n) => {
                            pruned += n;
                            if n < PRUNE_BATCH as usize {
                                break;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(consumer = name, %error, "pruning the inbox failed");
                            break;
                        }
                    }
                }
                if pruned > 0 {
                    tracing::info!(consumer = name, pruned, "inbox rows past the retention pruned");
                }
            }
        }
    })
    .await;
}

/// Reads the gauges that describe stored state every `interval` until `stopped`: the outbox
/// backlog (when this process relays it) and the parked dead letters of `consumers`.
async fn sample(
    db: Database,
    relay: bool,
    consumers: Vec<String>,
    interval: std::time::Duration,
    stopped: impl std::future::Future<Output = ()>,
) {
    crate::observe::every(interval, stopped, || {
        let (db, names) = (db.clone(), consumers.clone());
        async move {
            let read = db
                .run(move |conn| {
                    let backlog = if relay { Some(fleuve_store::event_store::outbox_backlog(conn)?) } else { None };
                    let parked = names
                        .into_iter()
                        .map(|name| {
                            let n = fleuve_store::consumer::dead_letter_count(
                                conn,
                                &name,
                                fleuve_store::consumer::DeadLetterStatus::Parked,
                            )?;
                            Ok((name, n))
                        })
                        .collect::<Result<Vec<_>, fleuve_store::StoreError>>()?;
                    Ok::<_, fleuve_store::StoreError>((backlog, parked))
                })
                .await;
            let metrics = fleuve_metrics::metrics();
            match read {
                Ok((backlog, parked)) => {
                    if let Some((pending, oldest)) = backlog {
                        let age = oldest.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0);
                        metrics.outbox_backlog(pending, age);
                    }
                    for (name, n) in parked {
                        metrics.dead_letters_parked(&name, n);
                    }
                }
                Err(error) => tracing::warn!(%error, "reading the outbox and dead-letter gauges failed"),
            }
        }
    })
    .await;
}

impl Backbone {
    /// The consumers, for the operations service (dead letters).
    pub fn consumers(&self) -> Vec<Arc<ProjectionConsumer>> {
        self.consumers.iter().map(|(c, _)| c.clone()).collect()
    }

    /// A future that completes when the backbone stops, for workers started beside it.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        stopped(self.stop.subscribe())
    }

    /// A worker to await when the backbone stops (it should watch [`Backbone::stopped`]).
    pub fn add_task(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Stops the relay and the consumers (offsets committed) and closes their Kafka clients.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "background worker failed");
            }
        }
        if let Some(relay) = self.relay {
            match relay.await {
                Ok(relay) => relay.close().await,
                Err(error) => tracing::warn!(%error, "outbox relay task failed"),
            }
        }
        for (consumer, task) in self.consumers {
            if let Err(error) = task.await {
                tracing::warn!(%error, "consumer task failed");
            }
            if let Some(consumer) = Arc::into_inner(consumer) {
                consumer.close().await;
            }
        }
    }
}
