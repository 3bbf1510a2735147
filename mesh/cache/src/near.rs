//! The near cache: an in-process copy of the Redis entries this process read, kept coherent
//! by Redis itself (server-assisted client-side caching, `CLIENT TRACKING ... BCAST` over
//! RESP3).
//!
//! A listener connection asks Redis to report every change of a key under the cache's
//! namespace (`<prefix>:`), whoever makes it: a projection of another replica, an expiry, a
//! flush. Each report removes the key here. While the listener is not connected the near
//! cache is off and empty, since Redis cannot report to it; lookups then go to Redis as they
//! would without it.
//!
//! Two races are closed:
//! - a report that arrives between a Redis read and the copy of its value here. Every key
//!   hashes to a stripe with a generation that each report bumps; a read takes the
//!   generation before asking Redis and keeps its copy only if the generation did not move.
//!   A report processed after the copy removes it anyway.
//! - this process's own invalidations: Redis sends a report after the reply to the DEL
//!   (redis/redis#9422), so [`NearCache::invalidate`] removes the keys here first, at once.
//!
//! What it cannot close: a listener connection that stalls without failing. A PING every
//! [`PING_INTERVAL`] (with the Redis timeout) finds it, so a change may be missed for at most
//! about that long; the near cache's own TTL bounds what is left.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};

use crate::memory::MemoryStore;

/// Generations of keys; a report bumps the stripe of its key only.
const STRIPES: usize = 64;
/// How often the listener connection is checked.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// `CLIENT SETNAME` of the listener connections, followed by `:<key prefix>` (`CLIENT LIST`
/// shows them).
pub const LISTENER_NAME: &str = "fleuve-cache-tracking";

/// The generation of a key's stripe, taken before a Redis read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    stripe: usize,
    generation: u64,
}

#[derive(Debug)]
pub(crate) struct NearCache {
    entries: MemoryStore,
    generations: [AtomicU64; STRIPES],
    hasher: RandomState,
    /// Redis reports changes to this process: the near cache may answer.
    online: AtomicBool,
    /// Listener connections established so far (tests wait on it).
    connections: AtomicU64,
}

impl NearCache {
    fn new(max_entries: u64) -> NearCache {
        NearCache {
            entries: MemoryStore::new(max_entries),
            generations: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: RandomState::new(),
            online: AtomicBool::new(false),
            connections: AtomicU64::new(0),
        }
    }

    /// A near cache of at most `max_entries`, and its listener on `client`'s server, which
    /// runs until the near cache is dropped. Must run inside a tokio runtime.
    pub(crate) fn start(client: &redis::Client, prefix: &str, max_entries: u64, timeout: Duration) -> Arc<NearCache> {
        let near = Arc::new(NearCache::new(max_entries));
        let info = client.get_connection_info().clone();
        let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let listener = Listener {
            client: redis::Client::open(info.set_redis_settings(resp3)),
            prefix: format!("{prefix}:"),
            name: format!("{LISTENER_NAME}:{prefix}").replace(|c: char| c.is_whitespace(), "_"),
            timeout,
        };
        tokio::spawn(listener.run(Arc::downgrade(&near)));
        near
    }

    pub(crate) fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        if !self.is_online() {
            return None;
        }
        self.entries.get(key)
    }

    /// Taken before reading `key` from Redis; `None` while Redis cannot report changes.
    pub(crate) fn token(&self, key: &str) -> Option<Token> {
        if !self.is_online() {
            return None;
        }
        let stripe = self.stripe(key);
        Some(Token { stripe, generation: self.generations[stripe].load(Ordering::SeqCst) })
    }

    /// Keeps `value`, read from Redis after `token` was taken, unless a change of its stripe
    /// was reported since (or the listener went away).
    pub(crate) fn insert(&self, token: Token, key: &str, value: &[u8], ttl: Duration) {
        self.entries.set(key.to_owned(), value, ttl);
        // A report counted before this check discards the copy here; one counted after it
        // removes the copy itself.
        if !self.is_online() || self.generations[token.stripe].load(Ordering::SeqCst) != token.generation {
            self.entries.remove(key);
        }
    }

    pub(crate) fn invalidate(&self, key: &str) {
        self.generations[self.stripe(key)].fetch_add(1, Ordering::SeqCst);
        self.entries.remove(key);
    }

    pub(crate) fn invalidate_all(&self) {
        for generation in &self.generations {
            generation.fetch_add(1, Ordering::SeqCst);
        }
        self.entries.clear();
    }

    fn set_online(&self, online: bool) {
        // Whatever was kept was kept under the previous connection's reports.
        self.invalidate_all();
        self.online.store(online, Ordering::SeqCst);
        self.invalidate_all();
    }

    /// Applies a report; `false` when the connection is gone.
    fn handle(&self, push: &PushInfo) -> bool {
        match push.kind {
            PushKind::Invalidate => {
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            match key {
                                Value::BulkString(bytes) => self.invalidate(&String::from_utf8_lossy(bytes)),
                                Value::SimpleString(key) => self.invalidate(key),
                                _ => self.invalidate_all(),
                            }
                        }
                    }
                    // FLUSHALL / FLUSHDB report no keys.
                    _ => self.invalidate_all(),
                }
                true
            }
            PushKind::Disconnection => false,
            _ => true,
        }
    }

    fn stripe(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % STRIPES as u64) as usize
    }
}

/// Keeps one RESP3 connection subscribed to the reports of the namespace, reconnecting with
/// backoff; the near cache is off whenever it is not subscribed.
struct Listener {
    client: redis::RedisResult<redis::Client>,
    prefix: String,
    name: String,
    timeout: Duration,
}

impl Listener {
    async fn run(self, near: Weak<NearCache>) {
        let client = match &self.client {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "near cache disabled: cannot build a RESP3 client");
                return;
            }
        };
        let mut backoff = MIN_BACKOFF;
        let mut failures = 0u32;
        while near.strong_count() > 0 {
            match self.subscribe(client, &near).await {
                Ok(()) => {
                    backoff = MIN_BACKOFF;
                    failures = 0;
                }
                Err(error) => {
                    failures += 1;
                    // Redis down is already reported by the lookups; say it once per outage.
                    if failures == 1 {
                        tracing::warn!(%error, prefix = %self.prefix, "near cache off: no change reports from Redis");
                    } else {
                        tracing::debug!(%error, failures, "near cache listener still failing");
                    }
                }
            }
            if let Some(near) = near.upgrade() {
                near.set_online(false);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Returns once the subscription is lost (or the near cache dropped).
    async fn subscribe(&self, client: &redis::Client, near: &Weak<NearCache>) -> redis::RedisResult<()> {
        let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_push_sender(sender);
        let mut connection: MultiplexedConnection =
            client.get_multiplexed_async_connection_with_config(&config).await?;
        redis::cmd("CLIENT").arg("SETNAME").arg(&self.name).exec_async(&mut connection).await?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(&self.prefix)
            .exec_async(&mut connection)
            .await?;
        {
            let Some(near) = near.upgrade() else { return Ok(()) };
            near.set_online(true);
            near.connections.fetch_add(1, Ordering::SeqCst);
        }
        tracing::debug!(prefix = %self.prefix, "near cache on: Redis reports changes");
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                report = reports.recv() => {
                    let Some(report) = report else { return Ok(()) };
                    let Some(near) = near.upgrade() else { return Ok(()) };
                    if !near.handle(&report) {
                        return Ok(());
                    }
                }
                _ = ping.tick() => {
                    if near.strong_count() == 0 {
                        return Ok(());
                    }
                    redis::cmd("PING").exec_async(&mut connection).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online() -> NearCache {
        let near = NearCache::new(100);
        near.online.store(true, Ordering::SeqCst);
        near
    }

    #[test]
    fn a_report_between_the_read_and_the_copy_discards_the_copy() {
        let near = online();
        let token = near.token("p:k").unwrap();
        near.invalidate("p:k");
        near.insert(token, "p:k", b"old", Duration::from_secs(60));
        assert_eq!(near.get("p:k"), None);

        let token = near.token("p:k").unwrap();
        near.insert(token, "p:k", b"new", Duration::from_secs(60));
        assert_eq!(near.get("p:k").as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn reports_remove_keys_and_flushes_remove_all() {
        let near = online();
        for key in ["p:a", "p:b"] {
            near.insert(near.token(key).unwrap(), key, b"v", Duration::from_secs(60));
        }
        let report =
            PushInfo { kind: PushKind::Invalidate, data: vec![Value::Array(vec![Value::BulkString(b"p:a".to_vec())])] };
        assert!(near.handle(&report));
        assert_eq!(near.get("p:a"), None);
        assert!(near.get("p:b").is_some());
        assert!(near.handle(&PushInfo { kind: PushKind::Invalidate, data: vec![Value::Nil] }));
        assert_eq!(near.get("p:b"), None);
        assert!(!near.handle(&PushInfo { kind: PushKind::Disconnection, data: vec![] }));
    }

    #[test]
    fn offline_it_answers_nothing_and_keeps_nothing() {
        let near = online();
        let token = near.token("p:k").unwrap();
        near.set_online(false);
        assert!(near.token("p:k").is_none());
        near.insert(token, "p:k", b"v", Duration::from_secs(60));
        near.online.store(true, Ordering::SeqCst);
        assert_eq!(near.get("p:k"), None);
    }
}
