//! The consumer runtime: one Kafka consumer group per [`Projection`], each record applied
//! exactly once.
//!
//! For every record: decode the Confluent frame and resolve its schema id → ONE transaction
//! holding the inbox row (consumer, event id) and the projection's writes → commit → store
//! the offset (librdkafka commits stored offsets in the background, and synchronously on
//! shutdown). A redelivery finds its inbox row and changes nothing.
//!
//! Up to [`Projection::concurrency`] records of different keys are applied at once; records of
//! one key are applied one at a time, in order. They run in at most
//! [`ConsumerSettings::max_transactions`] transactions: the records that arrive while those
//! are busy are applied together in the next one, each with its inbox row, and if any of them
//! fails the lot is rolled back and each record goes its own way as below.
//!
//! Failures:
//! - a conflict ([`HandlerError::Conflict`], another writer moved a stream the handler read)
//!   is retried at once on fresh state;
//! - transient ([`HandlerError::Transient`], a database error) are retried with exponential
//!   backoff, up to [`ConsumerSettings::max_attempts`], then parked;
//! - an unreachable database ([`HandlerError::Unavailable`], and a trivial query fails too)
//!   is waited out with backoff, however long it lasts, without counting an attempt: the
//!   record is never parked for it; if the database answers, the attempt counts;
//! - poison records (not a Confluent frame, unknown schema id, a message the projection does
//!   not expect, [`HandlerError::Permanent`]) are parked at once.
//!
//! Parking writes the record to the `dead_letters` table (error, topic, partition, offset,
//! correlation id, the record itself) and copies it to `<topic>.dlq`; the offset then moves
//! on, so other keys keep flowing. Later records of a key that has a parked record are parked
//! behind it, which keeps each aggregate's order. [`ProjectionConsumer::redrive`] applies a
//! parked record again once its cause is fixed, through the same inbox, so exactly once.
//!
//! An unreachable registry or database is not the record's fault: the runtime waits and
//! retries without moving the offset.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleuve_store::Database;
use fleuve_store::consumer::{
    DeadLetter, DeadLetterStatus, InboxClaim, NewDeadLetter, dead_letter_get, dead_letter_park,
    dead_letter_parked_for_key, dead_letter_record_failure, dead_letter_resolve, inbox_claim,
};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rdkafka::Message as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::{Instrument as _, field};

use crate::projection::{ConsumedEvent, HandlerError, Projection};
use crate::schema::{ResolveError, SchemaResolver, decode_confluent};
use crate::{BusConfig, BusError};
use fleuve_metrics::RecordOutcome;

/// Conflicts in a row retried at once before they count as failed attempts (a key that keeps
/// losing races is then backed off like any transient failure).
const FREE_CONFLICTS: u32 = 20;

/// Suffix of the dead-letter topic of each consumed topic.
pub const DLQ_SUFFIX: &str = ".dlq";

/// Pause before a consumer that failed for good is replaced; it doubles while replacements
/// keep failing, up to [`MAX_REPLACEMENT_PAUSE`], and starts over once one lasted longer.
const FIRST_REPLACEMENT_PAUSE: Duration = Duration::from_secs(1);
const MAX_REPLACEMENT_PAUSE: Duration = Duration::from_secs(60);
/// How often a consumer looks for a fatal error librdkafka has not reported as a receive error.
const FATAL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How [`ProjectionConsumer::consume`] ended.
enum Ended {
    Shutdown,
    /// librdkafka's fatal error, and when it was seen: the consumer receives nothing more.
    Fatal(String, Instant),
}

/// The fatal error of `consumer`, if librdkafka raised one.
fn fatal_error<C: rdkafka::consumer::ConsumerContext>(consumer: &StreamConsumer<C>) -> Option<String> {
    consumer.client().fatal_error().map(|(code, reason)| format!("{code:?}: {reason}"))
}

/// Tuning of a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Attempts of a transiently failing record before it is parked.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How often librdkafka commits the stored offsets.
    pub commit_interval: Duration,
    /// Kafka consumer group; the projection's name when `None`. Another group starts again
    /// from the earliest offsets (a replay; the inbox keeps it harmless).
    pub group_id: Option<String>,
    /// Static membership (`group.instance.id`): a replica restarted with the same id takes
    /// its partitions back at once instead of waiting for the group to evict its dead
    /// predecessor. Must be unique per replica (e.g. the pod name); `None` joins dynamically.
    pub instance_id: Option<String>,
    /// Upper bound of [`Projection::concurrency`]: records of different keys applied at once.
    pub max_concurrency: usize,
    /// Transactions a consumer runs at once. Records that arrive while they are all busy are
    /// applied together in the next one (group commit: one BEGIN/COMMIT and one WAL flush for
    /// the lot), within [`Projection::concurrency`]. Raise it when the database is far away.
    pub max_transactions: usize,
    /// How often librdkafka reports the consumer's statistics, from which the lag of each
    /// assigned partition (high watermark - committed offset) is published as a gauge.
    pub lag_interval: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> ConsumerSettings {
        ConsumerSettings {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            commit_interval: Duration::from_millis(500),
            group_id: None,
            instance_id: None,
            max_concurrency: 8,
            max_transactions: 2,
            lag_interval: Duration::from_secs(5),
        }
    }
}

/// A record as received, owned so it can be retried, parked and redriven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
    pub timestamp: Option<DateTime<Utc>>,
}

impl RawRecord {
    pub fn from_message(message: &BorrowedMessage<'_>) -> RawRecord {
        let mut headers = BTreeMap::new();
        if let Some(list) = message.headers() {
            for header in list.iter() {
                if let Some(value) = header.value {
                    headers.insert(header.key.to_owned(), String::from_utf8_lossy(value).into_owned());
                }
            }
        }
        RawRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp().to_millis().and_then(DateTime::from_timestamp_millis),
        }
    }

    /// The record a dead letter keeps.
    pub fn from_dead_letter(letter: &DeadLetter) -> RawRecord {
        RawRecord {
            topic: letter.topic.clone(),
            partition: letter.partition,
            offset: letter.offset,
            key: letter.key.clone(),
            value: letter.value.clone(),
            headers: serde_json::from_str(&letter.headers).unwrap_or_default(),
            timestamp: None,
        }
    }

    fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).map(String::as_str)
    }
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Applied,
    /// Its event was applied before (inbox row found): nothing changed.
    Duplicate,
    /// Written to the dead-letter table and topic.
    Parked {
        id: i64,
        reason: String,
    },
}

/// The result of one redrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveOutcome {
    pub id: i64,
    /// Resolved: applied now, or found applied already.
    pub redriven: bool,
    /// Why the letter stays parked.
    pub error: Option<String>,
}

/// The records a consumer holds: which keys are being applied (with the records of the
/// same key waiting behind), and per partition the received offsets not yet stored.
#[derive(Debug, Default)]
struct Pipeline {
    busy: HashMap<String, VecDeque<RawRecord>>,
    waiting: usize,
    /// (topic, partition) → offset → settled.
    offsets: HashMap<(String, i32), BTreeMap<i64, bool>>,
}

impl Pipeline {
    /// Takes a received record; returns it when it can be applied now (its key is free).
    fn admit(&mut self, record: RawRecord) -> Option<RawRecord> {
        self.offsets.entry((record.topic.clone(), record.partition)).or_default().insert(record.offset, false);
        let Some(key) = &record.key else { return Some(record) };
        match self.busy.get_mut(key) {
            Some(waiting) => {
                waiting.push_back(record);
                self.waiting += 1;
                None
            }
            None => {
                self.busy.insert(key.clone(), VecDeque::new());
                Some(record)
            }
        }
    }

    /// Marks `record` settled. Returns the offset to store for its partition, if the settled
    /// run at the front of the partition grew, and the next record of its key, if one waits.
    fn settled(&mut self, record: &RawRecord) -> (Option<i64>, Option<RawRecord>) {
        let mut store = None;
        if let Some(offsets) = self.offsets.get_mut(&(record.topic.clone(), record.partition)) {
            if let Some(settled) = offsets.get_mut(&record.offset) {
                *settled = true;
            }
            while let Some(first) = offsets.first_entry() {
                if !*first.get() {
                    break;
                }
                store = Some(first.remove_entry().0);
            }
        }
        let next = record.key.as_ref().and_then(|key| {
            let next = self.busy.get_mut(key).and_then(VecDeque::pop_front);
            match next {
                Some(_) => self.waiting -= 1,
                None => {
                    self.busy.remove(key);
                }
            }
            next
        });
        (store, next)
    }
}

/// What a consumer settled so far ([`ProjectionConsumer::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Records settled (applied, found applied before, or parked).
    pub settled: u64,
    /// Groups of records taken up by a transaction (a group of one is a record on its own).
    pub groups: u64,
    /// Records applied in a transaction shared with other records.
    pub applied_together: u64,
    /// Kafka consumers replaced after librdkafka declared them failed for good.
    pub replaced: u64,
}

#[derive(Debug, Default)]
struct Counters {
    settled: AtomicU64,
    groups: AtomicU64,
    together: AtomicU64,
    replaced: AtomicU64,
}

/// Why a record could not be turned into an event: parked at once, or waited out.
enum Refusal {
    Poison(String),
    Unavailable(String),
}

/// Runs one projection as a Kafka consumer group.
pub struct ProjectionConsumer {
    projection: Arc<dyn Projection>,
    db: Database,
    bus: BusConfig,
    resolver: SchemaResolver,
    dlq: FutureProducer,
    settings: ConsumerSettings,
    /// Topic → message the projection expects there.
    expected: HashMap<String, String>,
    stats: Counters,
}

impl std::fmt::Debug for ProjectionConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionConsumer")
            .field("projection", &self.projection.name())
            .field("topics", &self.expected.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ProjectionConsumer {
    pub fn new(
        projection: Arc<dyn Projection>,
        db: Database,
        bus: &BusConfig,
        registry_url: &str,
        settings: ConsumerSettings,
    ) -> Result<ProjectionConsumer, BusError> {
        let expected = projection.topics().into_iter().map(|t| (t.topic, t.message)).collect();
        let dlq = bus.producer_config().set("message.timeout.ms", "10000").create()?;
        Ok(ProjectionConsumer {
            projection,
            db,
            bus: bus.clone(),
            resolver: SchemaResolver::with_access(registry_url, &bus.registry)?,
            dlq,
            settings,
            expected,
            stats: Counters::default(),
        })
    }

    pub fn name(&self) -> &str {
        self.projection.name()
    }

    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    /// The consumed topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.expected.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Creates the dead-letter topics (`<topic>.dlq`).
    pub async fn ensure_dlq_topics(&self, partitions: i32, replication: i32) -> Result<(), BusError> {
        let names: Vec<String> = self.topics().iter().map(|t| format!("{t}{DLQ_SUFFIX}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        crate::ensure_topics(&self.bus, &refs, partitions, replication).await
    }

    /// Consumes until `shutdown` completes, then commits the stored offsets. Needs a
    /// multi-thread runtime (closing the consumer blocks on the broker).
    ///
    /// A consumer that librdkafka declares failed for good is replaced by a new one, after a
    /// pause that doubles up to a minute while replacements keep failing (or cannot be
    /// created). Kafka fences a static member (`FENCED_INSTANCE_ID`, fatal in librdkafka) whose
    /// commit or heartbeat still names the member id it had before its session lapsed, once
    /// its instance has joined again under a new one, as can happen when the broker restarts;
    /// before, the consumer then received nothing for good. Its records come again from the
    /// committed offsets; the inbox drops those that were applied, and a record parked before
    /// keeps its one dead letter. (Two replicas sharing an instance id fence each other in
    /// turn, loudly, at that pace.)
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) -> Result<(), BusError> {
        tokio::pin!(shutdown);
        let mut pause = FIRST_REPLACEMENT_PAUSE;
        let mut consumer = self.subscribe()?;
        loop {
            let started = Instant::now();
            let (fatal, lived) = match self.consume(&consumer, &mut shutdown).await {
                Ended::Shutdown => {
                    let name = self.name().to_owned();
                    tokio::task::block_in_place(move || {
                        if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                            tracing::debug!(consumer = name, %error, "final offset commit");
                        }
                        drop(consumer);
                    });
                    tracing::info!(consumer = self.name(), "consumer stopped");
                    return Ok(());
                }
                Ended::Fatal(reason, at) => (reason, at.duration_since(started)),
            };
            if lived > MAX_REPLACEMENT_PAUSE {
                pause = FIRST_REPLACEMENT_PAUSE;
            }
            tracing::error!(consumer = self.name(), error = %fatal, retry_in = ?pause, "kafka consumer failed fatally; replacing it");
            // Closing blocks on the broker, so not on an async worker.
            tokio::task::block_in_place(move || drop(consumer));
            consumer = loop {
                tokio::select! {
                    () = &mut shutdown => {
                        tracing::info!(consumer = self.name(), "consumer stopped");
                        return Ok(());
                    }
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_REPLACEMENT_PAUSE);
                match self.subscribe() {
                    Ok(consumer) => break consumer,
                    Err(error) => {
                        tracing::error!(consumer = self.name(), %error, retry_in = ?pause, "cannot create the replacement consumer");
                    }
                }
            };
            self.stats.replaced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A consumer of the projection's topics in its group, subscribed.
    fn subscribe(&self) -> Result<StreamConsumer<LagReporter>, BusError> {
        let group = self.settings.group_id.clone().unwrap_or_else(|| self.name().to_owned());
        let interval = self.settings.commit_interval.as_millis().max(1).to_string();
        let mut config = self.bus.consumer_config(&group);
        // Offsets are stored by hand after each record's transaction commits; librdkafka
        // commits what was stored.
        config.set("enable.auto.commit", "true").set("auto.commit.interval.ms", &interval);
        if let Some(instance) = self.settings.instance_id.as_deref().filter(|i| !i.is_empty()) {
            config.set("group.instance.id", instance);
        }
        config.set("statistics.interval.ms", self.settings.lag_interval.as_millis().max(100).to_string());
        let consumer: StreamConsumer<LagReporter> = config.create_with_context(LagReporter { group: group.clone() })?;
        let topics = self.topics();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        tracing::info!(consumer = self.name(), group, ?topics, "consumer started");
        Ok(consumer)
    }

    /// Applies what `consumer` receives until `shutdown` completes or the consumer fails for
    /// good; in the second case, after the transactions running then have ended.
    async fn consume(
        self: &Arc<Self>,
        consumer: &StreamConsumer<LagReporter>,
        shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> Ended {
        // Up to `concurrency` records of different keys are applied at once; a record whose
        // key is busy waits behind it, so each key keeps its order. A partition's offset is
        // stored only up to the last record before its oldest unsettled one.
        let concurrency = self.projection.concurrency().min(self.settings.max_concurrency).max(1);
        let transactions = self.settings.max_transactions.max(1);
        let mut pipeline = Pipeline::default();
        // Admitted records (their keys are free) waiting for a transaction, and how many
        // records the running transactions hold.
        let mut ready: Vec<RawRecord> = Vec::new();
        let mut applying = 0usize;
        let mut running = FuturesUnordered::new();
        // librdkafka reports a fatal error as a receive error, but the receive is not polled
        // while the pipeline is full (`room`): this tick checks then too.
        let mut check = tokio::time::interval(FATAL_CHECK_INTERVAL);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fatal = loop {
            if running.len() < transactions && !ready.is_empty() {
                let batch = std::mem::take(&mut ready);
                applying += batch.len();
                running.push(self.settle(batch));
            }
            let room = applying + ready.len() < concurrency && pipeline.waiting < concurrency * 4;
            tokio::select! {
                () = shutdown.as_mut() => {
                    // Records still being applied are dropped unsettled: their offsets were
                    // not stored, so they come again and the inbox drops what did commit.
                    return Ended::Shutdown;
                }
                received = consumer.recv(), if room => {
                    match received.map(|m| RawRecord::from_message(&m)) {
                        Ok(record) => {
                            if let Some(record) = pipeline.admit(record) {
                                ready.push(record);
                            }
                        }
                        Err(error) => {
                            if let Some(fatal) = fatal_error(consumer) {
                                break fatal;
                            }
                            tracing::warn!(consumer = self.name(), %error, "kafka receive failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                _ = check.tick() => {
                    if let Some(fatal) = fatal_error(consumer) {
                        break fatal;
                    }
                }
                Some(records) = running.next(), if !running.is_empty() => {
                    crate::failpoints::crash_point!("consumer-before-offset-store");
                    applying -= records.len();
                    for record in records {
                        let (store, next) = pipeline.settled(&record);
                        if let Some(offset) = store
                            && let Err(error) = consumer.store_offset(&record.topic, record.partition, offset)
                        {
                            // A revoked partition: the next owner gets the record again; the inbox drops it.
                            tracing::warn!(consumer = self.name(), %error, topic = %record.topic, "cannot store offset");
                        }
                        if let Some(next) = next {
                            ready.push(next);
                        }
                    }
                }
            }
        };
        let seen = Instant::now();
        // The transactions running end before the replacement starts, which gets their
        // records again (nothing more can be committed by this consumer).
        tokio::select! {
            () = shutdown.as_mut() => Ended::Shutdown,
            () = async { while running.next().await.is_some() {} } => Ended::Fatal(fatal, seen),
        }
    }

    /// Applies (or parks) `records`, together when they can be, and hands them back once
    /// settled.
    fn settle(self: &Arc<Self>, records: Vec<RawRecord>) -> Pin<Box<dyn Future<Output = Vec<RawRecord>> + Send>> {
        let this = self.clone();
        Box::pin(async move {
            match records.as_slice() {
                [record] => {
                    this.process(record).await;
                }
                batch => this.process_together(batch).await,
            }
            this.stats.settled.fetch_add(records.len() as u64, Ordering::Relaxed);
            this.stats.groups.fetch_add(1, Ordering::Relaxed);
            records
        })
    }

    /// Applies (or parks) one record. Waits out an unreachable registry or database, so it
    /// returns only once the record is settled.
    pub async fn process(&self, record: &RawRecord) -> Disposition {
        let span = self.span(record);
        self.process_in_span(record).instrument(span).await
    }

    /// The span of one record's processing, continuing the trace of its producer.
    fn span(&self, record: &RawRecord) -> tracing::Span {
        let span = tracing::info_span!(
            "kafka.consume",
            otel.name = %format!("{} process", record.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.destination.name = %record.topic,
            messaging.operation = "process",
            messaging.message.id = record.header("event_id").unwrap_or(""),
            messaging.consumer.group.name = %self.name(),
            messaging.kafka.partition = record.partition,
            messaging.kafka.offset = record.offset,
            consumer = %self.name(),
            event_id = record.header("event_id").unwrap_or(""),
            event_type = record.header("event_type").unwrap_or(""),
            correlation_id = record.header("correlation_id").unwrap_or(""),
            trace_id = field::Empty,
        );
        if let Some(trace_id) = fleuve_mesh::telemetry::continue_trace(&span, record.header("traceparent")) {
            span.record("trace_id", trace_id.as_str());
        }
        span
    }

    /// Applies records of different keys in ONE transaction (inbox rows included), each under
    /// its own span. A record that cannot be decoded now, and every record if any of them fails
    /// (the transaction is rolled back), goes through [`process`](Self::process) on its own.
    async fn process_together(&self, records: &[RawRecord]) {
        let mut together = Vec::with_capacity(records.len());
        let mut alone = Vec::new();
        for record in records {
            match self.decode(record).await {
                Ok(event) => {
                    let span = self.span(record);
                    together.push((record, hand_on_trace(event, &span), span));
                }
                Err(_) => alone.push(record),
            }
        }
        if together.len() > 1 {
            let projection = self.projection.clone();
            let work: Vec<(ConsumedEvent, tracing::Span)> =
                together.iter().map(|(_, event, span)| (event.clone(), span.clone())).collect();
            let result = self
                .db
                .transaction::<_, HandlerError, _>(move |conn| {
                    let mut claims = Vec::with_capacity(work.len());
                    for (event, span) in &work {
                        let _entered = span.enter();
                        let claim = inbox_claim(conn, &event.inbox_entry(projection.name()), event.key.as_deref())?;
                        match claim {
                            InboxClaim::Claimed => projection.apply(conn, event)?,
                            InboxClaim::Seen => {}
                            // Parked on its own, behind the letter of its key.
                            InboxClaim::Blocked(id) => {
                                return Err(HandlerError::Permanent(format!("key waits behind dead letter {id}")));
                            }
                        }
                        claims.push(claim);
                    }
                    crate::failpoints::crash_point!("consumer-before-commit");
                    Ok(claims)
                })
                .await;
            match result {
                Ok(claims) => {
                    self.stats.together.fetch_add(together.len() as u64, Ordering::Relaxed);
                    for ((_, event, span), claim) in together.iter().zip(claims) {
                        if claim == InboxClaim::Claimed {
                            self.observe_applied(event);
                            span.in_scope(|| tracing::info!(lag_ms = lag_ms(event), "event applied"));
                            self.projection.applied(event).instrument(span.clone()).await;
                        } else {
                            fleuve_metrics::metrics().consumer_record(self.name(), RecordOutcome::applied);
                            span.in_scope(|| tracing::info!("duplicate event skipped"));
                        }
                    }
                    together.clear();
                }
                Err(error) => {
                    tracing::debug!(consumer = self.name(), records = together.len(), %error, "applying records together failed, one by one");
                }
            }
        }
        alone.extend(together.iter().map(|(record, _, _)| *record));
        futures::future::join_all(alone.into_iter().map(|record| self.process(record))).await;
    }

    /// Counts an applied event and how long after being recorded it was applied, with its
    /// trace as the exemplar.
    fn observe_applied(&self, event: &ConsumedEvent) {
        let metrics = fleuve_metrics::metrics();
        metrics.consumer_record(self.name(), RecordOutcome::applied);
        let trace_id = event.traceparent.as_deref().and_then(|t| t.split('-').nth(1));
        let lag = (Utc::now() - event.recorded_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        metrics.projection_lag(self.name(), lag, trace_id);
    }

    /// What this consumer settled so far.
    pub fn stats(&self) -> ConsumerStats {
        ConsumerStats {
            settled: self.stats.settled.load(Ordering::Relaxed),
            groups: self.stats.groups.load(Ordering::Relaxed),
            applied_together: self.stats.together.load(Ordering::Relaxed),
            replaced: self.stats.replaced.load(Ordering::Relaxed),
        }
    }

    async fn process_in_span(&self, record: &RawRecord) -> Disposition {
        let mut backoff = self.settings.initial_backoff;
        let mut attempts = 0u32;
        let mut conflicts = 0u32;
        loop {
            let event = match self.decode(record).await {
                Ok(event) => hand_on_trace(event, &tracing::Span::current()),
                Err(Refusal::Poison(reason)) => return self.park(record, reason, 1).await,
                Err(Refusal::Unavailable(reason)) => {
                    tracing::warn!(%reason, retry_in = ?backoff, "cannot decode the record yet");
                    backoff = self.pause(backoff).await;
                    continue;
                }
            };
            attempts += 1;
            match self.apply(&event).await {
                Ok(disposition) => {
                    match &disposition {
                        Disposition::Applied => {
                            self.observe_applied(&event);
                            self.projection.applied(&event).await;
                            tracing::info!(lag_ms = lag_ms(&event), "event applied");
                        }
                        Disposition::Duplicate => {
                            fleuve_metrics::metrics().consumer_record(self.name(), RecordOutcome::applied);
                            tracing::info!("duplicate event skipped");
                        }
                        Disposition::Parked { id, reason } => {
                            tracing::warn!(dead_letter = id, %reason, "record parked")
                        }
                    }
                    return disposition;
                }
                Err(HandlerError::Permanent(reason)) => return self.park(record, reason, attempts as i32).await,
                Err(HandlerError::Unavailable(reason)) if !self.db.answers().await => {
                    // The database is down: no fault of the record, and no attempt counted.
                    attempts -= 1;
                    fleuve_metrics::metrics().consumer_record(self.name(), RecordOutcome::retried);
                    tracing::warn!(%reason, retry_in = ?backoff, "database unavailable, retrying");
                    backoff = self.pause(backoff).await;
                }
                Err(HandlerError::Conflict(reason)) if conflicts < FREE_CONFLICTS => {
                    // Another record (or process) changed a stream this one read: what it
                    // decided may no longer hold, so decide again at once on fresh state.
                    conflicts += 1;
                    attempts -= 1;
                    tracing::debug!(conflicts, %reason, "lost a race on a shared stream, retrying");
                    tokio::time::sleep(Duration::from_millis(u64::from(conflicts))).await;
                }
                // Unavailable here: the database answers others, so this record's own statement
                // lost its connection (a backend killed by what it ran): an attempt like any.
                Err(
                    HandlerError::Conflict(reason)
                    | HandlerError::Transient(reason)
                    | HandlerError::Unavailable(reason),
                ) if attempts >= self.settings.max_attempts => {
                    return self
                        .park(record, format!("still failing after {attempts} attempts: {reason}"), attempts as i32)
                        .await;
                }
                Err(
                    HandlerError::Conflict(reason)
                    | HandlerError::Transient(reason)
                    | HandlerError::Unavailable(reason),
                ) => {
                    fleuve_metrics::metrics().consumer_record(self.name(), RecordOutcome::retried);
                    tracing::warn!(attempt = attempts, %reason, retry_in = ?backoff, "event not applied, retrying");
                    backoff = self.pause(backoff).await;
                }
            }
        }
    }

    async fn pause(&self, backoff: Duration) -> Duration {
        tokio::time::sleep(backoff).await;
        (backoff * 2).min(self.settings.max_backoff)
    }

    /// Frame → schema id → message name → event, checked against what the projection expects.
    async fn decode(&self, record: &RawRecord) -> Result<ConsumedEvent, Refusal> {
        let Some(expected) = self.expected.get(&record.topic) else {
            return Err(Refusal::Poison(format!("topic {} is not consumed by {}", record.topic, self.name())));
        };
        let value = record.value.as_deref().ok_or_else(|| Refusal::Poison("record has no value".into()))?;
        let (schema_id, indexes, payload) =
            decode_confluent(value).map_err(|e| Refusal::Poison(format!("not a Confluent protobuf frame: {e}")))?;
        let message = match self.resolver.message_name(schema_id, &indexes).await {
            Ok(message) => message,
            Err(ResolveError::Unknown(reason)) => return Err(Refusal::Poison(reason)),
            Err(ResolveError::Unavailable(reason)) => return Err(Refusal::Unavailable(reason)),
        };
        if &message != expected {
            return Err(Refusal::Poison(format!(
                "schema {schema_id} is {message}, {} expects {expected} on {}",
                self.name(),
                record.topic
            )));
        }
        let header = |name: &str| -> Result<String, Refusal> {
            record.header(name).map(str::to_owned).ok_or_else(|| Refusal::Poison(format!("missing header {name}")))
        };
        let event_id = header("event_id")?;
        let aggregate_version = header("aggregate_version")?
            .parse::<i64>()
            .map_err(|e| Refusal::Poison(format!("header aggregate_version: {e}")))?;
        let aggregate_id = match record.header("aggregate_id") {
            Some(id) => id.to_owned(),
            None => record.key.clone().ok_or_else(|| Refusal::Poison("no aggregate id (header or key)".into()))?,
        };
        Ok(ConsumedEvent {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            key: record.key.clone(),
            message,
            payload: payload.to_vec(),
            event_id,
            event_type: header("event_type")?,
            aggregate_type: record.header("aggregate_type").unwrap_or_default().to_owned(),
            aggregate_id,
            aggregate_version,
            correlation_id: record.header("correlation_id").unwrap_or_default().to_owned(),
            causation_id: record.header("causation_id").map(str::to_owned),
            actor: record.header("actor").unwrap_or_default().to_owned(),
            traceparent: record.header("traceparent").map(str::to_owned),
            recorded_at: record
                .header("recorded_at")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .or(record.timestamp)
                .unwrap_or_else(Utc::now),
        })
    }

    /// ONE transaction: a key already parked parks this record too; else the inbox row and
    /// the projection's writes (the parked check and the inbox row are one statement on
    /// PostgreSQL). A database failure is transient.
    async fn apply(&self, event: &ConsumedEvent) -> Result<Disposition, HandlerError> {
        let projection = self.projection.clone();
        let event = event.clone();
        let claim = self
            .db
            .transaction::<_, HandlerError, _>(move |conn| {
                let entry = event.inbox_entry(projection.name());
                let claim = inbox_claim(conn, &entry, event.key.as_deref())?;
                if claim == InboxClaim::Claimed {
                    projection.apply(conn, &event)?;
                }
                crate::failpoints::crash_point!("consumer-before-commit");
                Ok(claim)
            })
            .await?;
        match claim {
            InboxClaim::Claimed => Ok(Disposition::Applied),
            InboxClaim::Seen => Ok(Disposition::Duplicate),
            InboxClaim::Blocked(blocking) => Err(HandlerError::Permanent(format!(
                "waiting behind dead letter {blocking} of the same key (order per aggregate is kept)"
            ))),
        }
    }

    /// Writes the record to the dead-letter table (waiting out a database outage), then
    /// copies it to `<topic>.dlq`.
    async fn park(&self, record: &RawRecord, reason: String, attempts: i32) -> Disposition {
        let letter = NewDeadLetter {
            consumer: self.name().to_owned(),
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: serde_json::to_string(&record.headers).unwrap_or_else(|_| "{}".into()),
            event_id: record.header("event_id").map(str::to_owned),
            correlation_id: record.header("correlation_id").map(str::to_owned),
            error: reason.clone(),
            attempts,
        };
        let mut backoff = self.settings.initial_backoff;
        let (id, new) = loop {
            let letter = letter.clone();
            match self.db.transaction(move |conn| dead_letter_park(conn, &letter)).await {
                Ok(parked) => break parked,
                Err(error) => {
                    tracing::error!(%error, retry_in = ?backoff, "cannot write the dead letter");
                    backoff = self.pause(backoff).await;
                }
            }
        };
        if new {
            fleuve_metrics::metrics().consumer_record(self.name(), RecordOutcome::parked);
            tracing::warn!(dead_letter = id, %reason, "record parked");
            self.copy_to_dlq_topic(record, id, &reason).await;
        } else {
            tracing::debug!(dead_letter = id, "record delivered again; parked already");
        }
        Disposition::Parked { id, reason }
    }

    async fn copy_to_dlq_topic(&self, record: &RawRecord, id: i64, reason: &str) {
        let topic = format!("{}{DLQ_SUFFIX}", record.topic);
        let id_text = id.to_string();
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 5);
        for (key, value) in &record.headers {
            headers = headers.insert(Header { key, value: Some(value.as_str()) });
        }
        headers = headers
            .insert(Header { key: "dlq_error", value: Some(reason) })
            .insert(Header { key: "dlq_consumer", value: Some(self.name()) })
            .insert(Header { key: "dlq_id", value: Some(id_text.as_str()) })
            .insert(Header { key: "dlq_partition", value: Some(partition.as_str()) })
            .insert(Header { key: "dlq_offset", value: Some(offset.as_str()) });
        let empty: &[u8] = &[];
        let mut out = FutureRecord::to(&topic).payload(record.value.as_deref().unwrap_or(empty)).headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key.as_str());
        }
        // The table is what redrive reads; the topic is a copy for tools, so a failure here
        // is logged rather than retried forever.
        if let Err((error, _)) = self.dlq.send(out, Duration::from_secs(10)).await {
            tracing::error!(%error, %topic, dead_letter = id, "cannot copy the dead letter to its topic");
        }
    }

    /// Applies parked letter `id` again, through the inbox (exactly once), and marks it
    /// redriven in the same transaction. A letter waiting behind an older letter of the same
    /// key stays parked until that one is redriven.
    pub async fn redrive(&self, id: i64) -> Result<RedriveOutcome, BusError> {
        let letter = self.db.run(move |conn| dead_letter_get(conn, id)).await?;
        let Some(letter) = letter else {
            return Ok(RedriveOutcome { id, redriven: false, error: Some(format!("no dead letter {id}")) });
        };
        if letter.consumer != self.name() {
            return Ok(RedriveOutcome {
                id,
                redriven: false,
                error: Some(format!("dead letter {id} belongs to {}", letter.consumer)),
            });
        }
        if letter.status != DeadLetterStatus::Parked {
            return Ok(RedriveOutcome {
                id,
                redriven: false,
                error: Some(format!("dead letter {id} is {}, not parked", letter.status.as_str())),
            });
        }
        let record = RawRecord::from_dead_letter(&letter);
        let event = match self.decode(&record).await {
            Ok(event) => event,
            Err(Refusal::Poison(reason)) | Err(Refusal::Unavailable(reason)) => {
                return self.redrive_failed(id, reason).await;
            }
        };
        let projection = self.projection.clone();
        let applied_event = event.clone();
        let result = self
            .db
            .transaction::<_, HandlerError, _>(move |conn| {
                let name = projection.name().to_owned();
                if let Some(first) = dead_letter_parked_for_key(conn, &name, &event.topic, event.key.as_deref())?
                    && first < id
                {
                    return Ok(Err(format!("dead letter {first} of the same key must be redriven first")));
                }
                let fresh = apply_once(conn, projection.as_ref(), &event)?;
                let resolution = if fresh { "redriven: applied" } else { "redriven: found applied already" };
                if !dead_letter_resolve(conn, id, DeadLetterStatus::Redriven, resolution)? {
                    return Err(HandlerError::Transient(format!("dead letter {id} was resolved meanwhile")));
                }
                Ok(Ok(fresh))
            })
            .await;
        match result {
            Ok(Ok(fresh)) => {
                if fresh {
                    self.projection.applied(&applied_event).await;
                }
                tracing::info!(consumer = self.name(), dead_letter = id, fresh, "dead letter redriven");
                Ok(RedriveOutcome { id, redriven: true, error: None })
            }
            Ok(Err(waiting)) => Ok(RedriveOutcome { id, redriven: false, error: Some(waiting) }),
            Err(error) => self.redrive_failed(id, error.to_string()).await,
        }
    }

    async fn redrive_failed(&self, id: i64, reason: String) -> Result<RedriveOutcome, BusError> {
        let error = format!("redrive failed: {reason}");
        let recorded = error.clone();
        self.db.run(move |conn| dead_letter_record_failure(conn, id, &recorded)).await?;
        tracing::warn!(consumer = self.name(), dead_letter = id, %error, "dead letter stays parked");
        Ok(RedriveOutcome { id, redriven: false, error: Some(error) })
    }

    /// Redrives every parked letter of this consumer, oldest first; a key whose letter fails
    /// keeps its later letters parked.
    pub async fn redrive_all(&self) -> Result<Vec<RedriveOutcome>, BusError> {
        use fleuve_store::consumer::{DeadLetterFilter, dead_letter_list};
        let mut outcomes = Vec::new();
        let mut after = None;
        loop {
            let filter = DeadLetterFilter {
                consumer: Some(self.name().to_owned()),
                status: Some(DeadLetterStatus::Parked),
                after_id: after,
                limit: 200,
            };
            let page = self.db.run(move |conn| dead_letter_list(conn, &filter)).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for letter in page {
                outcomes.push(self.redrive(letter.id).await?);
            }
        }
        Ok(outcomes)
    }

    /// Closes the dead-letter producer off the async workers (it blocks on the broker).
    pub async fn close(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}

pub use fleuve_handler::apply_once;

/// Milliseconds from the event's recording to now.
/// What the handler records while applying `event` continues the trace from the consume
/// span, so each Kafka hop is a child of the one before (request → publish → process →
/// publish → process...), not a sibling under the request.
fn hand_on_trace(mut event: ConsumedEvent, span: &tracing::Span) -> ConsumedEvent {
    if let Some(traceparent) = fleuve_mesh::telemetry::traceparent(span) {
        event.traceparent = Some(traceparent);
    }
    event
}

/// Publishes each assigned partition's lag from librdkafka's periodic statistics (computed
/// from the fetch responses' high watermarks and the group's committed offsets, without a
/// request of its own).
struct LagReporter {
    group: String,
}

impl rdkafka::ClientContext for LagReporter {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let metrics = fleuve_metrics::metrics();
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a lag of -1 is unknown.
                if *partition < 0 {
                    continue;
                }
                if p.consumer_lag >= 0 {
                    metrics.consumer_lag(&self.group, topic, *partition, p.consumer_lag);
                } else if p.fetch_state == "none" || p.fetch_state == "stopped" {
                    metrics.forget_consumer_lag(&self.group, topic, *partition);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for LagReporter {}

fn lag_ms(event: &ConsumedEvent) -> i64 {
    (Utc::now() - event.recorded_at).num_milliseconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, key: Option<&str>) -> RawRecord {
        RawRecord {
            topic: "t".into(),
            partition,
            offset,
            key: key.map(str::to_owned),
            value: None,
            headers: BTreeMap::new(),
            timestamp: None,
        }
    }

    #[test]
    fn records_of_a_busy_key_wait_behind_it_in_order() {
        let mut pipeline = Pipeline::default();
        let a0 = pipeline.admit(record(0, 0, Some("a"))).expect("a is free");
        assert!(pipeline.admit(record(0, 1, Some("b"))).is_some(), "b is free");
        assert!(pipeline.admit(record(0, 2, Some("a"))).is_none(), "a is busy");
        assert!(pipeline.admit(record(0, 3, Some("a"))).is_none(), "a is busy");
        assert!(pipeline.admit(record(0, 4, None)).is_some(), "keyless records never wait");
        assert_eq!(pipeline.waiting, 2);

        let (_, next) = pipeline.settled(&a0);
        let a2 = next.expect("a's next record");
        assert_eq!(a2.offset, 2);
        let (_, next) = pipeline.settled(&a2);
        let a3 = next.expect("then the one after");
        assert_eq!(a3.offset, 3);
        assert_eq!(pipeline.settled(&a3).1, None);
        assert_eq!(pipeline.waiting, 0);
        assert!(pipeline.admit(record(0, 5, Some("a"))).is_some(), "a is free again");
    }

    #[test]
    fn an_offset_is_stored_only_when_every_record_before_it_settled() {
        let mut pipeline = Pipeline::default();
        let first = pipeline.admit(record(0, 10, Some("a"))).unwrap();
        let second = pipeline.admit(record(0, 11, Some("b"))).unwrap();
        let third = pipeline.admit(record(0, 12, Some("c"))).unwrap();
        let other = pipeline.admit(record(1, 7, Some("d"))).unwrap();

        assert_eq!(pipeline.settled(&third).0, None, "10 and 11 are still running");
        assert_eq!(pipeline.settled(&other).0, Some(7), "partitions are independent");
        assert_eq!(pipeline.settled(&first).0, Some(10), "11 is still running");
        assert_eq!(pipeline.settled(&second).0, Some(12), "10 to 12 all settled");
    }
}
