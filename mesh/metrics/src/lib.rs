//! Fleuve's Prometheus metrics: one registry per process holding every family the mesh and
//! the services record, exposed by the admin server (`fleuve_mesh::admin`) in the Prometheus
//! text format (0.0.4) or in OpenMetrics, which also carries the histograms' trace-id
//! exemplars.
//!
//! Recording sites call [`metrics()`] and one of its methods; nothing needs to be threaded
//! through constructors, and a process that never scrapes pays only for atomic increments.
//! Gauges that describe stored state (outbox backlog, dead letters, orders by state) are set
//! by samplers that read the database on an interval, never during a scrape. Database pools
//! and caches register a probe read at scrape time ([`register_pool`], [`register_cache`]).
//!
//! The names, their labels and their meaning are listed in `docs/observability.md`.

mod collectors;
mod labels;

use std::cell::RefCell;
use std::sync::{LazyLock, atomic::AtomicU64};

use prometheus_client::{
    encoding::{prometheus_text, text},
    metrics::{
        counter::Counter,
        exemplar::HistogramWithExemplars,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
        info::Info,
    },
    registry::{Registry, Unit},
};

pub use collectors::{CacheCounts, PoolState, Registration, register_cache, register_pool};
pub use labels::*;

/// `Content-Type` of [`Metrics::encode`] in [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of [`Metrics::encode`] in [`Format::Prometheus`].
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The exposition formats a scraper can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 (no exemplars).
    Prometheus,
    /// OpenMetrics 1.0 text, with exemplars; what Prometheus asks for first.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (Prometheus does, first), the Prometheus text format
    /// otherwise (curl, older scrapers).
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

type LatencyHistogram = HistogramWithExemplars<TraceLabel>;
type Histograms<L> = Family<L, LatencyHistogram, fn() -> LatencyHistogram>;
type PlainHistograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request and processing latencies: 0.5 ms to about 16 s.
fn latency_histogram() -> LatencyHistogram {
    HistogramWithExemplars::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Database and publish latencies: 0.1 ms to about 3 s.
fn short_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Delays between an event being recorded and applied, and saga durations: 5 ms to about
/// 10 minutes.
fn delay_histogram() -> LatencyHistogram {
    HistogramWithExemplars::new(exponential_buckets(0.005, 2.0, 18))
}

/// Every metric family of the process. Get it with [`metrics()`].
#[derive(Debug)]
pub struct Metrics {
    /// Tells this process's metrics from a test's in the per-thread series cache.
    id: u64,
    registry: Registry,

    grpc_handled: Family<GrpcLabels, Counter>,
    grpc_seconds: Histograms<GrpcMethodLabels>,

    appends: Family<AggregateLabel, Counter>,
    appended_events: Family<AggregateLabel, Counter>,
    append_conflicts: Family<AggregateLabel, Counter>,
    append_seconds: PlainHistograms<AggregateLabel>,

    outbox_pending: Gauge,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
    relay_published: Family<TopicLabel, Counter>,
    relay_errors: Family<TopicLabel, Counter>,
    relay_seconds: PlainHistograms<TopicLabel>,

    consumer_records: Family<ConsumerOutcomeLabels, Counter>,
    consumer_lag: Family<PartitionLabels, Gauge>,
    projection_lag: Histograms<ConsumerLabel>,
    dead_letters: Family<ConsumerLabel, Gauge>,

    saga_orders: Family<StateLabel, Gauge>,
    saga_outcomes: Family<OutcomeLabel, Counter>,
    saga_seconds: Histograms<OutcomeLabel>,
    saga_deadlines: Counter,
    saga_overdue: Gauge,

    pool_checkouts: Counter,
    pool_waits: Counter,
    pool_wait_seconds: Histogram,

    jwt_refusals: Family<ReasonLabel, Counter>,
    notification_deliveries: Family<DeliveryLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fleuve");
        static IDS: AtomicU64 = AtomicU64::new(0);
        let m = Metrics {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry: Registry::default(),
            grpc_handled: Family::default(),
            grpc_seconds: Family::new_with_constructor(latency_histogram),
            appends: Family::default(),
            appended_events: Family::default(),
            append_conflicts: Family::default(),
            append_seconds: Family::new_with_constructor(short_histogram),
            outbox_pending: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            relay_published: Family::default(),
            relay_errors: Family::default(),
            relay_seconds: Family::new_with_constructor(short_histogram),
            consumer_records: Family::default(),
            consumer_lag: Family::default(),
            projection_lag: Family::new_with_constructor(delay_histogram),
            dead_letters: Family::default(),
            saga_orders: Family::default(),
            saga_outcomes: Family::default(),
            saga_seconds: Family::new_with_constructor(delay_histogram),
            saga_deadlines: Counter::default(),
            saga_overdue: Gauge::default(),
            pool_checkouts: Counter::default(),
            pool_waits: Counter::default(),
            pool_wait_seconds: short_histogram(),
            jwt_refusals: Family::default(),
            notification_deliveries: Family::default(),
        };
        let r = &mut registry;
        r.register(
            "build",
            "The running Fleuve build",
            Info::new(vec![("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned())]),
        );

        r.register(
            "grpc_server_handled",
            "gRPC calls answered, by service, method and status code",
            m.grpc_handled.clone(),
        );
        r.register_with_unit(
            "grpc_server_handling",
            "Time from a gRPC call's arrival to its status (the whole stream for server streams)",
            Unit::Seconds,
            m.grpc_seconds.clone(),
        );

        r.register("event_store_appends", "Successful appends, by aggregate type", m.appends.clone());
        r.register("event_store_appended_events", "Events appended, by aggregate type", m.appended_events.clone());
        r.register(
            "event_store_conflicts",
            "Appends refused because the stream moved past the expected version",
            m.append_conflicts.clone(),
        );
        r.register_with_unit(
            "event_store_append",
            "Time to append to a stream, by aggregate type",
            Unit::Seconds,
            m.append_seconds.clone(),
        );

        r.register(
            "outbox_pending_rows",
            "Events waiting for the outbox relay (the log past its checkpoint, and retries)",
            m.outbox_pending.clone(),
        );
        r.register_with_unit(
            "outbox_oldest_pending_age",
            "Age of the oldest event waiting for the outbox relay (0 when none waits)",
            Unit::Seconds,
            m.outbox_oldest_age.clone(),
        );
        r.register(
            "relay_published",
            "Events published to Kafka by the outbox relay, by topic",
            m.relay_published.clone(),
        );
        r.register("relay_errors", "Events the outbox relay failed to publish, by topic", m.relay_errors.clone());
        r.register_with_unit(
            "relay_publish",
            "Time for Kafka to acknowledge a relayed record, by topic",
            Unit::Seconds,
            m.relay_seconds.clone(),
        );

        r.register(
            "consumer_records",
            "Records handled by a consumer, by outcome: applied, retried (a transient failure), parked (dead letter)",
            m.consumer_records.clone(),
        );
        r.register(
            "consumer_lag_records",
            "Records of a partition not yet consumed by the group (high watermark - committed offset)",
            m.consumer_lag.clone(),
        );
        r.register_with_unit(
            "projection_lag",
            "Delay from an event being recorded to a consumer applying it",
            Unit::Seconds,
            m.projection_lag.clone(),
        );
        r.register(
            "dead_letters_parked",
            "Dead letters parked and not yet redriven, by consumer",
            m.dead_letters.clone(),
        );

        r.register("saga_orders", "Orders by saga state", m.saga_orders.clone());
        r.register(
            "saga_finished",
            "Sagas finished, by outcome: confirmed, failed (nothing to undo), compensated",
            m.saga_outcomes.clone(),
        );
        r.register_with_unit(
            "saga_duration",
            "Time from an order being placed to its saga finishing, by outcome",
            Unit::Seconds,
            m.saga_seconds.clone(),
        );
        r.register(
            "saga_deadlines_fired",
            "Saga steps abandoned because their deadline passed",
            m.saga_deadlines.clone(),
        );
        r.register(
            "saga_overdue_orders",
            "Orders whose saga deadline has passed and not been fired yet",
            m.saga_overdue.clone(),
        );

        r.register("db_pool_checkouts", "Connections taken from the database pool", m.pool_checkouts.clone());
        r.register(
            "db_pool_waits",
            "Connection checkouts that found no idle connection in the pool",
            m.pool_waits.clone(),
        );
        r.register_with_unit(
            "db_pool_checkout",
            "Time to get a connection from the database pool",
            Unit::Seconds,
            m.pool_wait_seconds.clone(),
        );

        r.register("jwt_refusals", "Tokens refused, by reason", m.jwt_refusals.clone());
        r.register(
            "notification_deliveries",
            "Notification deliveries, by channel and outcome",
            m.notification_deliveries.clone(),
        );
        r.register_collector(Box::new(collectors::Pools));
        r.register_collector(Box::new(collectors::Caches));
        Metrics { registry, ..m }
    }

    /// Renders every family in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = match format {
            Format::Prometheus => prometheus_text::encode(&mut out, &self.registry),
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
        };
        out
    }

    // -- gRPC ---------------------------------------------------------------------------------

    /// One answered call: `code` is the gRPC status code's number.
    pub fn grpc_handled(&self, service: &str, method: &str, code: i32, seconds: f64, trace_id: Option<&str>) {
        // The method's series come from this thread's cache: a family's look-up hashes the
        // labels (SipHash) and copies them into new strings, under a lock every thread shares,
        // and a server makes it for every call.
        thread_local! {
            static SERIES: RefCell<Vec<MethodSeries>> = const { RefCell::new(Vec::new()) };
        }
        let record = |cached: &mut Vec<MethodSeries>| {
            // The method first: services share long prefixes.
            let at = cached.iter().position(|s| *s.method == *method && *s.service == *service && s.metrics == self.id);
            let series = match at {
                Some(at) => &mut cached[at],
                None => {
                    // Methods a server answers are few; made-up paths must not grow it for ever.
                    if cached.len() >= 256 {
                        cached.clear();
                    }
                    let labels = GrpcMethodLabels { grpc_service: service.to_owned(), grpc_method: method.to_owned() };
                    let histogram = self.grpc_seconds.get_or_create_owned(&labels);
                    cached.push(MethodSeries {
                        metrics: self.id,
                        service: service.into(),
                        method: method.into(),
                        histogram,
                        handled: std::array::from_fn(|_| None),
                    });
                    cached.last_mut().expect("just pushed")
                }
            };
            series.histogram.observe(seconds, exemplar(trace_id), None);
            let name = grpc_code_name(code);
            // Codes outside 0–16 are counted as UNKNOWN (2), under that name.
            let slot = usize::try_from(code).ok().filter(|&c| c < series.handled.len()).unwrap_or(2);
            series.handled[slot]
                .get_or_insert_with(|| {
                    self.grpc_handled.get_or_create_owned(&GrpcLabels {
                        grpc_service: service.to_owned(),
                        grpc_method: method.to_owned(),
                        grpc_code: name,
                    })
                })
                .inc();
        };
        if SERIES.try_with(|cached| record(&mut cached.borrow_mut())).is_err() {
            // The thread is ending and its cache is gone.
            record(&mut Vec::new());
        }
    }

    // -- event store --------------------------------------------------------------------------

    /// A successful append of `events` events to a stream of `aggregate_type`.
    pub fn appended(&self, aggregate_type: &str, events: usize, seconds: f64) {
        let labels = AggregateLabel { aggregate_type: aggregate_type.to_owned() };
        // A stream kind that appends can conflict: its conflict series exists from its first
        // append (at 0), so rates and dashboards see it before the first conflict.
        let _ = self.append_conflicts.get_or_create(&labels);
        self.appends.get_or_create(&labels).inc();
        self.appended_events.get_or_create(&labels).inc_by(events as u64);
        self.append_seconds.get_or_create(&labels).observe(seconds);
    }

    /// An append refused on a version conflict.
    pub fn append_conflict(&self, aggregate_type: &str) {
        self.append_conflicts.get_or_create(&AggregateLabel { aggregate_type: aggregate_type.to_owned() }).inc();
    }

    // -- outbox and relay ---------------------------------------------------------------------

    /// What the outbox sampler read: rows waiting and the age of the oldest.
    pub fn outbox_backlog(&self, pending: i64, oldest_age_seconds: f64) {
        self.outbox_pending.set(pending);
        self.outbox_oldest_age.set(oldest_age_seconds.max(0.0));
    }

    /// Records of one topic acknowledged by Kafka, each after its `seconds`: one look-up of the
    /// topic's series for all of them.
    pub fn relay_published_many(&self, topic: &str, seconds: &[f64]) {
        let labels = TopicLabel { topic: topic.to_owned() };
        let _ = self.relay_errors.get_or_create(&labels);
        self.relay_published.get_or_create(&labels).inc_by(seconds.len() as u64);
        let histogram = self.relay_seconds.get_or_create(&labels);
        for seconds in seconds {
            histogram.observe(*seconds);
        }
    }

    /// A record Kafka refused or did not acknowledge (its event waits in the outbox's retries).
    pub fn relay_failed(&self, topic: &str) {
        let labels = TopicLabel { topic: topic.to_owned() };
        let _ = self.relay_published.get_or_create(&labels);
        self.relay_errors.get_or_create(&labels).inc();
    }

    // -- consumers ----------------------------------------------------------------------------

    pub fn consumer_record(&self, consumer: &str, outcome: RecordOutcome) {
        let labels = ConsumerOutcomeLabels { consumer: consumer.to_owned(), outcome };
        self.consumer_records.get_or_create(&labels).inc();
    }

    /// How long after being recorded an event was applied by `consumer`.
    pub fn projection_lag(&self, consumer: &str, seconds: f64, trace_id: Option<&str>) {
        let labels = ConsumerLabel { consumer: consumer.to_owned() };
        self.projection_lag.get_or_create(&labels).observe(seconds.max(0.0), exemplar(trace_id), None);
    }

    /// Records of `topic`/`partition` the `group` has not consumed yet.
    pub fn consumer_lag(&self, group: &str, topic: &str, partition: i32, lag: i64) {
        let labels = PartitionLabels { group: group.to_owned(), topic: topic.to_owned(), partition };
        self.consumer_lag.get_or_create(&labels).set(lag.max(0));
    }

    /// Forgets a partition the group no longer reads from this process.
    pub fn forget_consumer_lag(&self, group: &str, topic: &str, partition: i32) {
        self.consumer_lag.remove(&PartitionLabels { group: group.to_owned(), topic: topic.to_owned(), partition });
    }

    /// Dead letters of `consumer` parked and not redriven, as the sampler read them.
    pub fn dead_letters_parked(&self, consumer: &str, parked: i64) {
        self.dead_letters.get_or_create(&ConsumerLabel { consumer: consumer.to_owned() }).set(parked);
    }

    // -- saga ---------------------------------------------------------------------------------

    /// Orders in saga `state`, as the sampler read them.
    pub fn saga_orders(&self, state: &str, orders: i64) {
        self.saga_orders.get_or_create(&StateLabel { state: state.to_owned() }).set(orders);
    }

    /// A saga reached its end `seconds` after its order was placed.
    pub fn saga_finished(&self, outcome: SagaOutcome, seconds: f64, trace_id: Option<&str>) {
        let labels = OutcomeLabel { outcome };
        self.saga_outcomes.get_or_create(&labels).inc();
        self.saga_seconds.get_or_create(&labels).observe(seconds.max(0.0), exemplar(trace_id), None);
    }

    pub fn saga_deadline_fired(&self) {
        self.saga_deadlines.inc();
    }

    /// Orders past their saga deadline, as the sampler read them.
    pub fn saga_overdue_orders(&self, orders: i64) {
        self.saga_overdue.set(orders);
    }

    // -- database pool ------------------------------------------------------------------------

    /// A connection checkout that took `seconds`; `waited` when no connection was idle.
    pub fn pool_checkout(&self, seconds: f64, waited: bool) {
        self.pool_checkouts.inc();
        if waited {
            self.pool_waits.inc();
        }
        self.pool_wait_seconds.observe(seconds);
    }

    // -- auth and notification ----------------------------------------------------------------

    pub fn jwt_refused(&self, reason: &'static str) {
        self.jwt_refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn notification_delivery(&self, channel: &'static str, outcome: DeliveryOutcome) {
        self.notification_deliveries.get_or_create(&DeliveryLabels { channel, outcome }).inc();
    }
}

/// One method's series in a thread's cache (see [`Metrics::grpc_handled`]).
struct MethodSeries {
    /// [`Metrics::id`] of the metrics they belong to.
    metrics: u64,
    service: Box<str>,
    method: Box<str>,
    histogram: LatencyHistogram,
    /// `fleuve_grpc_server_handled_total` by status code (0–16), made at its first use.
    handled: [Option<Counter>; 17],
}

fn exemplar(trace_id: Option<&str>) -> Option<TraceLabel> {
    trace_id
        .filter(|id| id.len() == 32 && *id != "00000000000000000000000000000000")
        .map(|id| TraceLabel { trace_id: id.to_owned() })
}

/// The canonical name of a gRPC status code, as `grpc-go` and OpenTelemetry spell them.
pub fn grpc_code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_method_and_code_in_their_own_metrics_from_any_thread() {
        let count = |m: &Metrics, method: &str, code: &str| {
            let text = m.encode(Format::Prometheus);
            let series = format!(
                r#"fleuve_grpc_server_handled_total{{grpc_service="fleuve.test.v1.Count",grpc_method="{method}",grpc_code="{code}"}} "#
            );
            text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(0, |n| n.parse::<u64>().unwrap())
        };
        let (first, second) = (Metrics::new(), Metrics::new());
        for _ in 0..3 {
            first.grpc_handled("fleuve.test.v1.Count", "A", 0, 0.001, None);
        }
        first.grpc_handled("fleuve.test.v1.Count", "A", 5, 0.001, None);
        first.grpc_handled("fleuve.test.v1.Count", "B", 0, 0.001, None);
        // A code gRPC does not define is UNKNOWN.
        first.grpc_handled("fleuve.test.v1.Count", "A", 99, 0.001, None);
        second.grpc_handled("fleuve.test.v1.Count", "A", 0, 0.001, None);
        std::thread::scope(|scope| {
            scope.spawn(|| first.grpc_handled("fleuve.test.v1.Count", "A", 0, 0.001, None));
        });
        assert_eq!(count(&first, "A", "OK"), 4);
        assert_eq!(count(&first, "A", "NOT_FOUND"), 1);
        assert_eq!(count(&first, "A", "UNKNOWN"), 1);
        assert_eq!(count(&first, "B", "OK"), 1);
        assert_eq!(count(&second, "A", "OK"), 1, "the other metrics' own count");
        assert_eq!(count(&second, "B", "OK"), 0);
        let calls = first.encode(Format::Prometheus);
        assert!(
            calls.contains(
                r#"fleuve_grpc_server_handling_seconds_count{grpc_service="fleuve.test.v1.Count",grpc_method="A"} 6"#
            ),
            "{calls}"
        );
    }

    #[test]
    fn both_formats_render_the_recorded_values() {
        let m = metrics();
        m.grpc_handled("fleuve.test.v1.Probe", "Ping", 5, 0.002, Some("0af7651916cd43dd8448eb211c80319c"));
        m.appended("probe", 3, 0.001);
        m.consumer_record("probe-projection", RecordOutcome::parked);

        let om = m.encode(Format::OpenMetrics);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(
            om.contains(
                r#"fleuve_grpc_server_handled_total{grpc_service="fleuve.test.v1.Probe",grpc_method="Ping",grpc_code="NOT_FOUND"} 1"#
            ),
            "{om}"
        );
        // The exemplar rides on the bucket the observation fell in.
        assert!(om.contains(r#"# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.002"#), "{om}");
        assert!(om.contains(r#"fleuve_event_store_appended_events_total{aggregate_type="probe"} 3"#), "{om}");
        assert!(om.contains(r#"fleuve_event_store_conflicts_total{aggregate_type="probe"} 0"#), "{om}");
        assert!(om.contains(r#"fleuve_build_info{version=""#), "{om}");

        let text = m.encode(Format::Prometheus);
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("trace_id"), "exemplars are OpenMetrics only: {text}");
        assert!(
            text.contains(r#"fleuve_consumer_records_total{consumer="probe-projection",outcome="parked"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn accept_headers_choose_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }

    #[test]
    fn invalid_trace_ids_make_no_exemplar() {
        assert!(exemplar(Some("00000000000000000000000000000000")).is_none());
        assert!(exemplar(Some("abc")).is_none());
        assert!(exemplar(None).is_none());
    }
}
