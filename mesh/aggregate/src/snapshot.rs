//! Snapshot policies: how an aggregate's state is written to and read from the snapshot table.

/// How an aggregate's state is snapshotted.
///
/// A snapshot is saved in the transaction of the append that crosses a multiple of `every`
/// events, so a load reads at most `every - 1` events after it. A snapshot stored under
/// another `schema_version` (the state's encoding changed) or that no longer decodes is
/// ignored: the stream is replayed, and the next snapshot replaces it.
#[derive(Debug)]
pub struct Snapshots<A> {
    /// Bump whenever `encode` changes what it writes.
    pub schema_version: i32,
    /// Events between two snapshots (at least 1).
    pub every: i64,
    pub encode: fn(&A) -> Vec<u8>,
    pub decode: fn(&[u8]) -> Result<A, prost::DecodeError>,
}

impl<A> Snapshots<A> {
    /// True when an append moving the stream from `before` to `after` crosses a multiple of
    /// `every`.
    pub fn due(&self, before: i64, after: i64) -> bool {
        let every = self.every.max(1);
        before / every != after / every
    }
}
