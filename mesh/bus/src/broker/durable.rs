//! The embedded broker kept in a directory: tansu's in-memory storage, with every change it
//! accepts also written to a journal (`broker.jsonl`, one JSON line per change) before the
//! request is answered, and replayed in the same order when the broker starts again.
//!
//! Replaying the same calls in the same order rebuilds the same state: topics with their
//! partitions and configs, every record batch at its offset, the idempotent producers' ids and
//! sequences, committed offsets. Changes go through one lock (the storage call and its journal
//! line together), so the journal's order is the order tansu applied them. Lines are written
//! without fsync: the journal survives the process being killed, not the machine losing power.
//! Two things come back different: topic ids (tansu draws a new UUID per created topic; clients
//! look them up again in the metadata after reconnecting) and consumer groups (they form again,
//! as after a Kafka restart).
//!
//! Kept in a directory, the broker refuses what it could not replay faithfully: deleting topics,
//! records or groups, and transactional producers (Fleuve's are idempotent). A journal write
//! that fails (a full disk) is cut back to its last whole line and every later change is refused
//! until a restart, so what was answered is exactly what the journal holds. One process at a
//! time: the journal is locked while the broker runs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tansu_sans_io::create_topics_request::CreatableTopic;
use tansu_sans_io::delete_groups_response::DeletableGroupResult;
use tansu_sans_io::delete_records_request::DeleteRecordsTopic;
use tansu_sans_io::delete_records_response::DeleteRecordsTopicResult;
use tansu_sans_io::describe_cluster_response::DescribeClusterBroker;
use tansu_sans_io::describe_configs_response::DescribeConfigsResult;
use tansu_sans_io::describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic;
use tansu_sans_io::incremental_alter_configs_request::AlterConfigsResource;
use tansu_sans_io::incremental_alter_configs_response::AlterConfigsResourceResponse;
use tansu_sans_io::list_groups_response::ListedGroup;
use tansu_sans_io::record::deflated;
use tansu_sans_io::txn_offset_commit_response::TxnOffsetCommitResponseTopic;
use tansu_sans_io::{ConfigResource, ErrorCode, IsolationLevel, ListOffset, ScramMechanism};
use tansu_storage::{
    BrokerRegistrationRequest, Error, GroupDetail, ListOffsetResponse, MetadataResponse, NamedGroupDetail,
    OffsetCommitRequest, OffsetStage, ProducerIdResponse, Result, ScramCredential, Storage, StorageContainer, TopicId,
    Topition, TxnAddPartitionsRequest, TxnAddPartitionsResponse, TxnOffsetCommitRequest, UpdateError, Version,
};
use tokio::sync::Mutex;
use url::Url;
use uuid::Uuid;

use super::log::RecordLog;

/// The journal's file name in the broker's directory.
pub const JOURNAL_FILE: &str = "broker.jsonl";

/// A record batch as the journal keeps it (tansu's batch serializes but does not deserialize).
#[derive(Debug, Serialize, Deserialize)]
struct StoredBatch {
    base_offset: i64,
    batch_length: i32,
    partition_leader_epoch: i32,
    magic: i8,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: u32,
    /// The records, base64.
    record_data: String,
}

impl From<&deflated::Batch> for StoredBatch {
    fn from(b: &deflated::Batch) -> StoredBatch {
        StoredBatch {
            base_offset: b.base_offset,
            batch_length: b.batch_length,
            partition_leader_epoch: b.partition_leader_epoch,
            magic: b.magic,
            crc: b.crc,
            attributes: b.attributes,
            last_offset_delta: b.last_offset_delta,
            base_timestamp: b.base_timestamp,
            max_timestamp: b.max_timestamp,
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            base_sequence: b.base_sequence,
            record_count: b.record_count,
            record_data: base64::engine::general_purpose::STANDARD.encode(&b.record_data),
        }
    }
}

impl StoredBatch {
    fn batch(self) -> std::result::Result<deflated::Batch, String> {
        let record_data =
            base64::engine::general_purpose::STANDARD.decode(&self.record_data).map_err(|e| e.to_string())?;
        Ok(deflated::Batch {
            base_offset: self.base_offset,
            batch_length: self.batch_length,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: self.magic,
            crc: self.crc,
            attributes: self.attributes,
            last_offset_delta: self.last_offset_delta,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.record_count,
            record_data: Bytes::from(record_data),
        })
    }
}

/// One change tansu's storage accepted.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Entry {
    CreateTopic {
        topic: CreatableTopic,
    },
    AlterResource {
        resource: AlterConfigsResource,
    },
    Produce {
        transaction_id: Option<String>,
        topition: Topition,
        batch: StoredBatch,
    },
    OffsetCommit {
        group_id: String,
        retention_ms: Option<u64>,
        offsets: Vec<(Topition, OffsetCommitRequest)>,
    },
    InitProducer {
        transaction_id: Option<String>,
        timeout_ms: i32,
        producer_id: Option<i64>,
        producer_epoch: Option<i16>,
    },
}

#[derive(Debug)]
struct JournalFile {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines written.
    len: u64,
    /// A write failed: no change is accepted until the broker starts again.
    broken: bool,
}

impl JournalFile {
    fn append(&mut self, entry: &Entry) -> Result<()> {
        self.refusing()?;
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::Message(e.to_string()))?;
        line.push(b'\n');
        match self.file.write_all(&line) {
            Ok(()) => {
                self.len += u64::try_from(line.len()).unwrap_or(u64::MAX);
                Ok(())
            }
            Err(error) => {
                self.broken = true;
                let _ = self.file.set_len(self.len);
                tracing::error!(path = %self.path.display(), %error, "embedded broker journal write failed: refusing changes until restarted");
                Err(Error::Message(format!("{}: {error}", self.path.display())))
            }
        }
    }

    fn refusing(&self) -> Result<()> {
        match self.broken {
            true => Err(Error::Message(format!("{}: an earlier write failed", self.path.display()))),
            false => Ok(()),
        }
    }
}

/// What a broker kept in a directory refuses (it could not replay it faithfully).
fn refused<T>(what: &str) -> Result<T> {
    tracing::debug!(what, "embedded broker kept in a directory: refused");
    Err(Error::Api(ErrorCode::PolicyViolation))
}

/// Tells whether a journal is still open somewhere (its file, and so its lock, is closed once
/// every clone of the storage is dropped: the broker's tasks are gone).
#[derive(Debug, Clone)]
pub(super) struct JournalHandle(std::sync::Weak<Mutex<JournalFile>>);

impl JournalHandle {
    pub fn is_open(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// tansu's storage, journaled when the broker is kept in a directory.
#[derive(Clone, Debug)]
pub(super) struct JournaledStorage {
    inner: StorageContainer,
    journal: Option<Arc<Mutex<JournalFile>>>,
}

impl JournaledStorage {
    /// A handle telling when the journal is closed; `None` in memory.
    pub fn handle(&self) -> Option<JournalHandle> {
        self.journal.as_ref().map(|journal| JournalHandle(Arc::downgrade(journal)))
    }

    /// Storage that keeps nothing beyond the process.
    pub fn memory(inner: StorageContainer) -> JournaledStorage {
        JournaledStorage { inner, journal: None }
    }

    /// Replays the journal in `dir` (created if missing) into `inner`, indexing every batch in
    /// `log`, and returns the storage that journals from now on, with the batches replayed.
    pub async fn open(inner: StorageContainer, dir: &Path, log: &RecordLog) -> Result<(JournaledStorage, usize)> {
        let failed = |e: std::io::Error| Error::Message(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(failed)?;
        let path = dir.join(JOURNAL_FILE);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(failed)?;
        file.try_lock()
            .map_err(|error| Error::Message(format!("{}: in use by another process ({error})", path.display())))?;
        let mut good = 0u64;
        let mut batches = 0;
        let mut reader = BufReader::new(&mut file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(failed)?;
            if read == 0 {
                break;
            }
            // A line the process was killed in the middle of: its change was never answered.
            if line.last() != Some(&b'\n') {
                break;
            }
            let entry = serde_json::from_slice::<Entry>(&line).map_err(|error| {
                Error::Message(format!("{}: damaged entry at byte {good}: {error}", path.display()))
            })?;
            batches += usize::from(replay(&inner, entry, log).await?);
            good += u64::try_from(read).unwrap_or(u64::MAX);
        }
        drop(reader);
        if file.metadata().map_err(failed)?.len() > good {
            tracing::warn!(path = %path.display(), at = good, "embedded broker journal: dropping an unfinished last entry");
            file.set_len(good).map_err(failed)?;
        }
        file.seek(std::io::SeekFrom::Start(good)).map_err(failed)?;
        let journal = JournalFile { path, file, len: good, broken: false };
        Ok((JournaledStorage { inner, journal: Some(Arc::new(Mutex::new(journal))) }, batches))
    }

    /// Runs a change and, when it succeeds, writes `entry` before answering; changes are
    /// serialised so the journal's order is the order they were applied in.
    async fn change<T, F>(&self, entry: impl FnOnce(&T) -> Option<Entry>, run: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let Some(journal) = &self.journal else { return run.await };
        let mut journal = journal.lock().await;
        journal.refusing()?;
        let outcome = run.await?;
        if let Some(entry) = entry(&outcome) {
            journal.append(&entry)?;
        }
        Ok(outcome)
    }
}

/// Applies one journal entry; true when it was a record batch (indexed in `log`).
async fn replay(storage: &StorageContainer, entry: Entry, log: &RecordLog) -> Result<bool> {
    match entry {
        Entry::CreateTopic { topic } => {
            storage.create_topic(topic, false).await?;
        }
        Entry::AlterResource { resource } => {
            storage.incremental_alter_resource(resource).await?;
        }
        Entry::Produce { transaction_id, topition, batch } => {
            let batch = batch.batch().map_err(Error::Message)?;
            let indexed = batch.clone();
            let offset = storage.produce(transaction_id.as_deref(), &topition, batch).await?;
            log.append(topition.topic(), topition.partition(), offset, indexed);
            return Ok(true);
        }
        Entry::OffsetCommit { group_id, retention_ms, offsets } => {
            storage.offset_commit(&group_id, retention_ms.map(Duration::from_millis), &offsets).await?;
        }
        Entry::InitProducer { transaction_id, timeout_ms, producer_id, producer_epoch } => {
            storage.init_producer(transaction_id.as_deref(), timeout_ms, producer_id, producer_epoch).await?;
        }
    }
    Ok(false)
}

#[async_trait]
impl Storage for JournaledStorage {
    async fn register_broker(&self, broker_registration: BrokerRegistrationRequest) -> Result<()> {
        self.inner.register_broker(broker_registration).await
    }

    async fn create_topic(&self, topic: CreatableTopic, validate_only: bool) -> Result<Uuid> {
        if validate_only {
            // tansu's in-memory storage creates the topic even then: answer without it.
            let name = TopicId::Name(topic.name.clone());
            let known = self.inner.metadata(Some(&[name])).await?;
            let exists = known.topics().first().is_some_and(|t| t.error_code == i16::from(ErrorCode::None));
            return if exists { Err(Error::Api(ErrorCode::TopicAlreadyExists)) } else { Ok(Uuid::nil()) };
        }
        let entry = Entry::CreateTopic { topic: topic.clone() };
        self.change(|_| Some(entry), self.inner.create_topic(topic, false)).await
    }

    async fn incremental_alter_resource(&self, resource: AlterConfigsResource) -> Result<AlterConfigsResourceResponse> {
        let entry = Entry::AlterResource { resource: resource.clone() };
        self.change(|_| Some(entry), self.inner.incremental_alter_resource(resource)).await
    }

    // The record log the fetches read keeps every batch, kept in a directory or not: records
    // and topics are never deleted in the embedded broker.
    async fn delete_records(&self, _topics: &[DeleteRecordsTopic]) -> Result<Vec<DeleteRecordsTopicResult>> {
        refused("DeleteRecords")
    }

    async fn delete_topic(&self, _topic: &TopicId) -> Result<ErrorCode> {
        Ok(ErrorCode::TopicDeletionDisabled)
    }

    async fn brokers(&self) -> Result<Vec<DescribeClusterBroker>> {
        self.inner.brokers().await
    }

    async fn produce(&self, transaction_id: Option<&str>, topition: &Topition, batch: deflated::Batch) -> Result<i64> {
        // Encoded only when there is a journal to write it to.
        let entry = self.journal.is_some().then(|| Entry::Produce {
            transaction_id: transaction_id.map(str::to_owned),
            topition: topition.clone(),
            batch: StoredBatch::from(&batch),
        });
        self.change(|_| entry, self.inner.produce(transaction_id, topition, batch)).await
    }

    async fn fetch(
        &self,
        topition: &'_ Topition,
        offset: i64,
        min_bytes: u32,
        max_bytes: u32,
        isolation: IsolationLevel,
    ) -> Result<Vec<deflated::Batch>> {
        self.inner.fetch(topition, offset, min_bytes, max_bytes, isolation).await
    }

    async fn offset_stage(&self, topition: &Topition) -> Result<OffsetStage> {
        self.inner.offset_stage(topition).await
    }

    async fn list_offsets(
        &self,
        isolation_level: IsolationLevel,
        offsets: &[(Topition, ListOffset)],
    ) -> Result<Vec<(Topition, ListOffsetResponse)>> {
        self.inner.list_offsets(isolation_level, offsets).await
    }

    async fn offset_commit(
        &self,
        group_id: &str,
        retention_time_ms: Option<Duration>,
        offsets: &[(Topition, OffsetCommitRequest)],
    ) -> Result<Vec<(Topition, ErrorCode)>> {
        let entry = Entry::OffsetCommit {
            group_id: group_id.to_owned(),
            retention_ms: retention_time_ms.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            offsets: offsets.to_vec(),
        };
        self.change(|_| Some(entry), self.inner.offset_commit(group_id, retention_time_ms, offsets)).await
    }

    async fn offset_fetch(
        &self,
        group_id: Option<&str>,
        topics: &[Topition],
        require_stable: Option<bool>,
    ) -> Result<BTreeMap<Topition, i64>> {
        self.inner.offset_fetch(group_id, topics, require_stable).await
    }

    async fn committed_offset_topitions(&self, group_id: &str) -> Result<BTreeMap<Topition, i64>> {
        self.inner.committed_offset_topitions(group_id).await
    }

    async fn metadata(&self, topics: Option<&[TopicId]>) -> Result<MetadataResponse> {
        self.inner.metadata(topics).await
    }

    async fn upsert_user_scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    ) -> Result<()> {
        self.inner.upsert_user_scram_credential(user, mechanism, credential).await
    }

    async fn delete_user_scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Result<()> {
        self.inner.delete_user_scram_credential(user, mechanism).await
    }

    async fn user_scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Result<Option<ScramCredential>> {
        self.inner.user_scram_credential(user, mechanism).await
    }

    async fn describe_config(
        &self,
        name: &str,
        resource: ConfigResource,
        keys: Option<&[String]>,
    ) -> Result<DescribeConfigsResult> {
        self.inner.describe_config(name, resource, keys).await
    }

    async fn list_groups(&self, states_filter: Option<&[String]>) -> Result<Vec<ListedGroup>> {
        self.inner.list_groups(states_filter).await
    }

    async fn delete_groups(&self, group_ids: Option<&[String]>) -> Result<Vec<DeletableGroupResult>> {
        match self.journal {
            // Its committed offsets would come back from the journal.
            Some(_) => refused("DeleteGroups"),
            None => self.inner.delete_groups(group_ids).await,
        }
    }

    async fn describe_groups(
        &self,
        group_ids: Option<&[String]>,
        include_authorized_operations: bool,
    ) -> Result<Vec<NamedGroupDetail>> {
        self.inner.describe_groups(group_ids, include_authorized_operations).await
    }

    async fn describe_topic_partitions(
        &self,
        topics: Option<&[TopicId]>,
        partition_limit: i32,
        cursor: Option<Topition>,
    ) -> Result<Vec<DescribeTopicPartitionsResponseTopic>> {
        self.inner.describe_topic_partitions(topics, partition_limit, cursor).await
    }

    async fn update_group(
        &self,
        group_id: &str,
        detail: GroupDetail,
        version: Option<Version>,
    ) -> std::result::Result<Version, UpdateError<GroupDetail>> {
        self.inner.update_group(group_id, detail, version).await
    }

    async fn init_producer(
        &self,
        transaction_id: Option<&str>,
        transaction_timeout_ms: i32,
        producer_id: Option<i64>,
        producer_epoch: Option<i16>,
    ) -> Result<ProducerIdResponse> {
        if self.journal.is_some() && transaction_id.is_some() {
            // Transaction markers are written inside tansu's storage, past the journal.
            return Ok(ProducerIdResponse { error: ErrorCode::TransactionalIdAuthorizationFailed, id: -1, epoch: -1 });
        }
        let entry = Entry::InitProducer {
            transaction_id: transaction_id.map(str::to_owned),
            timeout_ms: transaction_timeout_ms,
            producer_id,
            producer_epoch,
        };
        let run = self.inner.init_producer(transaction_id, transaction_timeout_ms, producer_id, producer_epoch);
        self.change(|r: &ProducerIdResponse| (r.error == ErrorCode::None).then_some(entry), run).await
    }

    // Transactions: served in memory; kept in a directory, no transactional producer gets an
    // id (see `init_producer`), so none of these is reached.
    async fn txn_add_offsets(
        &self,
        transaction_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<ErrorCode> {
        self.inner.txn_add_offsets(transaction_id, producer_id, producer_epoch, group_id).await
    }

    async fn txn_add_partitions(&self, partitions: TxnAddPartitionsRequest) -> Result<TxnAddPartitionsResponse> {
        self.inner.txn_add_partitions(partitions).await
    }

    async fn txn_offset_commit(&self, offsets: TxnOffsetCommitRequest) -> Result<Vec<TxnOffsetCommitResponseTopic>> {
        self.inner.txn_offset_commit(offsets).await
    }

    async fn txn_end(
        &self,
        transaction_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        committed: bool,
    ) -> Result<ErrorCode> {
        self.inner.txn_end(transaction_id, producer_id, producer_epoch, committed).await
    }

    async fn maintain(&self, now: SystemTime) -> Result<()> {
        self.inner.maintain(now).await
    }

    async fn cluster_id(&self) -> Result<String> {
        self.inner.cluster_id().await
    }

    async fn node(&self) -> Result<i32> {
        self.inner.node().await
    }

    async fn advertised_listener(&self) -> Result<Url> {
        self.inner.advertised_listener().await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}
