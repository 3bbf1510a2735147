//! The in-process backend: a bounded moka cache where every entry carries its own TTL.
//!
//! Only for a single process (`fleuve dev`, one replica): a projection running in another
//! process cannot invalidate it, so there the TTL alone bounds staleness.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache as Moka;

#[derive(Debug, Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Expires each entry `ttl` after it was written, whatever reads it saw.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Clone)]
pub(crate) struct MemoryStore {
    entries: Moka<String, Entry>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("entries", &self.entries.entry_count()).finish()
    }
}

impl MemoryStore {
    pub(crate) fn new(max_entries: u64) -> MemoryStore {
        MemoryStore { entries: Moka::builder().max_capacity(max_entries).expire_after(PerEntryTtl).build() }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.get(key).map(|entry| entry.value.to_vec())
    }

    pub(crate) fn set(&self, key: String, value: &[u8], ttl: Duration) {
        self.entries.insert(key, Entry { value: value.into(), ttl });
    }

    pub(crate) fn remove(&self, key: &str) {
        self.entries.invalidate(key);
    }

    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }
}
