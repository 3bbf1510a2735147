//! What every process shows its operators: the admin server (`/metrics`, `/healthz`,
//! `/readyz`) with the readiness conditions of its startup, live probes of the broker and the
//! registry once the bus is up, and the samplers of service state (orders by saga state).

use std::{net::SocketAddr, time::Duration};

use fleuve_mesh::admin::{self, Readiness, ReadyFlag};

/// A started admin server and the startup steps `/readyz` waits for.
#[derive(Debug)]
pub struct Admin {
    pub addr: SocketAddr,
    pub readiness: Readiness,
    /// Every migration applied.
    pub migrations: ReadyFlag,
    /// The gRPC listener bound: before it, a ready process would refuse connections.
    pub grpc: ReadyFlag,
    /// Topics created and the broker answering; `None` for a process off the bus.
    bus: Option<(ReadyFlag, ReadyFlag)>,
}

impl Admin {
    /// Serves the admin routes on `addr`; `/readyz` waits for the migrations, the gRPC
    /// listener and, when `bus`, for the broker and the registry.
    pub async fn start(addr: SocketAddr, bus: bool) -> anyhow::Result<Admin> {
        let readiness = Readiness::default();
        let migrations = readiness.require("migrations");
        let grpc = readiness.require("grpc");
        let bus = bus.then(|| (readiness.require("broker"), readiness.require("registry")));
        let addr = admin::start(addr, readiness.clone()).await?;
        Ok(Admin { addr, readiness, migrations, grpc, bus })
    }

    /// The bus is up (topics created, schemas registered): from now on `/readyz` asks the
    /// broker and the registry on each call.
    pub fn bus_ready(&self, bus: &fleuve_bus::BusConfig, registry_url: &str) -> anyhow::Result<()> {
        if let Some((broker, registry)) = &self.bus {
            broker.set();
            registry.set();
        }
        watch_bus(&self.readiness, bus, registry_url)
    }

    /// `/readyz` answers "not ready" from now on (the process is draining).
    pub fn stopping(&self) {
        self.readiness.stopping();
    }
}

/// Installs the live probes of the broker (a metadata request) and the schema registry (its
/// subject list) into `readiness`.
pub fn watch_bus(readiness: &Readiness, bus: &fleuve_bus::BusConfig, registry_url: &str) -> anyhow::Result<()> {
    let broker = fleuve_bus::BrokerProbe::new(bus)?;
    readiness.probe("broker", move || {
        let broker = broker.clone();
        Box::pin(async move { broker.check(admin::PROBE_TIMEOUT).await })
    });
    let client = bus.registry.http_client(Some(admin::PROBE_TIMEOUT))?;
    let subjects = format!("{}/subjects", registry_url.trim_end_matches('/'));
    readiness.probe("registry", move || {
        let (client, subjects) = (client.clone(), subjects.clone());
        Box::pin(async move {
            match client.get(&subjects).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("the schema registry answered {}", response.status())),
                Err(error) => Err(format!("the schema registry did not answer: {error}")),
            }
        })
    });
    Ok(())
}

/// Runs `sample` every `interval` (the first at once) until `stopped`; a slow sample delays
/// the next instead of bunching them.
pub async fn every<F, Fut>(interval: Duration, stopped: impl std::future::Future<Output = ()>, mut sample: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = tick.tick() => sample().await,
        }
    }
}

/// Reads how many orders are in each saga state every `interval` until `stopped`.
pub fn spawn_order_sampler(
    orders: fleuve_order::Orders,
    interval: Duration,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(every(interval, stopped, move || {
        let orders = orders.clone();
        async move {
            // A deadline is overdue once the ticker had a full interval to fire it.
            let overdue_before = chrono::Utc::now() - chrono::Duration::from_std(interval).unwrap_or_default();
            match tokio::try_join!(orders.count_by_state(), orders.count_overdue(overdue_before)) {
                Ok((counts, overdue)) => {
                    let metrics = fleuve_metrics::metrics();
                    for (state, n) in counts {
                        metrics.saga_orders(state, n);
                    }
                    metrics.saga_overdue_orders(overdue);
                }
                Err(error) => tracing::warn!(%error, "reading the orders by saga state failed"),
            }
        }
    }))
}
