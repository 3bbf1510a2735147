//! What operators see, with the real tools: Debian's Prometheus scrapes a `fleuve dev`
//! process while a dossier is approved, orders go through the saga and a refused record is
//! parked; its query API must then find the series with the values the test caused.
//! `promtool` checks the exposition and the shipped configuration and runs the alert rules'
//! unit tests.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fleuve_mesh::Role;
use fleuve_proto::order::v1 as order;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::processes::{Process, free_port, wait_for_port};
use crate::saga::{line, place};
use crate::support::{Parties, RemoteParties, approved_dossier, authed, temp_dir};
use crate::tools::{start_dev_logging, start_dev_with_env, tool};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo().join("deploy/prometheus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(input) = stdin {
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn promtool_accepts_the_shipped_configuration_and_the_alert_tests_pass() {
    let (ok, out) = promtool(&["check", "config", "prometheus.yml"], None);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["check", "rules", "alerts.yml"], None);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "alerts.test.yml"], None);
    assert!(ok, "{out}");
}

/// Runs the dashboards' generator (`deploy/grafana/dashboards.py`) with `args`.
fn dashboards(args: &[&str]) -> String {
    let out = Command::new(tool("python3"))
        .arg(repo().join("deploy/grafana/dashboards.py"))
        .args(args)
        .output()
        .expect("run python3 (scripts/test installs grafana-foundation-sdk in its venv)");
    assert!(
        out.status.success(),
        "dashboards.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names of `fleuve_` metrics an expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("fleuve_") {
        let tail = &rest[start..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboards_are_the_generators_output_and_promtool_parses_every_panel() {
    // The committed JSON is what the generator writes today.
    dashboards(&["--check"]);
    let exprs: Vec<String> = dashboards(&["--exprs"]).lines().map(str::to_owned).collect();
    assert!(exprs.len() >= 40, "{} expressions", exprs.len());
    // promtool parses PromQL in rule files: one recording rule per panel expression.
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard_panel_{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = temp_dir("fleuve-dashboards");
    let file = dir.join("panels.yml");
    std::fs::write(&file, rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()], None);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

/// A Prometheus server on a free loopback port scraping `target` every second, with the
/// shipped alert rules loaded and exemplar storage on.
struct Prometheus {
    _process: Process,
    url: String,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        let port = free_port();
        let rules = repo().join("deploy/prometheus/alerts.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: fleuve-dev\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let process = Process(child);
        wait_for_port(port, Duration::from_secs(30));
        Prometheus { _process: process, url: format!("http://127.0.0.1:{port}") }
    }

    /// The value of the instant query `expr` (the first series), if it has one.
    async fn value(&self, expr: &str) -> Option<f64> {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `expr` equals `expected` (the scrape and the samplers run every second).
    async fn expect(&self, expr: &str, expected: f64) {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let value = self.value(expr).await;
            if value == Some(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "{expr} = {value:?}, expected {expected}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn get(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("admin server answers");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_fleuve_dev_through_a_dossier_a_saga_and_a_dead_letter() {
    let dir = temp_dir("fleuve-prometheus");
    let (port, admin_port) = (free_port(), free_port());
    let admin = format!("127.0.0.1:{admin_port}");
    let (_dev, vars) = tokio::task::block_in_place(|| {
        start_dev_with_env(
            &dir,
            port,
            &["--no-edge", "--admin-listen", &admin],
            &[("FLEUVE_ADMIN__SAMPLE_INTERVAL_SECONDS", "1")],
        )
    });
    assert_eq!(vars["FLEUVE_METRICS"], format!("http://{admin}/metrics"));

    // Liveness and readiness (migrations applied, broker and registry answering).
    let (status, _, body) = get(&format!("http://{admin}/healthz"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = get(&format!("http://{admin}/readyz"), None).await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    for check in ["migrations", "broker", "registry"] {
        assert_eq!(ready["checks"][check], "ok", "{body}");
    }

    let prometheus = Prometheus::start(&dir, &admin);
    prometheus.expect(r#"up{job="fleuve-dev"}"#, 1.0).await;

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to fleuve dev");
    let parties = RemoteParties { channel: channel.clone(), vars: vars.clone() };

    // A dossier's life: created, submitted, reviewed, approved.
    approved_dossier(&parties, "Tecno", "Camon 30").await;

    // Three orders confirmed, one declined after its stock was reserved (compensated).
    let customer = parties.token(Role::Applicant);
    let mut orders = order::order_service_client::OrderServiceClient::new(channel.clone());
    let mut placed = Vec::new();
    for (key, token) in [("m1", "tok_visa"), ("m2", "tok_visa"), ("m3", "tok_visa"), ("m4", "tok_insufficient_1")] {
        let order = orders
            .place_order(authed(place(key, vec![line("sku-pen", 1, 100)], token), &customer))
            .await
            .expect("place")
            .into_inner()
            .order
            .expect("order");
        placed.push(order.order_id);
    }
    for order_id in &placed {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = orders
                .get_order(authed(order::GetOrderRequest { order_id: order_id.clone() }, &customer))
                .await
                .expect("get order")
                .into_inner()
                .order
                .expect("order")
                .status();
            if matches!(status, order::OrderStatus::Confirmed | order::OrderStatus::Failed) {
                break;
            }
            assert!(Instant::now() < deadline, "order {order_id} still {status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A record no consumer can decode: the notification consumer parks it (so does the
    // certificate registry's, which reads the same topic).
    let producer: FutureProducer =
        fleuve_bus::BusConfig::new(vars["KAFKA_BOOTSTRAP_SERVERS"].clone()).producer_config().create().unwrap();
    producer
        .send(
            FutureRecord::to("homologation.certificate.v1").key("garbage").payload(&b"\x00\x01junk".to_vec()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    tokio::task::block_in_place(move || drop(producer));

    // What Prometheus scraped.
    prometheus.expect(r#"sum(fleuve_saga_finished_total{outcome="confirmed"})"#, 3.0).await;
    prometheus.expect(r#"sum(fleuve_saga_finished_total{outcome="compensated"})"#, 1.0).await;
    prometheus.expect(r#"fleuve_saga_orders{state="confirmed"}"#, 3.0).await;
    prometheus.expect(r#"fleuve_saga_orders{state="failed"}"#, 1.0).await;
    prometheus.expect(r#"fleuve_saga_overdue_orders"#, 0.0).await;
    prometheus.expect(r#"sum(fleuve_grpc_server_handled_total{grpc_method="PlaceOrder",grpc_code="OK"})"#, 4.0).await;
    prometheus
        .expect(r#"sum(fleuve_grpc_server_handled_total{grpc_method="ApproveDossier",grpc_code="OK"})"#, 1.0)
        .await;
    prometheus.expect(r#"fleuve_dead_letters_parked{consumer="notification"}"#, 1.0).await;
    prometheus.expect(r#"sum(fleuve_consumer_records_total{consumer="notification",outcome="parked"})"#, 1.0).await;
    prometheus.expect("fleuve_outbox_pending_rows", 0.0).await;
    prometheus.expect("fleuve_outbox_oldest_pending_age_seconds", 0.0).await;
    prometheus.expect(r#"fleuve_event_store_appends_total{aggregate_type="certificate"}"#, 1.0).await;
    prometheus.expect(r#"sum(fleuve_relay_published_total) > bool 0"#, 1.0).await;
    prometheus.expect(r#"count(fleuve_consumer_lag_records) > bool 0"#, 1.0).await;
    prometheus.expect(r#"sum(fleuve_consumer_lag_records)"#, 0.0).await;
    prometheus.expect(r#"count(fleuve_projection_lag_seconds_count) > bool 0"#, 1.0).await;
    prometheus.expect(r#"sum(fleuve_db_pool_checkouts_total) > bool 0"#, 1.0).await;
    prometheus.expect(r#"count(fleuve_db_pool_connections{state="idle"})"#, 1.0).await;
    prometheus.expect(r#"count(fleuve_build_info)"#, 1.0).await;
    // The dead letter fires its alert once it has been parked for a minute; the rest stay
    // silent.
    prometheus.expect(r#"count(ALERTS{alertname="FleuveDeadLettersParked",consumer="notification"})"#, 1.0).await;
    prometheus.expect(r#"count(ALERTS{alertname!="FleuveDeadLettersParked"}) or vector(0)"#, 0.0).await;

    // A refused token is counted by reason.
    let refused = orders
        .place_order(authed(place("m5", vec![line("sku-pen", 1, 100)], "tok_visa"), "not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    prometheus.expect(r#"sum(fleuve_jwt_refusals_total)"#, 1.0).await;

    // The histograms carry trace ids as exemplars, kept by Prometheus.
    let exemplars: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/query_exemplars", prometheus.url))
        .query(&[("query", "fleuve_grpc_server_handling_seconds_bucket"), ("start", "0"), ("end", "9999999999")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trace_ids: Vec<&str> = exemplars["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .filter_map(|e| e["labels"]["trace_id"].as_str())
        .collect();
    assert!(!trace_ids.is_empty() && trace_ids.iter().all(|id| id.len() == 32), "{exemplars}");

    // Both formats, and promtool accepts the Prometheus text.
    let url = format!("http://{admin}/metrics");
    let (_, content_type, text) = get(&url, None).await;

    // Every metric a dashboard panel reads is in the exposition (a family with no series yet,
    // such as relay errors, still shows its TYPE line).
    let mut exposed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            exposed.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    exposed.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    let used: std::collections::BTreeSet<String> = dashboards(&["--exprs"]).lines().flat_map(metric_names).collect();
    let missing: Vec<&String> = used.iter().filter(|name| !exposed.contains(*name)).collect();
    assert!(missing.is_empty(), "dashboards read metrics fleuve does not expose: {missing:?}");
    assert!(used.len() >= 20, "{used:?}");

    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}");
    let (_, content_type, open) = get(&url, Some("application/openmetrics-text; version=1.0.0")).await;
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(open.ends_with("# EOF\n") && open.contains("trace_id="), "exemplars in OpenMetrics");
}

/// A span as the OTLP receiver (`tests/otlp/receiver.py`) wrote it.
#[derive(Debug, Clone, serde::Deserialize)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: std::collections::HashMap<String, Value>,
}

impl ReceivedSpan {
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).and_then(Value::as_str).unwrap_or_default()
    }
}

fn received(file: &Path) -> Vec<ReceivedSpan> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The chain from `span` up to its trace's root: each span's name, the root last.
fn ancestry<'a>(spans: &'a [ReceivedSpan], span: &'a ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    let mut chain = vec![span];
    let mut current = span;
    while !current.parent_span_id.is_empty() && current.parent_span_id != "0000000000000000" {
        match spans.iter().find(|s| s.span_id == current.parent_span_id && s.trace_id == current.trace_id) {
            Some(parent) => {
                chain.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    chain
}

/// Waits until `found` picks a span out of what the receiver got.
async fn span_where(file: &Path, what: &str, found: impl Fn(&[ReceivedSpan]) -> Option<ReceivedSpan>) -> ReceivedSpan {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        if let Some(span) = found(&received(file)) {
            return span;
        }
        assert!(Instant::now() < deadline, "no {what} among the spans received");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_follows_an_order_and_an_approval_across_every_kafka_hop() {
    let dir = temp_dir("fleuve-otlp");
    let spans_file = dir.join("spans.jsonl");
    let receiver_port = free_port();
    let receiver = Process(
        Command::new(tool("python3"))
            .arg(repo().join("tests/otlp/receiver.py"))
            .arg(receiver_port.to_string())
            .arg(&spans_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the OTLP receiver (scripts/test installs opentelemetry-proto and grpcio)"),
    );
    wait_for_port(receiver_port, Duration::from_secs(30));
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{receiver_port}");
    let (_dev, vars) = tokio::task::block_in_place(|| {
        start_dev_with_env(
            &dir,
            port,
            &["--no-edge"],
            &[("FLEUVE_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "200")],
        )
    });
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to fleuve dev");
    let parties = RemoteParties { channel: channel.clone(), vars };

    // One order through the saga, to its confirmation notice.
    let customer = parties.token(Role::Applicant);
    let mut orders = order::order_service_client::OrderServiceClient::new(channel.clone());
    let order_id = orders
        .place_order(authed(place("traced", vec![line("sku-pen", 1, 100)], "tok_visa"), &customer))
        .await
        .expect("place")
        .into_inner()
        .order
        .expect("order")
        .order_id;
    let notified = span_where(&spans_file, "notification of the confirmed order", |spans| {
        spans
            .iter()
            .find(|s| {
                s.attribute("messaging.destination.name") == "order.confirmed"
                    && s.attribute("messaging.operation") == "process"
                    && s.attribute("consumer") == "notification"
            })
            .cloned()
    })
    .await;
    let spans = received(&spans_file);
    let chain = ancestry(&spans, &notified);
    let names: Vec<&str> = chain.iter().rev().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fleuve.order.v1.OrderService/PlaceOrder",
            "stock.check.request publish",
            "stock.check.request process",
            "stock.checked publish",
            "stock.checked process",
            "payment.request publish",
            "payment.request process",
            "payment.result publish",
            "payment.result process",
            "order.confirmed publish",
            "order.confirmed process",
        ],
        "one trace, each Kafka hop a publish span and a process span under the one before"
    );
    let root = chain.last().unwrap();
    let correlation_id = root.attribute("correlation_id");
    assert!(!correlation_id.is_empty());
    for hop in &chain[..chain.len() - 1] {
        assert_eq!(hop.trace_id, root.trace_id);
        assert_eq!(hop.attribute("messaging.system"), "kafka", "{hop:?}");
        let (topic, operation) = hop.name.rsplit_once(' ').unwrap();
        assert_eq!(hop.attribute("messaging.destination.name"), topic, "{hop:?}");
        assert_eq!(hop.attribute("messaging.operation"), operation, "{hop:?}");
        assert!(!hop.attribute("messaging.message.id").is_empty(), "{hop:?}");
        assert_eq!(hop.attribute("correlation_id"), correlation_id, "{hop:?}");
    }
    // Stock and billing did their part in their own consumer spans.
    let consumers: Vec<&str> = chain.iter().map(|s| s.attribute("consumer")).filter(|c| !c.is_empty()).collect();
    assert_eq!(consumers, ["notification", "order-saga", "billing", "order-saga", "stock"]);

    // A dossier's approval reaches the registry, statistics and notification projections in
    // the approval's trace.
    approved_dossier(&parties, "Itel", "A70").await;
    let approval = span_where(&spans_file, "the approval's server span", |spans| {
        spans.iter().find(|s| s.name == "fleuve.homologation.v1.DossierService/ApproveDossier").cloned()
    })
    .await;
    for consumer in ["certificate-registry", "statistics", "notification"] {
        let applied = span_where(&spans_file, &format!("{consumer} applying the approval"), |spans| {
            spans
                .iter()
                .find(|s| {
                    s.trace_id == approval.trace_id
                        && s.attribute("consumer") == consumer
                        && s.attribute("messaging.operation") == "process"
                })
                .cloned()
        })
        .await;
        let spans = received(&spans_file);
        let chain = ancestry(&spans, &applied);
        assert_eq!(chain.len(), 3, "{consumer}: process → publish → ApproveDossier: {chain:?}");
        assert!(chain[1].name.ends_with(" publish"), "{chain:?}");
        assert_eq!(chain[2].span_id, approval.span_id, "{chain:?}");
    }

    // Spans leave in batches, off the request path: with the collector gone, calls still
    // succeed, no slower than before beyond the noise.
    let timed = |label: &'static str| {
        let (mut orders, customer, order_id) = (orders.clone(), customer.clone(), order_id.clone());
        async move {
            let mut times = Vec::new();
            for _ in 0..60 {
                let started = Instant::now();
                orders
                    .get_order(authed(order::GetOrderRequest { order_id: order_id.clone() }, &customer))
                    .await
                    .unwrap_or_else(|e| panic!("GetOrder {label}: {e}"));
                times.push(started.elapsed());
            }
            times.sort();
            times[times.len() / 2]
        }
    };
    let with_collector = timed("with the collector").await;
    drop(receiver);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let without = timed("without the collector").await;
    assert!(
        without <= with_collector * 3 / 2 + Duration::from_millis(2),
        "median GetOrder {without:?} without the collector, {with_collector:?} with it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_log_line_of_a_saga_run_is_one_json_object_with_its_ids() {
    let dir = temp_dir("fleuve-logs");
    let log = dir.join("fleuve.log");
    let port = free_port();
    let (_dev, vars) = tokio::task::block_in_place(|| start_dev_logging(&dir, port, Some(&log)));
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to fleuve dev");
    let customer = vars["APPLICANT_TOKEN"].clone();
    let mut orders = order::order_service_client::OrderServiceClient::new(channel);
    let placed = orders
        .place_order(authed(place("logged", vec![line("sku-pen", 1, 100)], "tok_visa"), &customer))
        .await
        .expect("place");
    let correlation_id =
        placed.metadata().get("x-correlation-id").and_then(|v| v.to_str().ok()).expect("correlation id").to_owned();
    // Until the notification consumer has applied the confirmation.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Complete lines only: the process may be in the middle of writing a batch.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let lines: Vec<Value> = complete
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
            .collect();
        let notified = lines.iter().any(|l| {
            l["message"] == "event applied"
                && l["consumer"] == "notification"
                && l["messaging.destination.name"] == "order.confirmed"
        });
        if notified {
            break lines;
        }
        assert!(Instant::now() < deadline, "the confirmation was not applied by the notification consumer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hex =
        |v: &Value, len: usize| v.as_str().is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()));
    for line in &lines {
        for field in ["timestamp", "level", "service", "target", "message"] {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
        assert_eq!(line["service"], "fleuve", "{line}");
    }
    // Inside a request or a record: the trace, the span and the correlation id.
    let saga: Vec<&Value> = lines.iter().filter(|l| l["correlation_id"] == correlation_id.as_str()).collect();
    let call = saga
        .iter()
        .find(|l| l["message"] == "grpc call" && l["rpc.method"] == "PlaceOrder")
        .unwrap_or_else(|| panic!("no PlaceOrder call line among {saga:?}"));
    let applied: Vec<&&Value> = saga.iter().filter(|l| l["message"] == "event applied").collect();
    // stock.check.request, stock.checked, payment.request, payment.result, order.confirmed (the
    // saga starts in PlaceOrder's transaction: order.placed is not consumed by the orchestrator).
    assert!(applied.len() >= 5, "the saga's five records applied under its correlation id: {applied:?}");
    for line in applied.iter().map(|l| **l).chain([*call]) {
        assert!(hex(&line["trace_id"], 32) && hex(&line["span_id"], 16), "ids: {line}");
        assert_eq!(line["trace_id"], call["trace_id"], "one trace: {line}");
    }
}
