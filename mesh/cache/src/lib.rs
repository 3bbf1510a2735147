//! fleuve-cache: the read-through cache of hot queries — Redis when a URL is configured, a
//! bounded in-process cache otherwise — which projections invalidate after their commit.
//!
//! The cache is an optimisation, never a dependency: a Redis that is down, slow or refusing
//! commands is logged and counted ([`CacheStats::errors`]) and the query is answered by its
//! loader as if the key were absent.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fleuve_cache::{Cache, CacheConfig};
//! let cache = Cache::new(&CacheConfig::redis("redis://127.0.0.1:6379", "fleuve:demo"))?;
//! let value = cache
//!     .get_or_load("answer", cache.default_ttl(), || async { Ok::<_, std::io::Error>(Some(b"42".to_vec())) })
//!     .await?;
//! assert_eq!(value.as_deref(), Some(&b"42"[..]));
//! cache.invalidate(["answer"]).await;
//! # Ok(()) }
//! ```

mod config;
mod memory;
mod near;
mod redis;
mod stats;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use config::CacheConfig;
pub use near::LISTENER_NAME;
pub use stats::CacheStats;

use memory::MemoryStore;
use redis::RedisStore;
use stats::{Counter, Counters};

/// At most one warning per this interval while the backend keeps failing; the rest go to debug.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a cache could not be built (a backend failing later is not an error, see the crate doc).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid redis url: {0}")]
    Url(#[source] ::redis::RedisError),
    #[error("redis: {0}")]
    Redis(#[source] ::redis::RedisError),
}

/// Which backend a cache runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    Redis,
    InProcess,
}

#[derive(Debug)]
enum Store {
    Redis(RedisStore),
    Memory(MemoryStore),
}

/// A namespaced byte cache; clones share the backend and the counters.
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    prefix: String,
    default_ttl: Duration,
    counters: Counters,
    /// Bumped before every invalidation: a load that saw another value started before it and
    /// may hold a stale value, so it is not written back.
    epoch: AtomicU64,
    last_error_log: Mutex<Option<Instant>>,
    /// Reports the counters to the metrics while the cache lives.
    _metrics: fleuve_metrics::Registration,
}

impl Cache {
    /// Redis when `config.redis_url` is set, the in-process cache otherwise. Call it inside a
    /// tokio runtime. Redis is connected on first use, so an unreachable Redis does not fail this.
    pub fn new(config: &CacheConfig) -> Result<Cache, CacheError> {
        if config.redis_url.trim().is_empty() {
            return Ok(Cache::in_process(config));
        }
        Ok(Cache::with_store(Store::Redis(RedisStore::new(config)?), config))
    }

    /// The in-process cache sized by `config`, whatever its `redis_url` says.
    pub fn in_process(config: &CacheConfig) -> Cache {
        Cache::with_store(Store::Memory(MemoryStore::new(config.max_entries)), config)
    }

    fn with_store(store: Store, config: &CacheConfig) -> Cache {
        let backend = match store {
            Store::Redis(_) => "redis",
            Store::Memory(_) => "memory",
        };
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<Inner>| {
            let me = me.clone();
            // Read at scrape time while the cache lives; the registration goes with it.
            let metrics = fleuve_metrics::register_cache(config.key_prefix.clone(), backend, move || {
                me.upgrade().map(|inner| inner.counters.snapshot()).map_or_else(Default::default, |stats| {
                    fleuve_metrics::CacheCounts {
                        near_hits: stats.near_hits,
                        backend_hits: stats.hits.saturating_sub(stats.near_hits),
                        misses: stats.misses,
                        errors: stats.errors,
                    }
                })
            });
            Inner {
                store,
                prefix: config.key_prefix.clone(),
                default_ttl: config.ttl(),
                counters: Counters::default(),
                epoch: AtomicU64::new(0),
                last_error_log: Mutex::new(None),
                _metrics: metrics,
            }
        });
        Cache { inner }
    }

    pub fn backend(&self) -> CacheBackend {
        match self.inner.store {
            Store::Redis(_) => CacheBackend::Redis,
            Store::Memory(_) => CacheBackend::InProcess,
        }
    }

    /// The configured `ttl_seconds`.
    pub fn default_ttl(&self) -> Duration {
        self.inner.default_ttl
    }

    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether the near cache in front of Redis may answer now: configured, and Redis reports
    /// changes to this process (see [`CacheConfig::near_cache`]).
    pub fn near_cache_online(&self) -> bool {
        match &self.inner.store {
            Store::Redis(redis) => redis.near.as_ref().is_some_and(|near| near.is_online()),
            Store::Memory(_) => false,
        }
    }

    /// Waits up to `timeout` for the near cache to come online after connection number
    /// `after` of its listener (0 for the first); `false` if it did not.
    pub async fn wait_near_cache_online(&self, after: u64, timeout: Duration) -> bool {
        let Store::Redis(RedisStore { near: Some(near), .. }) = &self.inner.store else { return false };
        let deadline = Instant::now() + timeout;
        while !(near.is_online() && near.connections() > after) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Connections its near cache's listener made so far (0 without a near cache).
    pub fn near_cache_connections(&self) -> u64 {
        match &self.inner.store {
            Store::Redis(redis) => redis.near.as_ref().map_or(0, |near| near.connections()),
            Store::Memory(_) => 0,
        }
    }

    /// The counters since this cache (or the one it was cloned from) was built.
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// The value under `key`; `None` when absent, expired, or the backend failed.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let full = self.full_key(key);
        let found = match &self.inner.store {
            Store::Memory(memory) => memory.get(&full),
            Store::Redis(redis) => {
                let near = redis.near.as_deref();
                if let Some(found) = near.and_then(|near| near.get(&full)) {
                    self.count(Counter::NearHit, 1);
                    self.count(Counter::Hit, 1);
                    return Some(found);
                }
                let read = match near.and_then(|near| near.token(&full).map(|token| (near, token))) {
                    // The near copy must not outlive the Redis entry.
                    Some((near, token)) => redis.get_with_ttl(&full).await.map(|(found, ttl)| {
                        if let Some(value) = &found {
                            let ttl = ttl.map_or(self.inner.default_ttl, |t| t.min(self.inner.default_ttl));
                            near.insert(token, &full, value, ttl);
                        }
                        found
                    }),
                    None => redis.get(&full).await,
                };
                match read {
                    Ok(found) => found,
                    Err(error) => {
                        self.backend_failed("get", &error);
                        None
                    }
                }
            }
        };
        self.count(if found.is_some() { Counter::Hit } else { Counter::Miss }, 1);
        found
    }

    /// Stores `value` under `key` for `ttl` (Redis rounds up to whole seconds).
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let full = self.full_key(key);
        match &self.inner.store {
            Store::Memory(memory) => memory.set(full, value, ttl),
            Store::Redis(redis) => {
                if let Err(error) = redis.set(&full, value, ttl).await {
                    self.backend_failed("set", &error);
                }
            }
        }
    }

    /// Removes `keys`; what a projection calls after its commit.
    pub async fn invalidate<I, K>(&self, keys: I)
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| self.full_key(k.as_ref())).collect();
        if keys.is_empty() {
            return;
        }
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.count(Counter::Invalidation, keys.len() as u64);
        match &self.inner.store {
            Store::Memory(memory) => keys.iter().for_each(|k| memory.remove(k)),
            Store::Redis(redis) => {
                // Before the DEL and again after it: Redis reports a change after its reply,
                // and a read of the old value may land here in between.
                let near = redis.near.as_deref();
                let forget = || near.iter().for_each(|near| keys.iter().for_each(|k| near.invalidate(k)));
                forget();
                if let Err(error) = redis.delete(&keys).await {
                    self.backend_failed("invalidate", &error);
                }
                forget();
            }
        }
    }

    /// Removes every key of this cache's namespace (after a read model was rebuilt).
    pub async fn flush(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.count(Counter::Invalidation, 1);
        match &self.inner.store {
            Store::Memory(memory) => memory.clear(),
            Store::Redis(redis) => {
                let forget = || redis.near.iter().for_each(|near| near.invalidate_all());
                forget();
                let pattern = redis::namespace_pattern(&self.inner.prefix);
                match redis.delete_matching(&pattern).await {
                    Ok(deleted) => tracing::debug!(prefix = %self.inner.prefix, deleted, "cache namespace flushed"),
                    Err(error) => self.backend_failed("flush", &error),
                }
                forget();
            }
        }
    }

    /// Read-through: the cached value, or else what `load` returns, cached for `ttl` when it is
    /// `Some` (absence is not cached, so a value appears as soon as it exists). A loader error
    /// is returned as is and nothing is cached.
    pub async fn get_or_load<F, Fut, E>(&self, key: &str, ttl: Duration, load: F) -> Result<Option<Vec<u8>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Vec<u8>>, E>>,
    {
        if let Some(found) = self.get(key).await {
            return Ok(Some(found));
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        self.count(Counter::Load, 1);
        let loaded = load().await?;
        if let Some(value) = &loaded {
            // An invalidation during the load may have come after our read of the old value.
            if self.inner.epoch.load(Ordering::SeqCst) == epoch {
                self.set(key, value, ttl).await;
            }
        }
        Ok(loaded)
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}:{key}", self.inner.prefix)
    }

    fn count(&self, counter: Counter, n: u64) {
        self.inner.counters.add(counter, n);
    }

    fn backend_failed(&self, operation: &'static str, error: &::redis::RedisError) {
        self.count(Counter::Error, 1);
        let now = Instant::now();
        let mut last = self.inner.last_error_log.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| now.duration_since(at) >= ERROR_LOG_INTERVAL) {
            *last = Some(now);
            drop(last);
            let errors = self.stats().errors;
            tracing::warn!(operation, %error, errors, "cache backend failed, answering without it");
        } else {
            tracing::debug!(operation, %error, "cache backend failed, answering without it");
        }
    }
}
