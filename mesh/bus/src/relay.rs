//! The outbox relay: publishes committed outbox rows to Kafka in the Confluent wire format, then marks them published.
//!
//! Delivery is at least once: a batch is first published (every delivery awaited) and only
//! then marked in one transaction, so a crash in between republishes the batch (duplicates,
//! which consumers drop by event id) and never loses a row. Run one relay per database: rows
//! are not claimed (see `fleuve_store::event_store::outbox_pending`).
//!
//! Dropping an [`OutboxRelay`] drops its librdkafka producer, which blocks until in-flight
//! requests end; with the embedded broker on the same runtime use [`OutboxRelay::close`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use fleuve_store::Database;
use fleuve_store::event_store::{
    OutboxRow, RecordedEvent, outbox_mark_published, outbox_pending, outbox_pending_after, outbox_record_failure,
};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};

use crate::schema::{ProtoCatalog, RegisteredSchema, SchemaRegistryClient, TopicSchema};
use crate::{BusConfig, BusError};

/// Rows read and published per batch. `fleuve bench relay` measures this size by default: on
/// 2026-12-06 batches of 256 drained at 0.33× a bare producer, of 1 000 at 0.41–0.43× and of
/// 2 000 at 0.46× (within the noise of 1 000).
pub const DEFAULT_BATCH_SIZE: i64 = 1_000;
/// Pause between polls of an empty outbox. 10 ms keeps publication latency low (the outbox is
/// one primary-key range query: published rows are deleted), at about 100 cheap queries a
/// second when idle.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// First pause after a failed batch; doubles on each further failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between retries of a failing batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// librdkafka gives up on a record after this long (its default is 5 minutes), so a broken
/// topic surfaces as a recorded failure rather than a relay stuck on one batch.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// One outbox row with its event, as read by [`OutboxRelay::pending`].
pub type OutboxEntry = (OutboxRow, RecordedEvent);

/// What publishing a batch did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Rows (their positions) delivered and safe to mark published.
    pub delivered: Vec<i64>,
    /// Rows not delivered, with the reason (recorded on the row by [`OutboxRelay::mark`]).
    pub failed: Vec<(i64, String)>,
    /// Rows delivered after an earlier row of the same key failed: left unmarked so that the
    /// next batch republishes them after the failed row, keeping per-aggregate order (the
    /// consumer sees a duplicate, never a gap or a reordering).
    pub held_back: Vec<i64>,
}

/// Rows of one batch handed to the producer, with their pending deliveries.
struct Produced {
    /// (outbox position, topic, aggregate id) per row, in batch order.
    rows: Vec<(i64, String, String)>,
    deliveries: Vec<Result<DeliveryFuture, String>>,
    /// The publish span of each row, ended when its delivery is settled.
    spans: Vec<tracing::Span>,
    /// When the rows were handed to the producer (the publish latency's start).
    enqueued: std::time::Instant,
}

/// Publishes the outbox of one database to Kafka.
pub struct OutboxRelay {
    db: Database,
    bus: BusConfig,
    producer: FutureProducer,
    registry: SchemaRegistryClient,
    topics: HashMap<String, TopicSchema>,
    registered: HashMap<String, RegisteredSchema>,
    batch_size: i64,
    poll_interval: Duration,
    message_timeout: Duration,
    /// Set when a settled batch showed the producer stuck (see `settle`); the producer is
    /// replaced when the next drain or publication starts, so a batch still in flight on the
    /// old one is settled first rather than purged.
    stale: bool,
}

impl std::fmt::Debug for OutboxRelay {
    // FutureProducer has no Debug; the rest says which relay this is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("topics", &self.topics.keys().collect::<Vec<_>>())
            .field("registered", &self.registered)
            .field("batch_size", &self.batch_size)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    /// A relay for the Fleuve contracts: `topics` are registered in the registry at
    /// `registry_url` before the first publication. Creates the idempotent producer.
    pub fn new(
        db: Database,
        bus: &BusConfig,
        registry_url: &str,
        topics: Vec<TopicSchema>,
    ) -> Result<OutboxRelay, BusError> {
        let registry = SchemaRegistryClient::with_access(registry_url, ProtoCatalog::fleuve()?, &bus.registry)?;
        OutboxRelay::with_registry(db, bus, registry, topics)
    }

    /// Like [`OutboxRelay::new`] with a registry client of another catalog.
    pub fn with_registry(
        db: Database,
        bus: &BusConfig,
        registry: SchemaRegistryClient,
        topics: Vec<TopicSchema>,
    ) -> Result<OutboxRelay, BusError> {
        let producer = create_producer(bus, DEFAULT_MESSAGE_TIMEOUT)?;
        let topics = topics.into_iter().map(|t| (t.topic.clone(), t)).collect();
        Ok(OutboxRelay {
            db,
            bus: bus.clone(),
            producer,
            registry,
            topics,
            registered: HashMap::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            stale: false,
        })
    }

    pub fn with_batch_size(mut self, batch_size: i64) -> OutboxRelay {
        self.batch_size = batch_size.max(1);
        self
    }

    pub fn with_poll_interval(mut self, poll_interval: Duration) -> OutboxRelay {
        self.poll_interval = poll_interval;
        self
    }

    /// How long librdkafka tries to deliver a record before it reports it failed
    /// ([`DEFAULT_MESSAGE_TIMEOUT`]); recreates the producer.
    pub fn with_message_timeout(mut self, message_timeout: Duration) -> Result<OutboxRelay, BusError> {
        self.message_timeout = message_timeout;
        self.producer = create_producer(&self.bus, message_timeout)?;
        Ok(self)
    }

    /// The registered schema of `topic`, once [`OutboxRelay::register_schemas`] ran.
    pub fn registered(&self, topic: &str) -> Option<&RegisteredSchema> {
        self.registered.get(topic)
    }

    /// Registers every topic not registered yet; ids are cached for the relay's lifetime.
    pub async fn register_schemas(&mut self) -> Result<(), BusError> {
        for (topic, schema) in &self.topics {
            if !self.registered.contains_key(topic) {
                let registered = self.registry.register_topic(schema).await?;
                self.registered.insert(topic.clone(), registered);
            }
        }
        Ok(())
    }

    /// Up to one batch of unpublished rows, oldest first.
    pub async fn pending(&self) -> Result<Vec<OutboxEntry>, BusError> {
        let limit = self.batch_size;
        Ok(self.db.run(move |conn| outbox_pending(conn, limit)).await?)
    }

    /// Produces every row of `batch` and awaits all deliveries; marks nothing.
    ///
    /// Registers the schemas first if needed (an unreachable registry fails the whole batch,
    /// before anything is sent). A row whose topic has no schema fails, loudly.
    pub async fn publish(&mut self, batch: &[OutboxEntry]) -> Result<PublishReport, BusError> {
        self.replace_producer_if_failed()?;
        self.register_schemas().await?;
        let produced = self.enqueue(batch);
        self.settle(produced, &mut HashSet::new()).await
    }

    /// Enqueues every row of `batch` (pipelined, ordered per partition by the idempotent
    /// producer) without awaiting anything; the schemas must be registered.
    fn enqueue(&self, batch: &[OutboxEntry]) -> Produced {
        let mut produced = Produced {
            rows: Vec::with_capacity(batch.len()),
            deliveries: Vec::with_capacity(batch.len()),
            spans: Vec::with_capacity(batch.len()),
            enqueued: std::time::Instant::now(),
        };
        for (row, event) in batch {
            produced.rows.push((row.position, row.topic.clone(), event.aggregate_id.clone()));
            let span = publish_span(&row.topic, event);
            let traceparent = fleuve_mesh::telemetry::traceparent(&span);
            produced.spans.push(span);
            let Some(schema) = self.registered.get(&row.topic) else {
                let error = format!("no schema registered for topic {}", row.topic);
                tracing::error!(outbox_position = row.position, topic = %row.topic, event_id = %event.event_id, "{error}");
                produced.deliveries.push(Err(error));
                continue;
            };
            let value = schema.frame(&event.payload);
            // The consumer continues the trace from this publish span, itself a child of the
            // request that recorded the event.
            let headers = headers(event, traceparent.as_deref().or(event.trace_context.as_deref()));
            let record = FutureRecord::to(&row.topic).key(&event.aggregate_id).payload(&value).headers(headers);
            produced.deliveries.push(self.producer.send_result(record).map_err(|(error, _)| error.to_string()));
        }
        produced
    }

    /// Awaits the deliveries of `produced`. A row of a key in `broken` (a row of that key
    /// failed earlier, in this batch or an earlier one of the same drain) is held back even
    /// when delivered; the keys of rows that fail join `broken`.
    async fn settle(
        &mut self,
        produced: Produced,
        broken: &mut HashSet<(String, String)>,
    ) -> Result<PublishReport, BusError> {
        let mut outcomes = Vec::with_capacity(produced.deliveries.len());
        let mut spans = produced.spans.into_iter();
        let (mut refused, mut timed_out, mut delivered) = (false, false, false);
        for delivery in produced.deliveries {
            let outcome = match delivery {
                Err(error) => Err(error),
                Ok(future) => match future.await {
                    Ok(Ok(_)) => {
                        delivered = true;
                        Ok(())
                    }
                    Ok(Err((error, _))) => {
                        refused |= is_refused_identity(&error);
                        timed_out |= is_timed_out(&error);
                        Err(error.to_string())
                    }
                    Err(_) => Err("producer dropped the delivery".to_owned()),
                },
            };
            // Deliveries complete in order per partition, so the time this one is seen is
            // close to its acknowledgement; so does its span end.
            if let (Some(span), Err(error)) = (spans.next(), &outcome) {
                span.record("otel.status_code", "ERROR");
                span.record("error", error.as_str());
            }
            outcomes.push((outcome, produced.enqueued.elapsed().as_secs_f64()));
        }
        // Replaced when the next drain starts (see `stale`).
        self.stale |= refused || (timed_out && !delivered);

        let mut report = PublishReport::default();
        let metrics = fleuve_metrics::metrics();
        for ((position, topic, aggregate_id), (outcome, seconds)) in produced.rows.into_iter().zip(outcomes) {
            match &outcome {
                Ok(()) => metrics.relay_published(&topic, seconds),
                Err(_) => metrics.relay_failed(&topic),
            }
            let key = (topic, aggregate_id);
            match outcome {
                Err(error) => {
                    tracing::warn!(outbox_position = position, topic = %key.0, %error, "outbox row not delivered");
                    broken.insert(key);
                    report.failed.push((position, error));
                }
                Ok(()) if broken.contains(&key) => report.held_back.push(position),
                Ok(()) => report.delivered.push(position),
            }
        }
        Ok(report)
    }

    /// Marks the delivered rows published and records the failures, in one transaction.
    /// Returns how many rows were marked.
    pub async fn mark(&self, report: &PublishReport) -> Result<usize, BusError> {
        mark(&self.db, report.clone()).await
    }

    /// Publishes until it has caught up with the outbox, as a pipeline: while batch N's
    /// deliveries are awaited, batch N+1 has been read (rows after N's last position) and enqueued,
    /// and N-1 is being marked. Each batch is still marked only after its own deliveries, and
    /// the producer keeps the enqueue order per partition. A batch that is not full ends the
    /// drain once it is marked: rows of transactions that committed after a later position was read
    /// (positions are taken at insert, not at commit) sit below the read-ahead point, and the next
    /// drain, which reads from the oldest row again, picks them up.
    ///
    /// Returns how many rows were published. A batch with undelivered rows ends the drain in
    /// [`BusError::Delivery`] after recording them; rows of their keys enqueued after them (in
    /// that batch or the next) are left unmarked, so the next drain, which starts again from
    /// the oldest unpublished row, republishes each key in order (consumers see duplicates,
    /// which they drop, never a gap).
    pub async fn drain(&mut self) -> Result<usize, BusError> {
        self.replace_producer_if_failed()?;
        self.register_schemas().await?;
        let limit = self.batch_size;
        let read = |db: Database, after: i64| {
            tokio::spawn(async move { db.run(move |conn| outbox_pending_after(conn, after, limit)).await })
        };
        let mut next = Some(read(self.db.clone(), 0));
        let mut in_flight: Option<Produced> = None;
        let mut marking: Option<tokio::task::JoinHandle<Result<usize, BusError>>> = None;
        let mut broken = HashSet::new();
        let mut published = 0;
        loop {
            let produced = match next.take() {
                Some(reading) => {
                    let batch = join_task(reading.await)??;
                    if let Some((last, _)) = batch.last()
                        && i64::try_from(batch.len()).unwrap_or(i64::MAX) >= limit
                    {
                        next = Some(read(self.db.clone(), last.position));
                    }
                    (!batch.is_empty()).then(|| self.enqueue(&batch))
                }
                None => None,
            };
            // The batch just enqueued goes in flight; the one before it is settled now.
            let Some(previous) = std::mem::replace(&mut in_flight, produced) else {
                if in_flight.is_none() {
                    break;
                }
                continue;
            };
            let report = self.settle(previous, &mut broken).await?;
            crate::failpoints::crash_point!("relay-before-mark");
            if let Some(marking) = marking.take() {
                published += join_task(marking.await)??;
            }
            if let Some((position, error)) = report.failed.first() {
                if let Some(next) = next.take() {
                    next.abort();
                }
                let failed = report.failed.len();
                let first = format!("outbox row {position}: {error}");
                published += mark(&self.db, report).await?;
                // The next batch is in flight already: its rows of the failed keys are held
                // back, the others marked.
                if let Some(produced) = in_flight.take() {
                    let after = self.settle(produced, &mut broken).await?;
                    published += mark(&self.db, after).await?;
                }
                tracing::debug!(published, "outbox drain stopped on a failed batch");
                return Err(BusError::Delivery { failed, first });
            }
            let db = self.db.clone();
            marking = Some(tokio::spawn(async move { mark(&db, report).await }));
            if in_flight.is_none() {
                break;
            }
        }
        if let Some(marking) = marking.take() {
            published += join_task(marking.await)??;
        }
        Ok(published)
    }

    /// Publishes and marks one batch; returns how many rows were published. Rows that failed
    /// are recorded, and the batch then ends in [`BusError::Delivery`].
    pub async fn run_once(&mut self) -> Result<usize, BusError> {
        let batch = self.pending().await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let report = self.publish(&batch).await?;
        let marked = self.mark(&report).await?;
        match report.failed.first() {
            None => Ok(marked),
            Some((position, error)) => Err(BusError::Delivery {
                failed: report.failed.len(),
                first: format!("outbox row {position}: {error}"),
            }),
        }
    }

    /// Relays until `shutdown` completes: a full batch is followed at once by the next; once
    /// caught up, the outbox is looked at again after a commit of this process that queued
    /// rows, or every `poll_interval`; failures back off exponentially up to [`MAX_BACKOFF`].
    /// Stopping mid-batch is safe: unmarked rows are republished next time.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = INITIAL_BACKOFF;
        let poll_interval = self.poll_interval;
        loop {
            let drained = tokio::select! {
                () = &mut shutdown => return,
                result = self.drain() => result,
            };
            match drained {
                Ok(published) => {
                    if published > 0 {
                        tracing::debug!(published, "outbox drained");
                    }
                    // Caught up (a drain reads until a batch is not full). A commit of this
                    // process that queued rows, during the drain or after, wakes the relay at
                    // once; commits of other processes are seen at the next poll.
                    backoff = INITIAL_BACKOFF;
                    let db = self.db.clone();
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(poll_interval) => {}
                        () = db.committed() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, retry_in = ?backoff, "outbox relay failed");
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }

    /// An idempotent producer that hit a fatal error (e.g. a sequence gap after a record timed
    /// out) refuses every further record; so does one the broker refused as it is, without
    /// librdkafka calling it fatal (`stale`, set by `settle`). A fresh producer starts a new
    /// idempotent session; the rows the old one failed are republished from the outbox. At
    /// most once per drain: a broker that stays down costs one new producer per failed drain.
    fn replace_producer_if_failed(&mut self) -> Result<(), BusError> {
        let fatal = self.producer.client().fatal_error();
        if fatal.is_some() || self.stale {
            tracing::error!(
                ?fatal,
                stale = self.stale,
                "kafka producer failed fatally or is stuck; creating a new one"
            );
            let failed = std::mem::replace(&mut self.producer, create_producer(&self.bus, self.message_timeout)?);
            self.stale = false;
            // Closing blocks on the broker, so not on an async worker.
            tokio::task::spawn_blocking(move || drop(failed));
        }
        Ok(())
    }

    /// Drops the relay off the async workers: closing the producer blocks on the broker.
    pub async fn close(self) {
        if let Err(error) = tokio::task::spawn_blocking(move || drop(self)).await {
            tracing::warn!(%error, "closing the outbox relay failed");
        }
    }
}

/// Marks the delivered rows of `report` published and records its failures, in one
/// transaction; without failures, on PostgreSQL, the marking is one DELETE, atomic on its own
/// (SQLite writes go through the queue of write transactions).
async fn mark(db: &Database, report: PublishReport) -> Result<usize, BusError> {
    if report.failed.is_empty() && db.backend() == fleuve_store::Backend::Postgres {
        if report.delivered.is_empty() {
            return Ok(0);
        }
        return Ok(db.run(move |conn| outbox_mark_published(conn, &report.delivered)).await?);
    }
    let marked = db
        .transaction::<_, fleuve_store::StoreError, _>(move |conn| {
            for (position, error) in &report.failed {
                outbox_record_failure(conn, *position, error)?;
            }
            outbox_mark_published(conn, &report.delivered)
        })
        .await?;
    Ok(marked)
}

/// Whether the broker refused a record for its producer's identity (id and epoch), which no
/// retry by the same producer can get past: seen after a 30 s freeze of the embedded broker,
/// every later record refused for minutes.
fn is_refused_identity(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::ProducerFenced
                | Code::InvalidProducerEpoch
                | Code::UnknownProducerId
                | Code::InvalidProducerIdMapping
        )
    )
}

/// Whether librdkafka gave up on a record after the message timeout. A batch of which nothing
/// was delivered and something timed out makes the relay replace its producer: the embedded
/// broker restarted without its state answers the old producer id with `UNKNOWN_PRODUCER_ID`,
/// which librdkafka retries until every record times out, drain after drain, while a new
/// producer delivers at once (`mesh/bus/tests/relay.rs`). Apache Kafka recovers such a
/// producer itself (KIP-360); there a replacement costs a reconnection.
fn is_timed_out(error: &rdkafka::error::KafkaError) -> bool {
    error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::MessageTimedOut)
}

fn join_task<T>(joined: Result<T, tokio::task::JoinError>) -> Result<T, BusError> {
    joined.map_err(|e| BusError::Task(format!("relay task failed: {e}")))
}

fn create_producer(bus: &BusConfig, message_timeout: Duration) -> Result<FutureProducer, BusError> {
    let timeout_ms = message_timeout.as_millis().max(1).to_string();
    Ok(bus.producer_config().set("message.timeout.ms", timeout_ms).create()?)
}

/// The record headers of an event (ARCHITECTURE.md, Contracts).
/// The producer span of one outbox row, parented on the trace of the request that recorded
/// the event, with OpenTelemetry's messaging attributes.
fn publish_span(topic: &str, event: &RecordedEvent) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "kafka.publish",
        otel.name = %format!("{topic} publish"),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "kafka",
        messaging.destination.name = %topic,
        messaging.operation = "publish",
        messaging.message.id = %event.event_id,
        messaging.kafka.message.key = %event.aggregate_id,
        event_type = %event.event_type,
        correlation_id = %event.correlation_id,
        error = tracing::field::Empty,
    );
    fleuve_mesh::telemetry::continue_trace(&span, event.trace_context.as_deref());
    span
}

fn headers(event: &RecordedEvent, traceparent: Option<&str>) -> OwnedHeaders {
    let event_id = event.event_id.to_string();
    let version = event.version.to_string();
    let recorded_at = event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut headers = OwnedHeaders::new_with_capacity(10)
        .insert(Header { key: "event_id", value: Some(event_id.as_str()) })
        .insert(Header { key: "event_type", value: Some(event.event_type.as_str()) })
        .insert(Header { key: "aggregate_type", value: Some(event.aggregate_type.as_str()) })
        .insert(Header { key: "aggregate_id", value: Some(event.aggregate_id.as_str()) })
        .insert(Header { key: "aggregate_version", value: Some(version.as_str()) })
        .insert(Header { key: "correlation_id", value: Some(event.correlation_id.as_str()) })
        .insert(Header { key: "recorded_at", value: Some(recorded_at.as_str()) });
    if let Some(causation_id) = &event.causation_id {
        headers = headers.insert(Header { key: "causation_id", value: Some(causation_id.as_str()) });
    }
    headers = headers.insert(Header { key: "actor", value: Some(event.actor.as_str()) });
    if let Some(traceparent) = traceparent {
        headers = headers.insert(Header { key: "traceparent", value: Some(traceparent) });
    }
    headers
}
