//! The outbox relay: tails the event log (the log is the outbox: `fleuve_store::event_store`'s
//! `outbox` module) and publishes each event that has a topic to Kafka in the Confluent wire
//! format, then moves its checkpoint.
//!
//! Delivery is at least once: a batch is first published (every delivery awaited) and only
//! then recorded in one transaction, so a crash in between republishes the batch (duplicates,
//! which consumers drop by event id) and never loses an event. The log is read up to the
//! store's watermark, below which no transaction in progress can still add an event, so a late
//! commit is never skipped. Run one relay per database: the checkpoint is not claimed.
//!
//! Dropping an [`OutboxRelay`] drops its librdkafka producer, which blocks until in-flight
//! requests end; with the embedded broker on the same runtime use [`OutboxRelay::close`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use fleuve_store::Database;
pub use fleuve_store::event_store::OutboxEntry;
use fleuve_store::event_store::{
    OutboxProgress, RecordedEvent, Watermark, outbox_checkpoint, outbox_log_after, outbox_record, outbox_retries_after,
};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};

use crate::schema::{ProtoCatalog, RegisteredSchema, SchemaRegistryClient, TopicSchema};
use crate::{BusConfig, BusError};

/// Rows read and published per batch; a batch is read while the one before it is published.
/// `fleuve bench relay` measures this size by default. On 2026-12-07, once the log's reads were
/// bounded (`outbox_log_after`), five alternated runs of each, against the same bare producer
/// (batches of 1 000 then), gave medians of 0.70–0.78 with batches of 4 000 against 0.56–0.69
/// with batches of 1 000; the machine was busier between reads (85–91 % against 80–86 %). A
/// batch holds its events in memory: a few megabytes of a log's usual events.
pub const DEFAULT_BATCH_SIZE: i64 = 4_000;
/// Pause between polls of a caught-up log. 10 ms keeps publication latency low, at about 100
/// cheap queries a second when idle (the watermark's reading, the checkpoint, and a primary-key
/// range of the log that is empty).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Pause before the next poll while events wait for the watermark (positions drawn by
/// transactions that were still running): they pass as soon as those end, usually within a
/// millisecond or two, so waiting for the next commit or [`DEFAULT_POLL_INTERVAL`] would add a
/// hop's worth of latency to every event.
pub const WATERMARK_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// How long [`OutboxRelay::drain`] and [`OutboxRelay::run_once`] wait for the watermark to
/// pass the events committed before they were called. It waits only for the write
/// transactions of the database running then (or begun just after), which end within
/// milliseconds unless one was left open.
pub const DEFAULT_DRAIN_WAIT: Duration = Duration::from_secs(30);
/// First pause after a failed batch; doubles on each further failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between retries of a failing batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// librdkafka gives up on a record after this long (its default is 5 minutes), so a broken
/// topic surfaces as a recorded failure rather than a relay stuck on one batch.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// What publishing a batch did, event by event (positions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Events delivered.
    pub delivered: Vec<i64>,
    /// Events not delivered, with the reason (queued for a retry by [`OutboxRelay::mark`]).
    pub failed: Vec<(i64, String)>,
    /// Events after an earlier event of the same key that failed, delivered or not sent at
    /// all: queued for a retry after it. The consumer never misses one; it may get one that
    /// was already sent (enqueued before the failure was known) before the failed event's
    /// retry, and again after it.
    pub held_back: Vec<i64>,
    /// The retries among `delivered` (they leave the retries).
    pub delivered_retries: Vec<i64>,
    /// The batch's last position read from the log, where the checkpoint moves.
    pub through: Option<i64>,
}

impl PublishReport {
    fn progress(self) -> OutboxProgress {
        OutboxProgress {
            through: self.through,
            delivered_retries: self.delivered_retries,
            failed: self.failed,
            held_back: self.held_back,
        }
    }
}

/// What became of one event handed to [`OutboxRelay::enqueue`].
enum Delivery {
    Sent(DeliveryFuture),
    /// Refused before it was sent (no schema for its topic, a full queue).
    Refused(String),
    /// Not sent: an earlier event of its key failed.
    HeldBack,
}

/// Events of one batch handed to the producer, with their pending deliveries.
struct Produced {
    /// The batch's entries, in batch order (kept rather than copied: the report and the
    /// held-back keys need their positions, topics and keys).
    batch: Vec<OutboxEntry>,
    deliveries: Vec<Delivery>,
    /// The publish span of each row, ended when its delivery is settled.
    spans: Vec<tracing::Span>,
    /// When the rows were handed to the producer (the publish latency's start).
    enqueued: std::time::Instant,
    /// The last position read from the log (not a retry).
    through: Option<i64>,
}

/// How far the watermark got when the drain wait ran out short of the events committed
/// before a drain (see [`BusError::WatermarkHeld`]).
#[derive(Debug, Clone, Copy)]
struct Held {
    position: i64,
    watermark: i64,
    waited: Duration,
}

impl Held {
    fn error(self, published: usize) -> BusError {
        BusError::WatermarkHeld { position: self.position, watermark: self.watermark, waited: self.waited, published }
    }
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
    /// How far the log may be read.
    watermark: Watermark,
    /// See [`DEFAULT_DRAIN_WAIT`].
    drain_wait: Duration,
    /// The retries were empty at the end of the last drain, and nothing has been queued in
    /// them since (this relay is the only one that writes them): the next drain skips reading
    /// them. Cleared by anything that may have queued one, and by errors.
    no_retries: bool,
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
            watermark: Watermark::new(),
            drain_wait: DEFAULT_DRAIN_WAIT,
            no_retries: false,
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

    /// How long a drain waits for the watermark to pass what was committed before it
    /// ([`DEFAULT_DRAIN_WAIT`]).
    pub fn with_drain_wait(mut self, drain_wait: Duration) -> OutboxRelay {
        self.drain_wait = drain_wait;
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

    /// Up to one batch of events to publish, oldest first: the retries, then the log past the
    /// checkpoint, up to the watermark, which it first waits to see pass every event committed
    /// before the call (as [`OutboxRelay::drain`] does; past the drain wait, what the
    /// watermark passed, with a warning).
    pub async fn pending(&mut self) -> Result<Vec<OutboxEntry>, BusError> {
        let (batch, held) = self.pending_held().await?;
        if let Some(held) = held {
            // Its own words: the error's speak of a drain that published.
            tracing::warn!(
                committed_up_to = held.position,
                watermark = held.watermark,
                waited = ?held.waited,
                "outbox batch read only up to the watermark: a write transaction of this database left open holds it"
            );
        }
        Ok(batch)
    }

    /// [`OutboxRelay::pending`], and whether the watermark was held short of the events
    /// committed before the call.
    async fn pending_held(&mut self) -> Result<(Vec<OutboxEntry>, Option<Held>), BusError> {
        let limit = self.batch_size;
        let mut batch = self.db.run(move |conn| outbox_retries_after(conn, 0, limit)).await?;
        let left = limit - i64::try_from(batch.len()).unwrap_or(i64::MAX);
        let mut held = None;
        if left > 0 {
            let (checkpoint, up_to, short) = self.caught_up_cursor().await?;
            held = short;
            batch.extend(self.db.run(move |conn| outbox_log_after(conn, checkpoint, up_to, left)).await?);
        }
        Ok((batch, held))
    }

    /// The checkpoint, and the watermark advanced as far as it can go.
    async fn cursor(&mut self) -> Result<(i64, i64), BusError> {
        // Moved into the blocking call and back; lost (restarting from nothing, which only
        // delays reading) if the call fails.
        let mut watermark = std::mem::take(&mut self.watermark);
        let (watermark, cursor) = self
            .db
            .run(move |conn| -> Result<_, fleuve_store::StoreError> {
                let up_to = watermark.advance(conn)?;
                let checkpoint = outbox_checkpoint(conn)?;
                Ok((watermark, (checkpoint, up_to)))
            })
            .await?;
        self.watermark = watermark;
        Ok(cursor)
    }

    /// The checkpoint, and the watermark once it has passed every position drawn at the first
    /// reading, so every event committed before the call: those positions pass once the write
    /// transactions running at the next reading have ended. After the drain wait (a
    /// transaction left open), the watermark as far as it got, and how it was held.
    async fn caught_up_cursor(&mut self) -> Result<(i64, i64, Option<Held>), BusError> {
        let started = tokio::time::Instant::now();
        let (checkpoint, mut up_to) = self.cursor().await?;
        let mut target = self.watermark.newest_read();
        let mut pause = WATERMARK_POLL_INTERVAL;
        while up_to < target {
            let waited = started.elapsed();
            if waited >= self.drain_wait {
                return Ok((checkpoint, up_to, Some(Held { position: target, watermark: up_to, waited })));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.poll_interval.max(WATERMARK_POLL_INTERVAL));
            let before = up_to;
            up_to = self.cursor().await?.1;
            if up_to < before {
                // The watermark started over (the sequence went back: another server); the
                // positions read before say nothing of this one.
                target = self.watermark.newest_read();
            }
        }
        Ok((checkpoint, up_to, None))
    }

    /// Produces every event of `batch` and awaits all deliveries; records nothing.
    ///
    /// Registers the schemas first if needed (an unreachable registry fails the whole batch,
    /// before anything is sent). An event whose topic has no schema fails, loudly. Copies the
    /// batch (the drain, the relay's own path, hands its batches over instead).
    pub async fn publish(&mut self, batch: &[OutboxEntry]) -> Result<PublishReport, BusError> {
        // What this batch fails is queued for a retry by the `mark` that follows.
        self.no_retries = false;
        self.replace_producer_if_failed()?;
        self.register_schemas().await?;
        let mut broken = HashSet::new();
        let produced = self.enqueue(batch.to_vec(), &broken);
        self.settle(produced, &mut broken).await
    }

    /// Enqueues every event of `batch` (pipelined, ordered per partition by the idempotent
    /// producer) without awaiting anything, but those of the keys in `broken`, held back; the
    /// schemas must be registered.
    ///
    /// The batch is kept until its deliveries are settled, without its payloads: they are
    /// dropped once framed (librdkafka holds its own copy).
    fn enqueue(&self, mut batch: Vec<OutboxEntry>, broken: &HashSet<(String, String)>) -> Produced {
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut spans = Vec::with_capacity(batch.len());
        let enqueued = std::time::Instant::now();
        let through = batch.iter().filter(|(row, _)| !row.retry).map(|(row, _)| row.position).max();
        // librdkafka copies the value it is given, so one buffer serves every record.
        let mut value = Vec::new();
        for (row, event) in &mut batch {
            if is_broken(broken, &row.topic, &event.aggregate_id) {
                spans.push(tracing::Span::none());
                deliveries.push(Delivery::HeldBack);
                continue;
            }
            let span = publish_span(&row.topic, event);
            let traceparent = if span.is_disabled() { None } else { fleuve_mesh::telemetry::traceparent(&span) };
            spans.push(span);
            let Some(schema) = self.registered.get(&row.topic) else {
                let error = format!("no schema registered for topic {}", row.topic);
                tracing::error!(outbox_position = row.position, topic = %row.topic, event_id = %event.event_id, "{error}");
                deliveries.push(Delivery::Refused(error));
                continue;
            };
            schema.frame_into(&std::mem::take(&mut event.payload), &mut value);
            // The consumer continues the trace from this publish span, itself a child of the
            // request that recorded the event.
            let headers = headers(event, traceparent.as_deref().or(event.trace_context.as_deref()));
            let record = FutureRecord::to(&row.topic).key(&event.aggregate_id).payload(&value).headers(headers);
            deliveries.push(match self.producer.send_result(record) {
                Ok(future) => Delivery::Sent(future),
                Err((error, _)) => Delivery::Refused(error.to_string()),
            });
        }
        Produced { batch, deliveries, spans, enqueued, through }
    }

    /// Awaits the deliveries of `produced`. An event of a key in `broken` (an event of that key
    /// failed earlier, in this batch or an earlier one of the same drain) is held back even
    /// when delivered; the keys of events that fail join `broken`.
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
                Delivery::HeldBack => Ok(false),
                Delivery::Refused(error) => Err(error),
                Delivery::Sent(future) => match future.await {
                    Ok(Ok(_)) => {
                        delivered = true;
                        Ok(true)
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

        let mut report = PublishReport { through: produced.through, ..PublishReport::default() };
        let metrics = fleuve_metrics::metrics();
        // Publication latencies by topic, handed to the metrics once per topic: a batch
        // usually holds one or two.
        let mut latencies: Vec<(&str, Vec<f64>)> = Vec::new();
        for ((row, event), (outcome, seconds)) in produced.batch.iter().zip(outcomes) {
            let (position, topic) = (row.position, row.topic.as_str());
            match outcome {
                Err(error) => {
                    metrics.relay_failed(topic);
                    tracing::warn!(outbox_position = position, topic, %error, "event not delivered");
                    broken.insert((topic.to_owned(), event.aggregate_id.clone()));
                    report.failed.push((position, error));
                }
                Ok(false) => report.held_back.push(position),
                Ok(true) => {
                    match latencies.iter_mut().find(|(t, _)| *t == topic) {
                        Some((_, seconds_of_topic)) => seconds_of_topic.push(seconds),
                        None => latencies.push((topic, vec![seconds])),
                    }
                    if is_broken(broken, topic, &event.aggregate_id) {
                        report.held_back.push(position);
                    } else {
                        report.delivered.push(position);
                        if row.retry {
                            report.delivered_retries.push(position);
                        }
                    }
                }
            }
        }
        for (topic, seconds) in latencies {
            metrics.relay_published_many(topic, &seconds);
        }
        Ok(report)
    }

    /// Records what `report` says in one transaction: the checkpoint moves, delivered retries
    /// leave the retries, failed and held-back events join them. Returns how many events were
    /// delivered.
    pub async fn mark(&self, report: &PublishReport) -> Result<usize, BusError> {
        mark(&self.db, report.clone()).await
    }

    /// Publishes until it has caught up with the log, and returns how many events it
    /// published.
    ///
    /// The retries go first, batch after batch in position order; the keys of those that fail
    /// again stay broken for the rest of the drain. Then the log, from the checkpoint up to the
    /// watermark, as a pipeline: while batch N's deliveries are awaited, batch N+1 has been
    /// read and enqueued, and N-1 is being recorded. Each batch is recorded only after its own
    /// deliveries, and the producer keeps the enqueue order per partition. Events of broken
    /// keys are not sent: they join the retries, behind the failed event.
    ///
    /// Every event committed before the call is published when it returns: the log is read up
    /// to a watermark that has passed them, which may mean waiting for the write transactions
    /// running then, or begun just after, to end (at most the drain wait,
    /// [`DEFAULT_DRAIN_WAIT`]). If a transaction stays open longer, the drain publishes what
    /// the watermark passed and then ends in [`BusError::WatermarkHeld`].
    ///
    /// A log batch with undelivered events ends the drain in [`BusError::Delivery`] after
    /// recording them (and the batch already in flight); so does a drain whose retries failed
    /// again, once the log is caught up, so that the caller backs off.
    pub async fn drain(&mut self) -> Result<usize, BusError> {
        self.drain_guarded(true).await
    }

    /// [`OutboxRelay::drain`]; with `wait` false, the log is read up to the watermark as it
    /// stands ([`OutboxRelay::run`], whose next poll comes soon).
    async fn drain_guarded(&mut self, wait: bool) -> Result<usize, BusError> {
        let drained = self.drain_unguarded(wait).await;
        if let Err(error) = &drained
            && !matches!(error, BusError::Delivery { .. } | BusError::WatermarkHeld { .. })
        {
            // The database (or the registry) failed mid-drain. If the database came back as
            // another server (a promoted standby, a restored backup), what the watermark passed
            // says nothing of it: start it over, below everything.
            self.watermark = Watermark::new();
        }
        if drained.is_err() {
            self.no_retries = false;
        }
        drained
    }

    async fn drain_unguarded(&mut self, wait: bool) -> Result<usize, BusError> {
        self.replace_producer_if_failed()?;
        self.register_schemas().await?;
        let limit = self.batch_size;
        let mut broken = HashSet::new();
        let mut published = 0;
        let mut retry_failure: Option<(usize, String)> = None;
        let mut after = 0;
        let mut retried = false;
        while !self.no_retries {
            let batch = self.db.run(move |conn| outbox_retries_after(conn, after, limit)).await?;
            retried |= !batch.is_empty();
            let Some((last, _)) = batch.last() else { break };
            after = last.position;
            let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= limit;
            let produced = self.enqueue(batch, &broken);
            let report = self.settle(produced, &mut broken).await?;
            if let Some((position, error)) = report.failed.first() {
                retry_failure.get_or_insert_with(|| (0, format!("event {position}: {error}"))).0 += report.failed.len();
            }
            published += mark(&self.db, report).await?;
            if !full {
                break;
            }
        }

        // Known empty from here on unless this drain found retries (some may be left) or
        // queues some (a failure: the drain ends in an error, which clears it).
        self.no_retries = !retried;
        // The batch being recorded in the background: awaited whatever happens, so that a
        // drain never returns while its recording goes on (the next one would republish the
        // batch and record its failures after it).
        let mut marking = None;
        let retries_failed = retry_failure.as_ref().map_or(0, |(n, _)| *n);
        let logged = self.drain_log(&mut broken, &mut marking, retries_failed, wait).await;
        let marked = match marking.take() {
            Some(marking) => join_task(marking.await).and_then(|marked| marked),
            None => Ok(0),
        };
        let (logged, held) = logged?;
        published += logged + marked?;
        match retry_failure {
            None => match held {
                None => Ok(published),
                Some(held) => Err(held.error(published)),
            },
            Some((failed, first)) => {
                tracing::debug!(published, "outbox drain caught up; retries failed again");
                Err(BusError::Delivery { failed, first })
            }
        }
    }

    /// The log phase of [`OutboxRelay::drain`]: returns how many events it published, but
    /// those of the batch left recording in `marking`, and, when it waited for the watermark
    /// (`wait`) in vain, how far it got.
    async fn drain_log(
        &mut self,
        broken: &mut HashSet<(String, String)>,
        marking: &mut Option<tokio::task::JoinHandle<Result<usize, BusError>>>,
        retries_failed: usize,
        wait: bool,
    ) -> Result<(usize, Option<Held>), BusError> {
        let limit = self.batch_size;
        let mut published = 0;
        let (checkpoint, up_to, held) = if wait {
            self.caught_up_cursor().await?
        } else {
            let (checkpoint, up_to) = self.cursor().await?;
            (checkpoint, up_to, None)
        };
        let read = |db: Database, after: i64| {
            tokio::spawn(async move { db.run(move |conn| outbox_log_after(conn, after, up_to, limit)).await })
        };
        let mut next = Some(read(self.db.clone(), checkpoint));
        let mut in_flight: Option<Produced> = None;
        loop {
            let produced = match next.take() {
                Some(reading) => {
                    let batch = join_task(reading.await)??;
                    let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= limit;
                    match batch.last() {
                        Some((last, _)) if full => next = Some(read(self.db.clone(), last.position)),
                        // Caught up with the watermark and nothing read at all: the events
                        // up to it, if any, have no topic; the checkpoint passes them so that
                        // the next poll does not scan them again.
                        None if in_flight.is_none() && up_to > checkpoint => {
                            let progress = PublishReport { through: Some(up_to), ..PublishReport::default() };
                            mark(&self.db, progress).await?;
                        }
                        _ => {}
                    }
                    (!batch.is_empty()).then(|| {
                        let mut produced = self.enqueue(batch, broken);
                        if !full {
                            // Every event with a topic up to the watermark is in this batch.
                            produced.through = Some(up_to);
                        }
                        produced
                    })
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
            let report = self.settle(previous, broken).await?;
            crate::failpoints::crash_point!("relay-before-mark");
            if let Some(marking) = marking.take() {
                published += join_task(marking.await)??;
            }
            if let Some((position, error)) = report.failed.first() {
                if let Some(next) = next.take() {
                    next.abort();
                }
                let failed = report.failed.len() + retries_failed;
                let first = format!("event {position}: {error}");
                published += mark(&self.db, report).await?;
                // The next batch is in flight already: its events of the failed keys are held
                // back, the others recorded delivered.
                if let Some(produced) = in_flight.take() {
                    let after = self.settle(produced, broken).await?;
                    published += mark(&self.db, after).await?;
                }
                tracing::debug!(published, "outbox drain stopped on a failed batch");
                return Err(BusError::Delivery { failed, first });
            }
            let db = self.db.clone();
            *marking = Some(tokio::spawn(async move { mark(&db, report).await }));
            if in_flight.is_none() {
                break;
            }
        }
        Ok((published, held))
    }

    /// Publishes and records one batch ([`OutboxRelay::pending`]); returns how many events
    /// were published. Events that failed are queued for a retry, and the batch then ends in
    /// [`BusError::Delivery`]; a batch read up to a watermark held short of the events
    /// committed before the call ends in [`BusError::WatermarkHeld`] once published.
    pub async fn run_once(&mut self) -> Result<usize, BusError> {
        let (batch, held) = self.pending_held().await?;
        if batch.is_empty() {
            return held.map_or(Ok(0), |held| Err(held.error(0)));
        }
        let report = self.publish(&batch).await?;
        let marked = self.mark(&report).await?;
        match report.failed.first() {
            None => held.map_or(Ok(marked), |held| Err(held.error(marked))),
            Some((position, error)) => {
                Err(BusError::Delivery { failed: report.failed.len(), first: format!("event {position}: {error}") })
            }
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
        // While positions wait for the watermark: 1 ms, doubling up to the poll interval as
        // long as the watermark does not move (a transaction left open would otherwise make
        // the relay poll a thousand times a second for as long as it stays open).
        let mut watermark_pause = WATERMARK_POLL_INTERVAL;
        let mut last_watermark = self.watermark.value();
        loop {
            let drained = tokio::select! {
                () = &mut shutdown => return,
                result = self.drain_guarded(false) => result,
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
                    let moved = self.watermark.value() != last_watermark;
                    last_watermark = self.watermark.value();
                    watermark_pause =
                        if moved { WATERMARK_POLL_INTERVAL } else { (watermark_pause * 2).min(poll_interval) };
                    let pause = if self.watermark.is_waiting() { watermark_pause } else { poll_interval };
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = tokio::time::sleep(pause) => {}
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

/// Records `report` in one transaction (see [`OutboxRelay::mark`]); without failures or
/// retries, on PostgreSQL, that is one UPDATE of the checkpoint, atomic on its own (SQLite
/// writes go through the queue of write transactions). Returns how many events were delivered.
async fn mark(db: &Database, report: PublishReport) -> Result<usize, BusError> {
    let delivered = report.delivered.len();
    let progress = report.progress();
    if progress == OutboxProgress::default() {
        return Ok(0);
    }
    if progress.is_checkpoint_only() && db.backend() == fleuve_store::Backend::Postgres {
        db.run(move |conn| outbox_record(conn, &progress)).await?;
    } else {
        db.transaction::<_, fleuve_store::StoreError, _>(move |conn| outbox_record(conn, &progress)).await?;
    }
    Ok(delivered)
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

/// Whether an event of `topic` and `key` failed earlier in the drain (its key is held back).
/// Nothing is allocated while no key has failed, the usual case.
fn is_broken(broken: &HashSet<(String, String)>, topic: &str, key: &str) -> bool {
    !broken.is_empty() && broken.contains(&(topic.to_owned(), key.to_owned()))
}

fn join_task<T>(joined: Result<T, tokio::task::JoinError>) -> Result<T, BusError> {
    joined.map_err(|e| BusError::Task(format!("relay task failed: {e}")))
}

fn create_producer(bus: &BusConfig, message_timeout: Duration) -> Result<FutureProducer, BusError> {
    let timeout_ms = message_timeout.as_millis().max(1).to_string();
    Ok(bus.producer_config().set("message.timeout.ms", timeout_ms).create()?)
}

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
    // Without a subscriber (or with the span filtered out) there is no trace to continue.
    if !span.is_disabled() {
        fleuve_mesh::telemetry::continue_trace(&span, event.trace_context.as_deref());
    }
    span
}

/// The record headers of an event (ARCHITECTURE.md, Contracts).
fn headers(event: &RecordedEvent, traceparent: Option<&str>) -> OwnedHeaders {
    let mut event_id = uuid::Uuid::encode_buffer();
    let event_id = event.event_id.hyphenated().encode_lower(&mut event_id);
    let version = event.version.to_string();
    let recorded_at = event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut headers = OwnedHeaders::new_with_capacity(10)
        .insert(Header { key: "event_id", value: Some(&*event_id) })
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
