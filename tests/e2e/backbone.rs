//! The event backbone end to end: commands → events → Kafka → projections, dead letters through
//! gRPC and the `fleuve` CLI, rebuilds while queries go on, trace context into consumer spans.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::support::{Backend, TestNode, authed, certified_dossier, fleuve_command, submitted_dossier, verified_when};
use diesel::prelude::*;
use fleuve_mesh::Role;
use fleuve_proto::homologation::v1 as pb;
use fleuve_proto::ops::v1 as ops;
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tonic::transport::Channel;

pub(crate) fn operations(node: &TestNode) -> ops::operations_service_client::OperationsServiceClient<Channel> {
    ops::operations_service_client::OperationsServiceClient::new(node.channel.clone())
}

/// The registered schema id of a topic's values, from the node's registry.
async fn schema_id(node: &TestNode, topic: &str) -> u32 {
    let url = format!("{}/subjects/{topic}-value/versions/latest", node.registry_url);
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let path = url.trim_start_matches("http://").trim_start_matches(addr.as_str()).to_owned();
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: fleuve\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut reply = String::new();
        std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
        reply
    })
    .await
    .unwrap();
    let body = reply.split("\r\n\r\n").nth(1).expect("http body");
    let json: serde_json::Value = serde_json::from_str(body).expect("registry json");
    json["id"].as_u64().expect("schema id") as u32
}

/// Produces one event record the way the outbox relay does (Confluent frame and headers).
pub(crate) async fn produce_event(
    node: &TestNode,
    topic: &str,
    message: &str,
    aggregate: (&str, &str, i64),
    event_type: &str,
    payload: Vec<u8>,
) {
    let id = schema_id(node, topic).await;
    let indexes = fleuve_bus::schema::ProtoCatalog::fleuve()
        .unwrap()
        .message_indexes("fleuve/homologation/v1/events.proto", message)
        .unwrap();
    let value = fleuve_bus::encode_confluent(id, &indexes, &payload);
    let (aggregate_type, aggregate_id, version) = aggregate;
    let event_id = uuid::Uuid::now_v7().to_string();
    let version = version.to_string();
    let headers = [
        ("event_id", event_id.as_str()),
        ("event_type", event_type),
        ("aggregate_type", aggregate_type),
        ("aggregate_id", aggregate_id),
        ("aggregate_version", version.as_str()),
        ("correlation_id", "corr-by-hand"),
        ("actor", "e2e"),
    ]
    .iter()
    .fold(rdkafka::message::OwnedHeaders::new(), |h, (key, value)| {
        h.insert(rdkafka::message::Header { key, value: Some(*value) })
    });
    send(node, FutureRecord::to(topic).key(aggregate_id).payload(&value).headers(headers)).await;
}

async fn send(node: &TestNode, record: FutureRecord<'_, str, Vec<u8>>) {
    let producer: FutureProducer =
        fleuve_bus::BusConfig::new(node.bootstrap_servers.clone()).producer_config().create().unwrap();
    producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("produce");
    tokio::task::block_in_place(move || drop(producer));
}

pub(crate) async fn dead_letters(
    node: &TestNode,
    consumer: &str,
    status: ops::DeadLetterStatus,
) -> Vec<ops::DeadLetter> {
    let admin = node.token(Role::Admin);
    let request =
        ops::ListDeadLettersRequest { consumer: consumer.into(), status: status as i32, ..Default::default() };
    operations(node)
        .list_dead_letters(authed(request, &admin))
        .await
        .expect("list dead letters")
        .into_inner()
        .dead_letters
}

fn fleuve_cli(node: &TestNode, args: &[&str]) -> (bool, String) {
    let out = fleuve_command()
        .args(args)
        .args(["--addr", &node.addr.to_string(), "--token", &node.token(Role::Admin)])
        .output()
        .expect("run fleuve");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn reminders(node: &TestNode, number: &str) -> i64 {
    use fleuve_notification::schema::notification_reminders as r;
    let number = number.to_owned();
    node.database
        .run(move |conn| {
            r::table.filter(r::certificate_number.eq(number)).count().get_result::<i64>(conn).map_err(Into::into)
        })
        .await
        .map_err(|e: fleuve_store::StoreError| e)
        .expect("count reminders")
}

/// A certificate event whose dossier the notification service does not know is retried, then
/// parked (with its correlation id); other consumers and keys go on; once the dossier is known
/// the CLI redrives it, exactly once. Undecodable records stay parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_and_redriven_through_grpc_and_the_cli() {
    let mut config = fleuve_mesh::MeshConfig::default();
    config.bus.max_attempts = 2;
    let node = TestNode::start_with(Backend::Postgres, config).await;
    let number = "ARPCE-HOM-2026-900001";
    let dossier = "dossier-arrives-late";
    let now = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp(), nanos: 0 };
    let until = prost_types::Timestamp { seconds: now.seconds + 5 * 365 * 86_400, nanos: 0 };
    let issued = pb::CertificateEvent {
        occurred_at: Some(now),
        event: Some(pb::certificate_event::Event::Issued(pb::CertificateIssued {
            certificate_number: number.into(),
            dossier_id: dossier.into(),
            organisation_id: node.demo.applicant_organisation.organisation_id.clone(),
            equipment: Some(crate::support::equipment("Itel", "A70")),
            valid_from: Some(now),
            valid_until: Some(until),
        })),
    };
    produce_event(
        &node,
        "homologation.certificate.v1",
        "fleuve.homologation.v1.CertificateEvent",
        ("certificate", number, 1),
        "CertificateIssued",
        issued.encode_to_vec(),
    )
    .await;
    send(&node, FutureRecord::to("homologation.certificate.v1").key("garbage").payload(&b"\x00\x01junk".to_vec()))
        .await;

    // The registry projection takes the certificate; the notification projection parks it.
    verified_when(&node, number, "published by the registry projection", |v| v.valid).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let parked = loop {
        let parked = dead_letters(&node, "notification", ops::DeadLetterStatus::Parked).await;
        if parked.len() == 2 {
            break parked;
        }
        assert!(tokio::time::Instant::now() < deadline, "two parked letters expected, got {parked:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let late = parked.iter().find(|l| l.key == number).expect("the certificate's letter");
    assert!(late.error.contains("not known yet") && late.error.contains("2 attempts"), "{late:?}");
    assert_eq!(late.correlation_id, "corr-by-hand");
    assert_eq!(late.topic, "homologation.certificate.v1");
    assert_eq!(late.headers.get("event_type").map(String::as_str), Some("CertificateIssued"));
    let junk = parked.iter().find(|l| l.key == "garbage").expect("the garbage letter");
    assert!(junk.error.contains("schema") || junk.error.contains("frame"), "{junk:?}");

    // Listing needs the admin role.
    let denied = operations(&node)
        .list_dead_letters(authed(ops::ListDeadLettersRequest::default(), &node.token(Role::Reviewer)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // The CLI shows both.
    let (ok, listed) =
        tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "list", "--consumer", "notification"]));
    assert!(ok && listed.contains("not known yet") && listed.contains(&late.id.to_string()), "{listed}");

    // Redriving before the cause is fixed keeps it parked and says why.
    let id = late.id.to_string();
    let (ok, text) = tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "redrive", &id]));
    assert!(!ok && text.contains("still parked"), "{text}");
    assert_eq!(reminders(&node, number).await, 0);

    // Fix the cause: the dossier becomes known to the notification service.
    let created = pb::DossierEvent {
        occurred_at: Some(now),
        event: Some(pb::dossier_event::Event::Created(pb::DossierCreated {
            dossier_id: dossier.into(),
            organisation_id: node.demo.applicant_organisation.organisation_id.clone(),
            applicant_id: node.demo.applicant.user_id.clone(),
            equipment: Some(crate::support::equipment("Itel", "A70")),
        })),
    };
    produce_event(
        &node,
        "homologation.dossier.v1",
        "fleuve.homologation.v1.DossierEvent",
        ("dossier", dossier, 1),
        "DossierCreated",
        created.encode_to_vec(),
    )
    .await;
    let database = node.database.clone();
    node.eventually("the late dossier applied by the notification projection", || {
        let database = database.clone();
        async move {
            use fleuve_notification::schema::notification_dossiers as d;
            database
                .run(|conn| {
                    d::table
                        .filter(d::dossier_id.eq("dossier-arrives-late"))
                        .count()
                        .get_result::<i64>(conn)
                        .map_err(Into::into)
                })
                .await
                .map_err(|e: fleuve_store::StoreError| e)
                .unwrap()
                == 1
        }
    })
    .await;

    let (ok, text) = tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "redrive", &id]));
    assert!(ok && text.contains("1 redriven"), "{text}");
    assert_eq!(reminders(&node, number).await, 2, "the 60- and 30-day reminders, scheduled once");
    let (ok, text) = tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "redrive", &id]));
    assert!(!ok && text.contains("not parked"), "a second redrive changes nothing: {text}");
    assert_eq!(reminders(&node, number).await, 2);

    // --all leaves the undecodable record parked.
    let (ok, text) =
        tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "redrive", "--all", "--consumer", "notification"]));
    assert!(!ok && text.contains("0 redriven, 1 still parked"), "{text}");
    let redriven = dead_letters(&node, "notification", ops::DeadLetterStatus::Redriven).await;
    assert_eq!(redriven.iter().map(|l| l.id).collect::<Vec<_>>(), vec![late.id]);
    assert_eq!(redriven[0].resolution, "redriven: applied");

    // An operator gives the undecodable record up, with a reason; nothing is left parked.
    let junk_id = junk.id.to_string();
    let no_reason = operations(&node)
        .discard_dead_letter(authed(
            ops::DiscardDeadLetterRequest { id: junk.id, reason: " ".into() },
            &node.token(Role::Admin),
        ))
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), tonic::Code::InvalidArgument);
    let (ok, text) = tokio::task::block_in_place(|| {
        fleuve_cli(&node, &["dlq", "discard", &junk_id, "--reason", "not a Fleuve producer"])
    });
    assert!(ok && text.contains("discarded") && text.contains("not a Fleuve producer"), "{text}");
    let again = operations(&node)
        .discard_dead_letter(authed(
            ops::DiscardDeadLetterRequest { id: junk.id, reason: "twice".into() },
            &node.token(Role::Admin),
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");
    assert!(dead_letters(&node, "notification", ops::DeadLetterStatus::Parked).await.is_empty());
    let (ok, text) =
        tokio::task::block_in_place(|| fleuve_cli(&node, &["dlq", "redrive", "--all", "--consumer", "notification"]));
    assert!(ok && text.contains("0 redriven, 0 still parked"), "{text}");
    node.stop().await;
}

/// Rows of the live public registry, by certificate number.
async fn registry_rows(node: &TestNode) -> BTreeMap<String, String> {
    let rows = node
        .database
        .run(|conn| fleuve_homologation::app::registry::RegistryTable::Live.all(conn))
        .await
        .expect("registry rows");
    rows.into_iter().map(|r| (r.certificate_number.clone(), format!("{r:?}"))).collect()
}

/// Rows of the live statistics model.
async fn statistics_rows(node: &TestNode) -> Vec<String> {
    let rows = node
        .database
        .run(|conn| fleuve_statistics::StatisticsProjection::live().rows(conn))
        .await
        .expect("statistics rows");
    let mut rows: Vec<String> = rows.iter().map(|r| format!("{r:?}")).collect();
    rows.sort();
    rows
}

/// `fleuve projections rebuild` replays the event store into a fresh table and swaps it in;
/// public verification keeps answering throughout and the result equals the live model.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilt_registry_equals_the_live_one_while_queries_go_on() {
    let node = TestNode::start(Backend::Postgres).await;
    let admin = node.token(Role::Admin);
    let mut numbers = Vec::new();
    for model in ["Spark 10", "Spark 20", "Pop 8"] {
        numbers.push(certified_dossier(&node, "Tecno", model).await.1);
    }
    node.certificates()
        .suspend_certificate(authed(
            pb::SuspendCertificateRequest {
                certificate_number: numbers[1].clone(),
                expected_version: 0,
                reason: "audit".into(),
            },
            &admin,
        ))
        .await
        .expect("suspend");
    verified_when(&node, &numbers[1], "shown suspended", |v| !v.valid && v.certificate.is_some()).await;
    for number in [&numbers[0], &numbers[2]] {
        verified_when(&node, number, "published", |v| v.valid).await;
    }
    let live = registry_rows(&node).await;
    assert_eq!(live.len(), 3);

    // The statistics projection shows the three approvals through gRPC.
    use fleuve_proto::statistics::v1 as st;
    let mut statistics = st::statistics_service_client::StatisticsServiceClient::new(node.channel.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let figures = statistics
            .get_statistics(authed(st::GetStatisticsRequest::default(), &admin))
            .await
            .expect("statistics")
            .into_inner();
        if figures.decisions.as_ref().is_some_and(|d| d.approved == 3) {
            let fees = &figures.fees[0];
            assert_eq!(fees.invoices, 3, "{figures:?}");
            assert_eq!(figures.processing.as_ref().unwrap().decided, 3);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "statistics never showed 3 approvals: {figures:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stats_before = statistics_rows(&node).await;

    // Queries during the rebuild.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = {
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        let mut registry = node.registry();
        let number = numbers[0].clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let verified = registry
                    .verify_certificate(pb::VerifyCertificateRequest { certificate_number: number.clone() })
                    .await;
                match verified {
                    Ok(v) if v.get_ref().valid => answered.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = operations(&node)
        .rebuild_projection(authed(ops::RebuildProjectionRequest { name: "certificate-registry".into() }, &admin))
        .await
        .expect("rebuild")
        .into_inner();
    assert_eq!(report.replayed_events, 4, "3 issued + 1 suspended: {report:?}");
    let (ok, text) =
        tokio::task::block_in_place(|| fleuve_cli(&node, &["projections", "rebuild", "certificate-registry"]));
    assert!(ok && text.contains("4 events replayed"), "{text}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    reader.await.unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 0, "every query during the rebuilds was answered");
    assert!(answered.load(Ordering::SeqCst) > 0);
    assert_eq!(registry_rows(&node).await, live, "the rebuilt model equals the live one");

    let report = operations(&node)
        .rebuild_projection(authed(ops::RebuildProjectionRequest { name: "statistics".into() }, &admin))
        .await
        .expect("rebuild statistics")
        .into_inner();
    assert!(report.replayed_events > 20, "every dossier event replayed: {report:?}");
    assert_eq!(statistics_rows(&node).await, stats_before, "the rebuilt statistics equal the live ones");

    let unknown = operations(&node)
        .rebuild_projection(authed(ops::RebuildProjectionRequest { name: "nope".into() }, &admin))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let (ok, listed) = tokio::task::block_in_place(|| fleuve_cli(&node, &["projections", "list"]));
    assert!(ok && listed.contains("certificate-registry") && listed.contains("notification"), "{listed}");
    node.stop().await;
}

/// An applicant watching its notifications on a node whose deadline cap is one second: the
/// stream outlives the cap and delivers the "payment due" notice the projection writes from
/// Kafka after the watch started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_streams_notifications_past_the_deadline_cap() {
    use fleuve_proto::notification::v1 as nt;
    let mut config = fleuve_mesh::MeshConfig::default();
    config.limits.max_deadline_seconds = 1;
    let node = TestNode::start_with(Backend::Sqlite, config).await;
    let applicant = node.token(Role::Applicant);
    let mut client = nt::notification_service_client::NotificationServiceClient::new(node.channel.clone());
    let mut stream = client
        .watch_notifications(authed(nt::WatchNotificationsRequest::default(), &applicant))
        .await
        .expect("watch")
        .into_inner();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let id = submitted_dossier(&node, "Infinix", "Hot 50").await;
    node.dossiers()
        .invoice_fee(authed(
            pb::InvoiceFeeRequest { dossier_id: id.clone(), expected_version: 0 },
            &node.token(Role::Admin),
        ))
        .await
        .expect("invoice");
    let received = tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("a notification within 20 s")
        .expect("the stream is still open")
        .expect("a message")
        .notification
        .expect("notification");
    assert_eq!(received.kind, "dossier.payment_due", "{received:?}");
    assert_eq!(received.recipient_id, node.demo.applicant.user_id);
    assert!(received.references.values().any(|v| v == &id), "{received:?}");
    // The node stops within its drain grace even with the watch still open.
    let started = std::time::Instant::now();
    node.stop().await;
    assert!(started.elapsed() < Duration::from_secs(15), "stopping took {:?}", started.elapsed());
    drop(stream);
}

/// A streamed rebuild reports its start (with the store's last position), its batches, then
/// its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_rebuild_reports_its_progress() {
    let node = TestNode::start(Backend::Sqlite).await;
    crate::support::approved_dossier(&node, "Itel", "S25").await;
    let mut stream = operations(&node)
        .stream_rebuild_projection(authed(
            ops::StreamRebuildProjectionRequest { name: "certificate-registry".into() },
            &node.token(Role::Admin),
        ))
        .await
        .expect("stream")
        .into_inner();
    let mut steps = Vec::new();
    while let Some(step) = stream.message().await.expect("a step") {
        steps.push(step);
    }
    let first = steps.first().expect("a first step");
    assert_eq!((first.replayed_events, first.position), (0, 0));
    assert!(first.last_position > 0, "{steps:?}");
    let done = steps.last().and_then(|s| s.done.clone()).expect("the result last");
    assert_eq!(done.name, "certificate-registry");
    assert!(done.replayed_events >= 1, "the certificate's events: {steps:?}");
    assert!(steps.len() >= 3, "start, a batch, the result: {steps:?}");
    let refused = operations(&node)
        .stream_rebuild_projection(authed(
            ops::StreamRebuildProjectionRequest { name: "nope".into() },
            &node.token(Role::Admin),
        ))
        .await
        .err()
        .expect("unknown model");
    assert_eq!(refused.code(), tonic::Code::NotFound);
}
