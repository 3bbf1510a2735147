//! What selects and sizes the cache: a Redis URL, or nothing for the in-process cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Cache settings. An empty `redis_url` selects the in-process cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `redis://host:port/db` (or `rediss://` with TLS support compiled in); empty = in-process.
    pub redis_url: String,
    /// Lifetime of an entry when the caller gives none ([`crate::Cache::default_ttl`]).
    pub ttl_seconds: u64,
    /// Bound of the in-process cache, and of the near cache in front of Redis (entries);
    /// Redis is bounded by its own `maxmemory`.
    pub max_entries: u64,
    /// Namespace of every key: `<key_prefix>:<key>`. Flushing removes exactly this namespace.
    pub key_prefix: String,
    /// Connect and response timeout of Redis, in milliseconds: how long a query may wait on an
    /// unreachable Redis before it falls back to its loader.
    pub redis_timeout_ms: u64,
    /// With Redis: keep what this process read in memory too, invalidated by Redis's change
    /// reports (`CLIENT TRACKING` in BCAST mode over RESP3, Redis 6 or later). Off, every
    /// lookup is a Redis round trip.
    pub near_cache: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            redis_url: String::new(),
            ttl_seconds: 300,
            max_entries: 10_000,
            key_prefix: "fleuve".to_owned(),
            redis_timeout_ms: 250,
            near_cache: true,
        }
    }
}

impl CacheConfig {
    /// The in-process cache with the default sizes and the given namespace.
    pub fn in_process(key_prefix: impl Into<String>) -> CacheConfig {
        CacheConfig { key_prefix: key_prefix.into(), ..CacheConfig::default() }
    }

    /// Redis at `redis_url` with the default sizes and the given namespace.
    pub fn redis(redis_url: impl Into<String>, key_prefix: impl Into<String>) -> CacheConfig {
        CacheConfig { redis_url: redis_url.into(), key_prefix: key_prefix.into(), ..CacheConfig::default() }
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    pub(crate) fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms.max(1))
    }
}
