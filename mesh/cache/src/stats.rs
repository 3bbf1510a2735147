//! Counters of cache outcomes, shared by every clone of a cache and read by tests and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters of one cache since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Of `hits`, those the near cache answered without asking Redis.
    pub near_hits: u64,
    /// Lookups the cache could not answer (absent, expired, or the backend failed).
    pub misses: u64,
    /// Loader calls made by [`crate::Cache::get_or_load`].
    pub loads: u64,
    /// Keys invalidated (each key asked for counts, present or not); a flush counts one.
    pub invalidations: u64,
    /// Backend failures (Redis unreachable, timed out, refused a command).
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    near_hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    invalidations: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Hit,
    NearHit,
    Miss,
    Load,
    Invalidation,
    Error,
}

impl Counters {
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let cell = match counter {
            Counter::Hit => &self.hits,
            Counter::NearHit => &self.near_hits,
            Counter::Miss => &self.misses,
            Counter::Load => &self.loads,
            Counter::Invalidation => &self.invalidations,
            Counter::Error => &self.errors,
        };
        // Counters are statistics: no ordering with other memory is needed.
        cell.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            near_hits: self.near_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
