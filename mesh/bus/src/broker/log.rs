//! The embedded broker's record log: every batch produced, indexed by partition and offset.
//!
//! tansu's in-memory storage keeps each produced batch as an object and answers a fetch by
//! listing every object of the partition, so a fetch costs O(batches ever produced); it also
//! returns only batches that *start* at or after the fetch offset, skipping the rest of a
//! batch a consumer stopped in the middle of. This log serves fetches instead: a batch is
//! found by offset in O(log n), the batch holding the fetch offset comes first (as Kafka
//! does; the client skips the records before its offset), and a fetch can wait for the next
//! append instead of polling.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tansu_sans_io::record::deflated::Batch;
use tokio::sync::watch;

/// Bytes a batch takes in a fetch response: base offset and length, then `batch_length`.
fn encoded_len(batch: &Batch) -> usize {
    12 + usize::try_from(batch.batch_length).unwrap_or(0)
}

/// The offset after the last record of `batch`.
fn next_offset(batch: &Batch) -> i64 {
    batch.base_offset + i64::from(batch.last_offset_delta) + 1
}

#[derive(Debug, Default)]
struct PartitionLog {
    batches: BTreeMap<i64, Batch>,
    /// The end of the gapless run of batches from offset 0: the high watermark. Concurrent
    /// producers to one partition may index their batches out of order; a batch past a gap
    /// stays invisible until the gap is filled, so no reader ever skips an offset.
    end: i64,
}

impl PartitionLog {
    fn insert(&mut self, base_offset: i64, mut batch: Batch) {
        batch.base_offset = base_offset;
        self.batches.insert(base_offset, batch);
        while let Some(next) = self.batches.get(&self.end) {
            self.end = next_offset(next);
        }
    }

    /// Batches from the one holding `offset`, up to `max_bytes`: at least one batch unless
    /// `max_bytes` is 0 (Kafka returns a first batch larger than the limit, so a consumer
    /// always makes progress).
    fn read(&self, offset: i64, max_bytes: usize) -> Vec<Batch> {
        if offset >= self.end {
            return Vec::new();
        }
        let start = match self.batches.range(..=offset).next_back() {
            Some((&base, batch)) if next_offset(batch) > offset => base,
            _ => offset,
        };
        let mut batches = Vec::new();
        let mut bytes = 0;
        for batch in self.batches.range(start..).map(|(_, batch)| batch) {
            let len = encoded_len(batch);
            let over = bytes + len > max_bytes && (!batches.is_empty() || max_bytes == 0);
            if batch.base_offset >= self.end || over {
                break;
            }
            bytes += len;
            batches.push(batch.clone());
        }
        batches
    }
}

/// What a partition holds for a fetch.
#[derive(Debug, Default)]
pub(super) struct Slice {
    pub batches: Vec<Batch>,
    pub high_watermark: i64,
}

impl Slice {
    pub fn bytes(&self) -> usize {
        self.batches.iter().map(encoded_len).sum()
    }
}

/// Every partition's batches, shared by the produce and fetch routes of one broker.
#[derive(Clone, Debug)]
pub(super) struct RecordLog {
    topics: Arc<Mutex<HashMap<String, HashMap<i32, PartitionLog>>>>,
    appended: Arc<watch::Sender<u64>>,
}

impl RecordLog {
    pub fn new() -> RecordLog {
        RecordLog { topics: Arc::default(), appended: Arc::new(watch::Sender::new(0)) }
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, HashMap<i32, PartitionLog>>> {
        // The map is left consistent by every holder (no panics while held).
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Indexes a batch the storage accepted at `base_offset` and wakes waiting fetches.
    pub fn append(&self, topic: &str, partition: i32, base_offset: i64, batch: Batch) {
        {
            let mut topics = self.topics();
            let partitions = match topics.get_mut(topic) {
                Some(partitions) => partitions,
                None => topics.entry(topic.to_owned()).or_default(),
            };
            partitions.entry(partition).or_default().insert(base_offset, batch);
        }
        self.appended.send_modify(|appends| *appends = appends.wrapping_add(1));
    }

    /// The batches of a partition from `offset` on, up to `max_bytes` (see `PartitionLog::read`).
    pub fn read(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize) -> Slice {
        let topics = self.topics();
        match topics.get(topic).and_then(|partitions| partitions.get(&partition)) {
            Some(log) => Slice { batches: log.read(offset, max_bytes), high_watermark: log.end },
            None => Slice::default(),
        }
    }

    /// Changes whenever a batch is appended to any partition.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn batch(records: u32) -> Batch {
        Batch {
            last_offset_delta: i32::try_from(records).unwrap() - 1,
            record_count: records,
            batch_length: 100,
            record_data: Bytes::from_static(b"x"),
            ..Batch::default()
        }
    }

    fn offsets(slice: &Slice) -> Vec<i64> {
        slice.batches.iter().map(|b| b.base_offset).collect()
    }

    #[test]
    fn a_fetch_inside_a_batch_starts_with_that_batch() {
        let log = RecordLog::new();
        log.append("t", 0, 0, batch(3));
        log.append("t", 0, 3, batch(2));
        assert_eq!(offsets(&log.read("t", 0, 0, 1 << 20)), [0, 3]);
        assert_eq!(offsets(&log.read("t", 0, 1, 1 << 20)), [0, 3]);
        assert_eq!(offsets(&log.read("t", 0, 3, 1 << 20)), [3]);
        assert_eq!(offsets(&log.read("t", 0, 4, 1 << 20)), [3]);
        assert!(log.read("t", 0, 5, 1 << 20).batches.is_empty());
        assert_eq!(log.read("t", 0, 5, 1 << 20).high_watermark, 5);
        assert_eq!(log.read("t", 1, 0, 1 << 20).high_watermark, 0);
        assert_eq!(log.read("u", 0, 0, 1 << 20).high_watermark, 0);
    }

    #[test]
    fn a_batch_past_a_gap_stays_invisible_until_the_gap_is_filled() {
        let log = RecordLog::new();
        log.append("t", 0, 0, batch(1));
        log.append("t", 0, 2, batch(1));
        let slice = log.read("t", 0, 0, 1 << 20);
        assert_eq!((offsets(&slice), slice.high_watermark), (vec![0], 1));
        assert!(log.read("t", 0, 1, 1 << 20).batches.is_empty());
        log.append("t", 0, 1, batch(1));
        let slice = log.read("t", 0, 1, 1 << 20);
        assert_eq!((offsets(&slice), slice.high_watermark), (vec![1, 2], 3));
    }

    #[test]
    fn max_bytes_bounds_a_read_but_one_batch_always_comes() {
        let log = RecordLog::new();
        for base in 0..4 {
            log.append("t", 0, base, batch(1));
        }
        assert!(log.read("t", 0, 0, 0).batches.is_empty());
        assert_eq!(offsets(&log.read("t", 0, 0, 1)), [0]);
        assert_eq!(offsets(&log.read("t", 0, 0, 224)), [0, 1]);
        assert_eq!(offsets(&log.read("t", 0, 0, 1 << 20)), [0, 1, 2, 3]);
    }

    #[test]
    fn appends_wake_subscribers() {
        let log = RecordLog::new();
        let mut changes = log.subscribe();
        assert!(!changes.has_changed().unwrap());
        log.append("t", 0, 0, batch(1));
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert!(!changes.has_changed().unwrap());
    }
}
