//! The delivery worker against real peers: an SMTP server (aiosmtpd) and an HTTP server that
//! fails once; retries with backoff, then a final status.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fleuve_notification::domain::{Channel, DeliveryStatus, Notification};
use fleuve_notification::{Notifications, Settings, SmtpSettings, StaticDirectory, WebhookSettings};
use fleuve_proto::homologation::v1::{self as pb, dossier_event::Event as D};
use fleuve_store::testing::TestDatabase;
use hmac::Mac;

use crate::support::*;

/// A dossier of `applicant` declared incomplete: one notification.
async fn incomplete_dossier(db: &TestDatabase, app: &Notifications, applicant: &str) -> i64 {
    let projection = app.projection();
    let dossier = new_id();
    apply(db, &projection, &created(&dossier, applicant)).await.unwrap();
    let event = dossier_event(
        &dossier,
        "DossierDeclaredIncomplete",
        D::DeclaredIncomplete(pb::DossierDeclaredIncomplete {
            reason: "photos missing".into(),
            missing_documents: vec![pb::DocumentKind::Photos.into()],
            reviewer_id: new_id(),
        }),
    );
    apply(db, &projection, &event).await.unwrap();
    app.list(applicant.to_owned(), None, 1).await.unwrap().items[0].id
}

/// Waits until the notification's delivery on `channel` is no longer pending.
async fn settled(app: &Notifications, id: i64, channel: Channel) -> Notification {
    eventually("a final delivery status", Duration::from_secs(20), || {
        let app = app.clone();
        async move {
            let n = app.get(id).await.unwrap().unwrap();
            let delivery = n.deliveries.iter().find(|d| d.channel == channel).unwrap();
            (delivery.status != DeliveryStatus::Pending).then_some(n)
        }
    })
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `python -m aiosmtpd` printing every message it receives to a file; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    output: PathBuf,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let tools = std::env::var("FLEUVE_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fleuve/tools"));
        let python = tools.join("venv/bin/python");
        let port = free_port();
        let output = std::env::temp_dir().join(format!("fleuve-smtp-{}.log", new_id()));
        let log = std::fs::File::create(&output).unwrap();
        let child = Command::new(&python)
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Debugging",
            ])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_file(&output);
                panic!(
                    "cannot run {} -m aiosmtpd ({e}); install it with scripts/test or pip install aiosmtpd",
                    python.display()
                )
            });
        let mut server = SmtpServer { child, port, output };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("aiosmtpd exited with {status}: {}", server.printed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd does not listen on {port}: {}", server.printed());
    }

    fn printed(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.output);
    }
}

pub async fn smtp_delivers_to_a_real_server(db: TestDatabase) {
    let smtp = SmtpServer::start();
    let settings = Settings {
        log: false,
        smtp: Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp.port,
            username: None,
            password: None,
            from: "Fleuve <notifications@fleuve.test>".into(),
            timeout: Duration::from_secs(5),
        }),
        ..quick_settings()
    };
    let app = app(&db, settings);
    let known = new_id();
    let unknown = new_id();
    let directory = StaticDirectory::new([(known.clone(), "applicant@example.cg".to_owned())]);
    let (stop, shutdown) = shutdown();
    let worker = app.spawn_delivery_worker(Arc::new(directory), shutdown).unwrap();

    let mailed = incomplete_dossier(&db, &app, &known).await;
    let unaddressed = incomplete_dossier(&db, &app, &unknown).await;

    let n = settled(&app, mailed, Channel::Email).await;
    let delivery = &n.deliveries[0];
    assert_eq!(delivery.status, DeliveryStatus::Sent, "{delivery:?}");
    assert_eq!(delivery.attempts, 1);
    assert!(delivery.delivered_at.is_some());

    // What the server printed: the message as received (aiosmtpd's Debugging handler does not
    // print the envelope).
    let printed = eventually("the message printed by aiosmtpd", Duration::from_secs(10), || {
        let printed = smtp.printed();
        async move { printed.contains("END MESSAGE").then_some(printed) }
    })
    .await;
    assert!(printed.contains("\nTo: applicant@example.cg\n"), "{printed}");
    assert!(printed.contains("\nFrom: Fleuve <notifications@fleuve.test>\n"), "{printed}");
    assert!(printed.contains("Subject: Dossier incomplete: Tecno Spark 20"), "{printed}");
    assert!(printed.contains("Missing documents: photos"), "{printed}");
    assert_eq!(printed.matches("END MESSAGE").count(), 1, "{printed}");

    // No address: failed at once, with the reason.
    let n = settled(&app, unaddressed, Channel::Email).await;
    let delivery = &n.deliveries[0];
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(delivery.attempts, 1);
    let error = delivery.last_error.as_deref().unwrap();
    assert!(error.contains("no email address known for user") && error.contains(&unknown), "{error}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("worker stops").unwrap();
}

/// An HTTP endpoint answering 500 to the first request and 200 afterwards, keeping what it got.
#[derive(Default)]
struct Hook {
    calls: AtomicUsize,
    received: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn hook(State(state): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    state.received.lock().unwrap().push((headers, body));
    if state.calls.fetch_add(1, Ordering::SeqCst) == 0 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

/// Serves `router` on a free loopback port; the webhook settings that post to its `/hook`.
async fn serve_webhook(router: axum::Router, secret: Option<&str>) -> (WebhookSettings, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let settings = WebhookSettings {
        url: format!("http://{address}/hook"),
        secret: secret.map(str::to_owned),
        timeout: Duration::from_secs(5),
    };
    (settings, server)
}

pub async fn webhook_retries_until_accepted(db: TestDatabase) {
    let state = Arc::new(Hook::default());
    let router = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(state.clone());
    let (webhook, server) = serve_webhook(router, Some("s3cret")).await;

    let settings = Settings { log: false, webhook: Some(webhook), ..quick_settings() };
    let app = app(&db, settings);
    let (stop, shutdown) = shutdown();
    let worker = app.spawn_delivery_worker(Arc::new(StaticDirectory::default()), shutdown).unwrap();
    let applicant = new_id();
    let id = incomplete_dossier(&db, &app, &applicant).await;

    let n = settled(&app, id, Channel::Webhook).await;
    let delivery = &n.deliveries[0];
    assert_eq!(delivery.status, DeliveryStatus::Sent, "{delivery:?}");
    assert_eq!(delivery.attempts, 2);
    assert!(delivery.last_error.as_deref().unwrap().contains("500"), "{delivery:?}");
    assert!(delivery.delivered_at.is_some());

    let received = state.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[1];
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["notification_id"], id);
    assert_eq!(json["kind"], "dossier.incomplete");
    assert_eq!(json["recipient_id"], applicant.as_str());
    // The signature, checked with an independent HMAC computation.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers.get("x-fleuve-signature").unwrap().to_str().unwrap(), expected);
    // Both attempts sent the same body.
    assert_eq!(received[0].1, received[1].1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("worker stops").unwrap();
    server.abort();
}

pub async fn gives_up_after_max_attempts(db: TestDatabase) {
    // Nothing listens there: every attempt is refused.
    let settings = Settings {
        log: true,
        webhook: Some(WebhookSettings {
            url: format!("http://127.0.0.1:{}/hook", free_port()),
            secret: None,
            timeout: Duration::from_secs(2),
        }),
        max_attempts: 3,
        ..quick_settings()
    };
    let app = app(&db, settings);
    let (stop, shutdown) = shutdown();
    let worker = app.spawn_delivery_worker(Arc::new(StaticDirectory::default()), shutdown).unwrap();
    let id = incomplete_dossier(&db, &app, &new_id()).await;

    let n = settled(&app, id, Channel::Webhook).await;
    let webhook = n.deliveries.iter().find(|d| d.channel == Channel::Webhook).unwrap();
    assert_eq!(webhook.status, DeliveryStatus::Failed, "{webhook:?}");
    assert_eq!(webhook.attempts, 3);
    assert!(webhook.last_error.as_deref().unwrap().contains("gave up after 3 attempts"), "{webhook:?}");
    assert!(webhook.delivered_at.is_none());
    // The log channel of the same notification went through.
    let log = n.deliveries.iter().find(|d| d.channel == Channel::Log).unwrap();
    let log = if log.status == DeliveryStatus::Pending {
        settled(&app, id, Channel::Log).await.deliveries
    } else {
        n.deliveries.clone()
    };
    let log = log.iter().find(|d| d.channel == Channel::Log).unwrap();
    assert_eq!(log.status, DeliveryStatus::Sent);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("worker stops").unwrap();
}

/// An HTTP endpoint that accepts everything and counts what it got per notification id.
#[derive(Default)]
struct Counter {
    by_notification: Mutex<std::collections::HashMap<i64, usize>>,
}

async fn count(State(state): State<Arc<Counter>>, body: Bytes) -> StatusCode {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = json["notification_id"].as_i64().unwrap();
    *state.by_notification.lock().unwrap().entry(id).or_default() += 1;
    StatusCode::OK
}

/// Two delivery workers on one database (two replicas), small batches: every delivery is sent
/// once, by one of them.
pub async fn two_workers_send_each_delivery_once(db: TestDatabase) {
    let state = Arc::new(Counter::default());
    let router = axum::Router::new().route("/hook", axum::routing::post(count)).with_state(state.clone());
    let (webhook, server) = serve_webhook(router, None).await;
    let settings = Settings { log: false, webhook: Some(webhook), batch_size: 3, ..quick_settings() };
    let app = app(&db, settings.clone());
    let mut ids = Vec::new();
    for _ in 0..24 {
        ids.push(incomplete_dossier(&db, &app, &new_id()).await);
    }
    let replica = crate::support::app(&db, settings);
    let (stop, first_shutdown) = shutdown();
    let (stop_other, other_shutdown) = shutdown();
    let first = app.spawn_delivery_worker(Arc::new(StaticDirectory::default()), first_shutdown).unwrap();
    let second = replica.spawn_delivery_worker(Arc::new(StaticDirectory::default()), other_shutdown).unwrap();
    for id in &ids {
        let n = settled(&app, *id, Channel::Webhook).await;
        assert_eq!(n.deliveries[0].status, DeliveryStatus::Sent, "{n:?}");
        assert_eq!(n.deliveries[0].attempts, 1, "{n:?}");
    }
    let sent = state.by_notification.lock().unwrap().clone();
    assert_eq!(sent.len(), ids.len());
    assert!(sent.values().all(|n| *n == 1), "each sent once: {sent:?}");
    stop.send(()).unwrap();
    stop_other.send(()).unwrap();
    for worker in [first, second] {
        tokio::time::timeout(Duration::from_secs(5), worker).await.expect("worker stops").unwrap();
    }
    server.abort();
}
