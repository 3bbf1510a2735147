//! The embedded broker's request routes: tansu's own for every API, except Produce and Fetch,
//! which go through the [`RecordLog`], and the group APIs, which go to our [`GroupCoordinator`].
//!
//! Fetch in tansu 0.6.0 sleeps for the rest of `max_wait_ms` after it has read the partitions,
//! whether or not it found records, so every consumed record waits out a fetch wait (librdkafka's
//! default is 500 ms), and a short wait makes every idle consumer poll the broker hundreds of
//! times a second. [`LogFetch`] answers as soon as `min_bytes` are there and otherwise waits
//! for the next append (Kafka's long poll). [`IndexedProduce`] is tansu's produce (storage,
//! idempotence, offsets) that also indexes each accepted batch in the log.
//!
//! Produce and fetch are modelled on tansu-storage 0.6.0's `ProduceService` and `FetchService`
//! (Apache-2.0, © Peter Morgan).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rama_core::layer::{MapErrLayer, MapStateLayer};
use rama_core::{Context, Layer as _, Service};
use tansu_broker::Error as BrokerError;
use tansu_broker::service::{auth, coordinator, storage as routes};
use tansu_sans_io::fetch_request::FetchTopic;
use tansu_sans_io::fetch_response::{FetchableTopicResponse, PartitionData};
use tansu_sans_io::produce_request::PartitionProduceData;
use tansu_sans_io::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use tansu_sans_io::record::deflated::Frame;
use tansu_sans_io::{ApiKey as _, ErrorCode, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse};
use tansu_service::{
    BytesFrameLayer, BytesFrameService, FrameRequestLayer, FrameRouteBuilder, FrameRouteService, TcpBytesLayer,
    TcpBytesService, TcpContext, TcpContextLayer, TcpContextService,
};
use tansu_storage::{Error as StorageError, Storage, TopicId, Topition};
use tokio::time::Instant;

use super::durable::JournaledStorage;
use super::groups::GroupCoordinator;
use super::log::{RecordLog, Slice};

/// What one connection of the broker runs.
pub(super) type ConnectionService =
    TcpContextService<TcpBytesService<BytesFrameService<KafkaDefaults<FrameRouteService<(), BrokerError>>>, ()>>;

/// Largest response a fetch builds, as in tansu (and Kafka's `fetch.max.bytes` default is 50 MiB).
const MAX_FETCH_BYTES: usize = 5 * 1024 * 1024;

type Route =
    fn(FrameRouteBuilder<(), BrokerError>, JournaledStorage) -> Result<FrameRouteBuilder<(), BrokerError>, BrokerError>;

/// tansu's storage routes, Fetch and Produce left out.
const TANSU_ROUTES: &[Route] = &[
    routes::add_offsets_to_txn,
    routes::add_partitions_to_txn,
    routes::alter_user_scram_credentials,
    routes::consumer_group_describe,
    routes::create_acls,
    routes::create_topics,
    routes::delete_groups,
    routes::delete_records,
    routes::delete_topics,
    routes::describe_acls,
    routes::describe_cluster,
    routes::describe_configs,
    routes::describe_groups,
    routes::describe_topic_partitions,
    routes::describe_user_scram_credentials,
    routes::find_coordinator,
    routes::get_telemetry_subscriptions,
    routes::incremental_alter_configs,
    routes::init_producer_id,
    routes::list_groups,
    routes::list_offsets,
    routes::list_partition_reassignments,
    routes::metadata,
    routes::txn_offset_commit_request,
];

/// The service of one connection (what `tansu_broker::service::services` builds, with the
/// log's Produce and Fetch).
pub(super) fn connection_service(
    cluster_id: &str,
    storage: &JournaledStorage,
    groups: &GroupCoordinator,
    log: &RecordLog,
    topics: &TopicNames,
) -> Result<ConnectionService, BrokerError> {
    let mut builder = FrameRouteService::<(), BrokerError>::builder();
    for route in TANSU_ROUTES {
        builder = route(builder, storage.clone())?;
    }
    let state = storage.clone();
    builder = builder.with_route(
        ProduceRequest::KEY,
        (
            MapErrLayer::new(BrokerError::from),
            MapStateLayer::new(move |()| state),
            FrameRequestLayer::<ProduceRequest>::new(),
        )
            .into_layer(IndexedProduce { log: log.clone() })
            .boxed(),
    )?;
    let state = storage.clone();
    builder = builder.with_route(
        FetchRequest::KEY,
        (
            MapErrLayer::new(BrokerError::from),
            MapStateLayer::new(move |()| state),
            FrameRequestLayer::<FetchRequest>::new(),
        )
            .into_layer(LogFetch { log: log.clone(), topics: topics.clone() })
            .boxed(),
    )?;
    let builder = coordinator::services(builder, groups.clone())?;
    let route = KafkaDefaults { inner: auth::services(builder)?.build()? };
    Ok((
        TcpContextLayer::new(TcpContext::default().cluster_id(Some(cluster_id.to_owned()))),
        TcpBytesLayer::default(),
        BytesFrameLayer::default().with_sasl_config(None),
    )
        .into_layer(route))
}

/// Responses as a Kafka broker writes them: tansu 0.6.0 sets the tagged fields of its
/// ApiVersions response (supported and finalized features, their epoch, the ZooKeeper
/// migration flag) to their default values, and so writes them, where Kafka leaves a tagged
/// field at its default out. Valid, but librdkafka before 2.1 (Debian's kcat is 2.0.2) reads a
/// tagged field's length one byte short and fails the handshake ("read buffer underflow for
/// ApiVersion v3"); with the defaults left out the response is byte for byte what Kafka sends.
#[derive(Clone, Debug)]
pub(super) struct KafkaDefaults<S> {
    inner: S,
}

impl<S> Service<(), tansu_sans_io::Frame> for KafkaDefaults<S>
where
    S: Service<(), tansu_sans_io::Frame, Response = tansu_sans_io::Frame, Error = BrokerError>,
{
    type Response = tansu_sans_io::Frame;
    type Error = BrokerError;

    async fn serve(
        &self,
        ctx: Context<()>,
        request: tansu_sans_io::Frame,
    ) -> Result<tansu_sans_io::Frame, BrokerError> {
        let mut response = self.inner.serve(ctx, request).await?;
        if let tansu_sans_io::Body::ApiVersionsResponse(versions) = &mut response.body {
            if versions.supported_features.as_ref().is_some_and(Vec::is_empty) {
                versions.supported_features = None;
            }
            if versions.finalized_features_epoch == Some(-1) {
                versions.finalized_features_epoch = None;
            }
            if versions.finalized_features.as_ref().is_some_and(Vec::is_empty) {
                versions.finalized_features = None;
            }
            if versions.zk_migration_ready == Some(false) {
                versions.zk_migration_ready = None;
            }
        }
        Ok(response)
    }
}

/// tansu's produce that also indexes every batch the storage accepted.
#[derive(Clone, Debug)]
pub(super) struct IndexedProduce {
    log: RecordLog,
}

impl IndexedProduce {
    async fn partition<G: Storage>(
        &self,
        ctx: &Context<G>,
        transaction_id: Option<&str>,
        topic: &str,
        data: PartitionProduceData,
    ) -> PartitionProduceResponse {
        let index = data.index;
        let Some(records) = data.records else {
            return produce_error(index, ErrorCode::UnknownServerError);
        };
        let topition = Topition::new(topic, index);
        let mut base_offset = None;
        for batch in records.batches {
            let indexed = batch.clone();
            match ctx.state().produce(transaction_id, &topition, batch).await {
                Ok(offset) => {
                    self.log.append(topic, index, offset, indexed);
                    base_offset.get_or_insert(offset);
                }
                Err(StorageError::Api(code)) => {
                    tracing::debug!(topic, partition = index, ?code, "embedded broker refused a batch");
                    return produce_error(index, code);
                }
                Err(error) => {
                    tracing::warn!(topic, partition = index, %error, "embedded broker failed to store a batch");
                    return produce_error(index, ErrorCode::UnknownServerError);
                }
            }
        }
        match base_offset {
            Some(base_offset) => produce_response(index, ErrorCode::None, base_offset),
            None => produce_error(index, ErrorCode::UnknownServerError),
        }
    }
}

fn produce_error(index: i32, error_code: ErrorCode) -> PartitionProduceResponse {
    produce_response(index, error_code, -1)
}

fn produce_response(index: i32, error_code: ErrorCode, base_offset: i64) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .index(index)
        .error_code(error_code.into())
        .base_offset(base_offset)
        .log_append_time_ms(Some(-1))
        .log_start_offset(Some(0))
        .record_errors(Some([].into()))
        .error_message(None)
        .current_leader(None)
}

impl<G: Storage> Service<G, ProduceRequest> for IndexedProduce {
    type Response = ProduceResponse;
    type Error = StorageError;

    async fn serve(&self, ctx: Context<G>, req: ProduceRequest) -> Result<ProduceResponse, StorageError> {
        let transaction_id = req.transactional_id.as_deref();
        let mut responses = Vec::new();
        for topic in req.topic_data.unwrap_or_default() {
            let mut partitions = Vec::new();
            for data in topic.partition_data.unwrap_or_default() {
                partitions.push(self.partition(&ctx, transaction_id, &topic.name, data).await);
            }
            responses.push(TopicProduceResponse::default().name(topic.name).partition_responses(Some(partitions)));
        }
        Ok(ProduceResponse::default().responses(Some(responses)).throttle_time_ms(Some(0)).node_endpoints(None))
    }
}

/// Topic name and id by what a fetch names (a name before Fetch v13, an id from v13 on).
/// Topics are never deleted in the embedded broker, so a resolution stays true.
#[derive(Clone, Debug, Default)]
pub(super) struct TopicNames(Arc<Mutex<HashMap<TopicKey, ResolvedTopic>>>);

type TopicKey = (Option<String>, Option<[u8; 16]>);

#[derive(Clone, Debug)]
struct ResolvedTopic {
    name: String,
    id: Option<[u8; 16]>,
}

impl TopicNames {
    async fn resolve<G: Storage>(
        &self,
        ctx: &Context<G>,
        topic: &FetchTopic,
    ) -> Result<Option<ResolvedTopic>, StorageError> {
        if topic.topic.is_none() && topic.topic_id.is_none() {
            return Ok(None);
        }
        let key = (topic.topic.clone(), topic.topic_id);
        if let Some(found) = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(Some(found.clone()));
        }
        let metadata = ctx.state().metadata(Some(&[TopicId::from(topic)])).await?;
        let found = metadata.topics().first().and_then(|found| {
            let known = found.error_code == i16::from(ErrorCode::None);
            found.name.clone().filter(|_| known).map(|name| ResolvedTopic { name, id: found.topic_id })
        });
        if let Some(found) = &found {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key, found.clone());
        }
        Ok(found)
    }
}

/// Fetch served from the [`RecordLog`], with Kafka's long poll.
#[derive(Clone, Debug)]
pub(super) struct LogFetch {
    log: RecordLog,
    topics: TopicNames,
}

impl LogFetch {
    /// One pass over the requested partitions; returns the topics' responses and record bytes.
    fn read(
        &self,
        topics: &[FetchTopic],
        resolved: &[Option<ResolvedTopic>],
        max_bytes: usize,
    ) -> (Vec<FetchableTopicResponse>, usize) {
        let mut remaining = max_bytes;
        let mut responses = Vec::with_capacity(topics.len());
        for (topic, resolved) in topics.iter().zip(resolved) {
            let Some(resolved) = resolved else {
                responses.push(unknown_topic(topic));
                continue;
            };
            let mut partitions = Vec::new();
            for partition in topic.partitions.as_deref().unwrap_or_default() {
                let limit = remaining.min(usize::try_from(partition.partition_max_bytes).unwrap_or(0));
                let slice = self.log.read(&resolved.name, partition.partition, partition.fetch_offset, limit);
                remaining = remaining.saturating_sub(slice.bytes());
                partitions.push(partition_data(partition.partition, slice));
            }
            responses.push(
                FetchableTopicResponse::default()
                    .topic(topic.topic.clone())
                    .topic_id(resolved.id)
                    .partitions(Some(partitions)),
            );
        }
        (responses, max_bytes - remaining)
    }
}

impl<G: Storage> Service<G, FetchRequest> for LogFetch {
    type Response = FetchResponse;
    type Error = StorageError;

    async fn serve(&self, ctx: Context<G>, req: FetchRequest) -> Result<FetchResponse, StorageError> {
        let deadline = Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
        let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0).max(1);
        let max_bytes =
            req.max_bytes.map_or(MAX_FETCH_BYTES, |max| usize::try_from(max).unwrap_or(0).min(MAX_FETCH_BYTES));
        let topics = req.topics.unwrap_or_default();
        let mut resolved = Vec::with_capacity(topics.len());
        for topic in &topics {
            resolved.push(self.topics.resolve(&ctx, topic).await?);
        }
        let mut appended = self.log.subscribe();
        let responses = loop {
            // Marked seen before reading: an append during the read wakes the wait below.
            appended.borrow_and_update();
            let (responses, bytes) = self.read(&topics, &resolved, max_bytes);
            if bytes >= min_bytes || Instant::now() >= deadline {
                break responses;
            }
            match tokio::time::timeout_at(deadline, appended.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break responses,
            }
        };
        Ok(FetchResponse::default()
            .throttle_time_ms(Some(0))
            .error_code(Some(ErrorCode::None.into()))
            .session_id(Some(0))
            .node_endpoints(Some([].into()))
            .responses(Some(responses)))
    }
}

fn partition_data(index: i32, slice: Slice) -> PartitionData {
    PartitionData::default()
        .partition_index(index)
        .error_code(ErrorCode::None.into())
        .high_watermark(slice.high_watermark)
        .last_stable_offset(Some(slice.high_watermark))
        .log_start_offset(Some(0))
        .diverging_epoch(None)
        .current_leader(None)
        .snapshot_id(None)
        .aborted_transactions(Some([].into()))
        .preferred_read_replica(Some(-1))
        .records((!slice.batches.is_empty()).then_some(Frame { batches: slice.batches }))
}

/// The answer for a topic the broker does not know, as Kafka gives it: named by id (Fetch
/// v13+), the same id with UNKNOWN_TOPIC_ID, so librdkafka matches the answer to its partitions
/// and refreshes its metadata (a broker kept in a directory gives its topics new ids when it
/// starts again, and a consumer may still fetch by an old one). No leader or epoch tags.
///
/// The answer was once the zero id with a leader tag: librdkafka dropped it unread, kept
/// fetching by the stale id, and took the tag for a leader change of a topic without a name,
/// which crashed it (SIGSEGV in `rd_kafka_metadata_cache_find`).
fn unknown_topic(topic: &FetchTopic) -> FetchableTopicResponse {
    let error = match topic.topic_id {
        Some(_) => ErrorCode::UnknownTopicId,
        None => ErrorCode::UnknownTopicOrPartition,
    };
    FetchableTopicResponse::default().topic(topic.topic.clone()).topic_id(topic.topic_id.or(Some([0; 16]))).partitions(
        topic.partitions.as_ref().map(|partitions| {
            partitions
                .iter()
                .map(|partition| {
                    PartitionData::default()
                        .partition_index(partition.partition)
                        .error_code(error.into())
                        .high_watermark(-1)
                        .last_stable_offset(Some(-1))
                        .log_start_offset(Some(-1))
                        .diverging_epoch(None)
                        .current_leader(None)
                        .snapshot_id(None)
                        .aborted_transactions(None)
                        .preferred_read_replica(Some(-1))
                        .records(None)
                })
                .collect()
        }),
    )
}
