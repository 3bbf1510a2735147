//! Values read at scrape time from the objects that own them: database pools (connections in
//! use and idle) and caches (hits and misses by layer). Each registers a probe and keeps the
//! returned [`Registration`]; dropping it (with the pool or cache) removes the probe.

use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

/// What a database pool holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// A cache's counters since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Hits answered by the in-process near cache in front of Redis.
    pub near_hits: u64,
    /// Hits answered by the backend (`redis`, or `memory` for the in-process cache).
    pub backend_hits: u64,
    pub misses: u64,
    /// Backend failures (each also counted as a miss).
    pub errors: u64,
}

type Probe<T> = Box<dyn Fn() -> T + Send + Sync>;

struct Entry<T> {
    id: u64,
    name: String,
    kind: &'static str,
    probe: Probe<T>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static POOLS: Mutex<Vec<Entry<PoolState>>> = Mutex::new(Vec::new());
static CACHES: Mutex<Vec<Entry<CacheCounts>>> = Mutex::new(Vec::new());

/// Keeps a probe registered; dropping it unregisters the probe.
#[must_use = "the probe is removed when the registration is dropped"]
pub struct Registration {
    id: u64,
    list: &'static (dyn Fn(u64) + Sync),
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("id", &self.id).finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        (self.list)(self.id);
    }
}

/// Metric values are statistics: a panic elsewhere while a list was locked leaves it usable.
fn lock<T>(list: &'static Mutex<Vec<Entry<T>>>) -> std::sync::MutexGuard<'static, Vec<Entry<T>>> {
    list.lock().unwrap_or_else(PoisonError::into_inner)
}

fn remove_pool(id: u64) {
    lock(&POOLS).retain(|e| e.id != id);
}

fn remove_cache(id: u64) {
    lock(&CACHES).retain(|e| e.id != id);
}

/// Reports a database pool's state under `name` (the database's role: `node`, `order`...) and
/// `backend` (`postgres`, `sqlite`) until the registration is dropped.
pub fn register_pool(
    name: impl Into<String>,
    backend: &'static str,
    probe: impl Fn() -> PoolState + Send + Sync + 'static,
) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&POOLS).push(Entry { id, name: name.into(), kind: backend, probe: Box::new(probe) });
    Registration { id, list: &remove_pool }
}

/// Reports a cache's counters under `name` (what it caches) and `backend` (`redis` or
/// `memory`) until the registration is dropped.
pub fn register_cache(
    name: impl Into<String>,
    backend: &'static str,
    probe: impl Fn() -> CacheCounts + Send + Sync + 'static,
) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&CACHES).push(Entry { id, name: name.into(), kind: backend, probe: Box::new(probe) });
    Registration { id, list: &remove_cache }
}

fn gauge<S: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(S, i64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter<S: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(S, u64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// `fleuve_db_pool_connections{pool,backend,state}` and `fleuve_db_pool_max_connections`.
#[derive(Debug)]
pub(crate) struct Pools;

impl Collector for Pools {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut connections = Vec::new();
        let mut max = Vec::new();
        for entry in lock(&POOLS).iter() {
            let state = (entry.probe)();
            let pool = entry.name.clone();
            let in_use = state.connections.saturating_sub(state.idle);
            connections.push((
                [("pool", pool.clone()), ("backend", entry.kind.to_owned()), ("state", "in_use".to_owned())],
                i64::from(in_use),
            ));
            connections.push((
                [("pool", pool.clone()), ("backend", entry.kind.to_owned()), ("state", "idle".to_owned())],
                i64::from(state.idle),
            ));
            max.push(([("pool", pool), ("backend", entry.kind.to_owned())], i64::from(state.max)));
        }
        gauge(&mut encoder, "db_pool_connections", "Connections of a database pool, in use or idle", &connections)?;
        gauge(&mut encoder, "db_pool_max_connections", "The most connections a database pool opens", &max)
    }
}

/// `fleuve_cache_hits_total{cache,layer}`, `fleuve_cache_misses_total{cache}` and
/// `fleuve_cache_errors_total{cache}`.
#[derive(Debug)]
pub(crate) struct Caches;

impl Collector for Caches {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut hits = Vec::new();
        let mut misses = Vec::new();
        let mut errors = Vec::new();
        for entry in lock(&CACHES).iter() {
            let counts = (entry.probe)();
            let cache = entry.name.clone();
            if entry.kind == "redis" {
                hits.push(([("cache", cache.clone()), ("layer", "near".to_owned())], counts.near_hits));
            }
            hits.push(([("cache", cache.clone()), ("layer", entry.kind.to_owned())], counts.backend_hits));
            misses.push(([("cache", cache.clone())], counts.misses));
            errors.push(([("cache", cache)], counts.errors));
        }
        counter(
            &mut encoder,
            "cache_hits",
            "Cache lookups answered, by layer: near (in-process, in front of Redis), redis, memory",
            &hits,
        )?;
        counter(&mut encoder, "cache_misses", "Cache lookups the cache could not answer", &misses)?;
        counter(&mut encoder, "cache_errors", "Cache backend failures (Redis unreachable, timed out, refused)", &errors)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Format, metrics};

    use super::*;

    #[test]
    fn probes_are_read_at_scrape_time_and_removed_with_their_registration() {
        let probe = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(3));
        let read = probe.clone();
        let registration = register_pool("probe-pool", "sqlite", move || PoolState {
            connections: read.load(Ordering::Relaxed),
            idle: 1,
            max: 8,
        });
        let text = metrics().encode(Format::Prometheus);
        assert!(
            text.contains(r#"fleuve_db_pool_connections{pool="probe-pool",backend="sqlite",state="in_use"} 2"#),
            "{text}"
        );
        probe.store(5, Ordering::Relaxed);
        let text = metrics().encode(Format::Prometheus);
        assert!(
            text.contains(r#"fleuve_db_pool_connections{pool="probe-pool",backend="sqlite",state="in_use"} 4"#),
            "{text}"
        );
        drop(registration);
        assert!(!metrics().encode(Format::Prometheus).contains("probe-pool"));
    }

    #[test]
    fn caches_report_hits_by_layer() {
        let _registration = register_cache("probe-cache", "redis", || CacheCounts {
            near_hits: 7,
            backend_hits: 2,
            misses: 1,
            errors: 0,
        });
        let text = metrics().encode(Format::OpenMetrics);
        assert!(text.contains(r#"fleuve_cache_hits_total{cache="probe-cache",layer="near"} 7"#), "{text}");
        assert!(text.contains(r#"fleuve_cache_hits_total{cache="probe-cache",layer="redis"} 2"#), "{text}");
        assert!(text.contains(r#"fleuve_cache_misses_total{cache="probe-cache"} 1"#), "{text}");
    }
}
