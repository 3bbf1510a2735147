//! The Redis backend: one lazily connected `ConnectionManager` (multiplexed, reconnecting), with
//! short timeouts so that an unreachable Redis costs a query little before it falls back, and
//! the near cache in front of it when configured ([`crate::near`]).

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::near::NearCache;
use crate::{CacheConfig, CacheError};

/// Keys deleted per DEL while flushing a namespace.
const FLUSH_BATCH: usize = 500;

#[derive(Clone, Debug)]
pub(crate) struct RedisStore {
    connection: ConnectionManager,
    pub(crate) near: Option<Arc<NearCache>>,
}

impl RedisStore {
    /// Must run inside a tokio runtime: the manager spawns its reconnect task there. Nothing is
    /// sent until the first command, so an unreachable Redis does not stop a service starting.
    pub(crate) fn new(config: &CacheConfig) -> Result<RedisStore, CacheError> {
        let client = redis::Client::open(config.redis_url.as_str()).map_err(CacheError::Url)?;
        let timeout = config.redis_timeout();
        // No retry loop inside a command: while Redis is down every query would wait the whole
        // backoff. A failed connection is retried on the next command instead.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let near =
            config.near_cache.then(|| NearCache::start(&client, &config.key_prefix, config.max_entries, timeout));
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config).map_err(CacheError::Redis)?;
        Ok(RedisStore { connection, near })
    }

    pub(crate) async fn get(&self, key: &str) -> redis::RedisResult<Option<Vec<u8>>> {
        self.connection.clone().get(key).await
    }

    /// The value under `key` and how long Redis keeps it (`None`: no expiry), in one round trip.
    pub(crate) async fn get_with_ttl(&self, key: &str) -> redis::RedisResult<(Option<Vec<u8>>, Option<Duration>)> {
        let (value, pttl): (Option<Vec<u8>>, i64) =
            redis::pipe().get(key).cmd("PTTL").arg(key).query_async(&mut self.connection.clone()).await?;
        Ok((value, u64::try_from(pttl).ok().map(Duration::from_millis)))
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> redis::RedisResult<()> {
        // EX takes whole seconds and refuses 0: round up so a short TTL still expires.
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        self.connection.clone().set_ex(key, value, seconds.max(1)).await
    }

    pub(crate) async fn delete(&self, keys: &[String]) -> redis::RedisResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.connection.clone().del(keys).await
    }

    /// Deletes every key matching `pattern`, walking the keyspace with SCAN (never KEYS, which
    /// blocks the server).
    pub(crate) async fn delete_matching(&self, pattern: &str) -> redis::RedisResult<u64> {
        let mut connection = self.connection.clone();
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(FLUSH_BATCH)
                .query_async(&mut connection)
                .await?;
            for chunk in keys.chunks(FLUSH_BATCH) {
                let removed: u64 = connection.del(chunk).await?;
                deleted += removed;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// `prefix` with the glob characters of SCAN MATCH escaped, followed by `:*`.
pub(crate) fn namespace_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str(":*");
    pattern
}

#[cfg(test)]
mod tests {
    use super::namespace_pattern;

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(namespace_pattern("fleuve:homologation"), "fleuve:homologation:*");
        assert_eq!(namespace_pattern("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\:*");
    }
}
