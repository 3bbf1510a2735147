//! The embedded Kafka-API broker: tansu 0.6.0 running inside the Fleuve process, on in-memory
//! storage, kept in a directory by a journal when asked (see `durable`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rama_core::{Context, Service as _};
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::{BrokerRegistrationRequest, Storage as _, StorageContainer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

use crate::{BusConfig, BusError};

mod durable;
mod groups;
mod log;
mod routes;

/// Cluster id the embedded broker reports (fixed: one dev cluster per process or directory).
pub const CLUSTER_ID: &str = "fleuve-embedded";
/// Node (broker) id the embedded broker registers and advertises in metadata (tansu's default).
pub const NODE_ID: i32 = tansu_broker::NODE_ID;
/// Incarnation id of the single embedded broker (fixed, so runs are reproducible).
const INCARNATION_ID: Uuid = Uuid::from_u128(0x0f1e_0b05_0000_4000_8000_0000_0000_0001);
/// tansu's in-memory storage: topics, records and offsets, journaled when the broker is kept in
/// a directory.
const STORAGE_URL: &str = "memory://fleuve/";

/// Where the embedded broker keeps topics, records, committed offsets and producer state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStorage {
    /// In memory: gone when the broker stops.
    Memory,
    /// In memory, and journaled to `broker.jsonl` under this directory (created if missing)
    /// before each change is answered; a broker started on the directory again replays it.
    /// What a producer had acknowledged survives the process being killed.
    Directory(PathBuf),
}
/// How long `start` waits for the listener to accept a TCP connection.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts when the port was picked by us and got taken before tansu bound it.
const EPHEMERAL_ATTEMPTS: usize = 3;

/// A tansu broker serving the Kafka protocol on one address, in this process.
///
/// Stops when [`EmbeddedBroker::shutdown`] is awaited or when the value is dropped (the broker
/// task is aborted, closing the listener and every connection; in-memory data is gone).
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    task: Option<JoinHandle<Result<(), tansu_broker::Error>>>,
    /// The journal of a broker kept in a directory: shutdown waits until it is closed.
    journal: Option<durable::JournalHandle>,
}

impl EmbeddedBroker {
    /// Starts a broker on memory storage on `listen`; see [`EmbeddedBroker::start_with`].
    pub async fn start(listen: SocketAddr) -> Result<EmbeddedBroker, BusError> {
        Self::start_with(listen, BrokerStorage::Memory).await
    }

    /// Starts a broker kept in `dir`; see [`BrokerStorage::Directory`].
    pub async fn start_in(listen: SocketAddr, dir: &Path) -> Result<EmbeddedBroker, BusError> {
        Self::start_with(listen, BrokerStorage::Directory(dir.to_owned())).await
    }

    /// Starts the broker on `listen` and returns once it accepts connections.
    ///
    /// Port 0 picks a free port first: Kafka clients reconnect to the address the broker
    /// advertises in its metadata, so the advertised address must be the real one. An
    /// unspecified IP (`0.0.0.0`, `::`) listens on all interfaces and advertises loopback.
    /// Must be called within a tokio runtime (multi-thread if clients make blocking calls).
    pub async fn start_with(listen: SocketAddr, kept: BrokerStorage) -> Result<EmbeddedBroker, BusError> {
        let attempts = if listen.port() == 0 { EPHEMERAL_ATTEMPTS } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let addr = if listen.port() == 0 { reserve_port(listen)? } else { listen };
            match Self::start_on(addr, &kept).await {
                Ok(broker) => return Ok(broker),
                Err(err @ BusError::Stopped { .. }) => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or(BusError::Stopped { addr: listen, reason: "no attempt made".into() }))
    }

    async fn start_on(addr: SocketAddr, kept: &BrokerStorage) -> Result<EmbeddedBroker, BusError> {
        let started = Instant::now();
        let advertised = advertised(addr);
        let advertised_listener = Url::parse(&format!("tcp://{advertised}"))?;

        // What `tansu_broker::broker::Broker` builds and registers, served by our own accept
        // loop: its `main` installs process-wide SIGINT and SIGTERM handlers (disabling the
        // default action for the whole process), and its routes are fixed (see `routes`).
        let storage = StorageContainer::builder()
            .cluster_id(CLUSTER_ID)
            .node_id(NODE_ID)
            .advertised_listener(advertised_listener)
            .storage(Url::parse(STORAGE_URL)?)
            .silent(true)
            .build()
            .await
            .map_err(tansu_broker::Error::from)?;
        let log = log::RecordLog::new();
        let storage = match kept {
            BrokerStorage::Memory => durable::JournaledStorage::memory(storage),
            BrokerStorage::Directory(dir) => {
                let (storage, batches) = durable::JournaledStorage::open(storage, dir, &log)
                    .await
                    .map_err(|error| BusError::Storage(format!("{}: {error}", dir.display())))?;
                tracing::info!(dir = %dir.display(), batches, elapsed = ?started.elapsed(), "embedded kafka broker: journal replayed");
                storage
            }
        };
        let journal = storage.handle();
        let groups = groups::GroupCoordinator::new(Controller::with_storage(storage.clone())?);
        storage
            .register_broker(BrokerRegistrationRequest {
                broker_id: NODE_ID,
                cluster_id: CLUSTER_ID.to_owned(),
                incarnation_id: INCARNATION_ID,
                rack: None,
            })
            .await
            .map_err(tansu_broker::Error::from)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| BusError::Stopped { addr, reason: format!("cannot listen: {error}") })?;

        let task = tokio::spawn(serve(listener, storage, groups, log));
        let mut broker = EmbeddedBroker { addr: advertised, task: Some(task), journal };
        broker.wait_until_accepting(started).await?;
        tracing::debug!(%advertised, elapsed = ?started.elapsed(), "embedded kafka broker ready");
        Ok(broker)
    }

    async fn wait_until_accepting(&mut self, started: Instant) -> Result<(), BusError> {
        let deadline = started + STARTUP_TIMEOUT;
        loop {
            if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
                let reason = match self.task.take() {
                    Some(task) => match task.await {
                        Ok(Ok(())) => "broker task returned".to_owned(),
                        Ok(Err(err)) => err.to_string(),
                        Err(join) => join.to_string(),
                    },
                    None => "broker task missing".to_owned(),
                };
                return Err(BusError::Stopped { addr: self.addr, reason });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BusError::StartupTimeout { addr: self.addr, timeout: STARTUP_TIMEOUT });
            }
            let attempt = tokio::time::timeout(deadline - now, TcpStream::connect(self.addr)).await;
            if let Ok(Ok(stream)) = attempt {
                drop(stream);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address clients connect to (the advertised listener).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port` for librdkafka's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.addr.to_string()
    }

    /// A plaintext [`BusConfig`] pointing at this broker.
    pub fn bus_config(&self) -> BusConfig {
        BusConfig::new(self.bootstrap_servers())
    }

    /// Stops the broker and waits until its task (listener and connections) is gone and, kept
    /// in a directory, its journal closed (another broker may open the directory then).
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            match task.await {
                Ok(Err(err)) => tracing::warn!(%err, "embedded kafka broker failed"),
                Err(join) if join.is_panic() => tracing::warn!(%join, "embedded kafka broker panicked"),
                Ok(Ok(())) | Err(_) => {}
            }
        }
        // The connections' tasks are aborted with the broker's, and dropped (closing their
        // clones of the journal) as the runtime gets to them.
        if let Some(journal) = self.journal.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while journal.is_open() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if journal.is_open() {
                tracing::warn!("embedded kafka broker: its journal is still open 10 s after the shutdown");
            }
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until the task is aborted; aborting drops the connections' tasks too.
async fn serve(
    listener: TcpListener,
    storage: durable::JournaledStorage,
    groups: groups::GroupCoordinator,
    log: log::RecordLog,
) -> Result<(), tansu_broker::Error> {
    let topics = routes::TopicNames::default();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of descriptors and the like: the listener itself is fine.
                        tracing::warn!(%error, "embedded kafka broker could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                stream.set_nodelay(true)?;
                let service = routes::connection_service(CLUSTER_ID, &storage, &groups, &log, &topics)?;
                connections.spawn(async move {
                    match service.serve(Context::default(), stream).await {
                        Err(tansu_broker::Error::Io(io))
                            if matches!(
                                io.kind(),
                                std::io::ErrorKind::UnexpectedEof
                                    | std::io::ErrorKind::BrokenPipe
                                    | std::io::ErrorKind::ConnectionReset
                            ) => {}
                        Err(error) => tracing::debug!(%error, "embedded kafka broker connection ended"),
                        Ok(_) => {}
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Picks a free port on `listen`'s IP by binding port 0 and releasing it.
fn reserve_port(listen: SocketAddr) -> Result<SocketAddr, BusError> {
    let probe = StdTcpListener::bind(listen).map_err(|source| BusError::ReservePort { addr: listen, source })?;
    probe.local_addr().map_err(|source| BusError::ReservePort { addr: listen, source })
}

/// The address to advertise for a listener: itself, or loopback when listening on all interfaces.
fn advertised(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}
