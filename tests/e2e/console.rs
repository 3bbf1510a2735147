//! The web console in a real browser: Debian's Chromium, driven by playwright-core from
//! `web/tests/*.mjs`, against a started `fleuve dev` serving the embedded build at /console/.
//! Screenshots of the main pages land in `$CARGO_TARGET_DIR/console-artifacts` (or the temp
//! directory).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fleuve_proto::homologation::v1 as pb;

use crate::processes::Graceful;
use crate::processes::free_port;
use crate::support::temp_dir;
use crate::tools::start_dev_with_env;

const APPLICANT: &str = "applicant@congomobile.cg";
const OTHER_APPLICANT: &str = "applicant@brazzaradio.cg";
const ADMIN: &str = "admin@arpce.cg";
const REVIEWER: &str = "reviewer@arpce.cg";

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// Where screenshots go: kept after the run for people to look at.
fn artifacts() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = base.join("console-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// Runs `web/tests/<script>` with node (its packages from web/node_modules, which
/// scripts/build-web links); each line it prints as `ACT {json}` is handed to `act`, and the
/// script resumes when `act` returns. Returns the script's last stdout line as JSON.
pub(crate) fn run_browser(
    script: &str,
    env: &[(&str, &str)],
    mut act: impl FnMut(&serde_json::Value),
) -> serde_json::Value {
    use std::io::{BufRead, Write};
    assert!(
        web().join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: scripts/build-web (run by scripts/test) installs the console's packages"
    );
    let mut child = Command::new("node")
        .arg(format!("tests/{script}"))
        .current_dir(web())
        .env("ARTIFACTS", artifacts())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut last = String::new();
    for line in stdout.lines() {
        let line = line.expect("node's output");
        if let Some(action) = line.strip_prefix("ACT ") {
            act(&serde_json::from_str(action).expect("an action"));
            writeln!(stdin, "done").expect("answer node");
        } else if !line.trim().is_empty() {
            last = line;
        }
    }
    let out = child.wait_with_output().expect("node ends");
    assert!(out.status.success(), "node {script}: {last}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("one JSON line ({e}): {last}"))
}

/// An applicant's first steps in the console: public landing page, sign-in, a new dossier
/// refused field by field (the server's BadRequest details, each shown by its field) then
/// created, the paginated list with its status filter, four documents uploaded (the browser's
/// SHA-256 verified by the server; a PNG that is a PDF refused) and one downloaded byte for
/// byte, submission, a reviewer's "incomplete" shown live on the open page (notification
/// stream) with an unread count, completion, withdrawal, English, sign-out, another
/// organisation's applicant denied the dossier's URL, a wrong password refused; axe-core finds
/// no serious or critical violation on any page.
#[test]
fn an_applicant_files_a_dossier_in_the_browser() {
    let dir = temp_dir("fleuve-console");
    let port = free_port();
    let (dev, vars) = start_dev_with_env(&dir.join("data"), port, &["--no-edge"], &[]);
    let _dev = Graceful(dev);
    let console = format!("http://127.0.0.1:{port}/console/");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reviewer = vars["REVIEWER_TOKEN"].clone();

    let seen = run_browser(
        "applicant.mjs",
        &[
            ("CONSOLE", &console),
            ("APPLICANT_EMAIL", APPLICANT),
            ("OTHER_APPLICANT_EMAIL", OTHER_APPLICANT),
            ("PASSWORD", fleuve_identity::DEMO_PASSWORD),
        ],
        |action| {
            assert_eq!(action["action"], "declare-incomplete", "{action}");
            // The reviewer, elsewhere, while the applicant looks at the dossier.
            runtime.block_on(async {
                let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                pb::dossier_service_client::DossierServiceClient::new(channel)
                    .declare_incomplete(crate::support::authed(
                        pb::DeclareIncompleteRequest {
                            dossier_id: action["dossierId"].as_str().unwrap().to_owned(),
                            expected_version: 0,
                            reason: "photos en meilleure résolution".into(),
                            missing_documents: vec![pb::DocumentKind::Photos as i32],
                        },
                        &reviewer,
                    ))
                    .await
                    .expect("declare incomplete");
            });
        },
    );
    assert_eq!(seen["fieldErrors"]["brand"], "equipment brand is required", "{seen}");
    assert_eq!(seen["fieldErrors"]["model"], "equipment model is required", "{seen}");
    assert_eq!(seen["fieldErrors"]["category"], "equipment category is required", "{seen}");
    assert_eq!(seen["fieldErrors"]["band"], "frequency band 1 must satisfy 0 < lower_khz < upper_khz", "{seen}");
    assert_eq!(seen["status"], "Brouillon", "{seen}");
    let dossier_id = seen["dossierId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(dossier_id).is_ok(), "{seen}");
    assert!(seen["otherOrganisation"].as_str().unwrap().contains("not found"), "{seen}");
    assert!(!seen["otherOrganisation"].as_str().unwrap().contains("Tecno"), "{seen}");
    assert!(seen["wrongPassword"].as_str().unwrap().contains("invalid"), "{seen}");
    assert_eq!(seen["documents"], 4, "{seen}");
    assert_eq!(seen["refusedUpload"], "the file's content is not image/png", "{seen}");
    assert_eq!(seen["downloadMatches"], true, "{seen}");
    assert_eq!(seen["downloadName"], "tecno-fiche-technique.pdf", "{seen}");
    assert_eq!(seen["finalStatus"], "Retiré", "{seen}");
    assert!(seen["notification"].as_str().unwrap().contains("incomplete"), "{seen}");
    // The reviewer's action reached the open page through the notification stream.
    assert!(seen["liveUpdateMs"].as_u64().unwrap() < 10_000, "{seen}");
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
}

/// A dossier's whole life in the browser, each party in its own tab session: filed with four
/// uploaded documents and submitted; invoiced, paid and assigned by the admin; a CE
/// certificate recognised and a favourable opinion given by the reviewer from the queue;
/// approved; counted on the statistics dashboard; verified valid by a signed-out visitor,
/// not valid once the admin suspends the certificate, valid again once reinstated; the
/// printable certificate's QR seal verified authentic, and forged once its brand is altered; the applicant's page following live and
/// a document downloaded byte for byte.
#[test]
fn a_dossier_goes_from_filing_to_public_verification_in_the_browser() {
    let dir = temp_dir("fleuve-console-life");
    let port = free_port();
    let (dev, _vars) = start_dev_with_env(&dir.join("data"), port, &["--no-edge"], &[]);
    let _dev = Graceful(dev);
    let console = format!("http://127.0.0.1:{port}/console/");
    let seen = run_browser(
        "dossier-life.mjs",
        &[
            ("CONSOLE", &console),
            ("APPLICANT_EMAIL", APPLICANT),
            ("ADMIN_EMAIL", ADMIN),
            ("REVIEWER_EMAIL", REVIEWER),
            ("PASSWORD", fleuve_identity::DEMO_PASSWORD),
        ],
        |action| panic!("unexpected {action}"),
    );
    assert!(
        seen["invoice"].as_str().unwrap().ends_with("250 000 XAF") || seen["invoice"].as_str().unwrap().contains("250"),
        "{seen}"
    );
    let number = seen["certificateNumber"].as_str().unwrap();
    assert!(number.starts_with("ARPCE-HOM-") && number.ends_with("-000001"), "{seen}");
    assert_eq!(seen["verified"], true, "{seen}");
    assert_eq!(
        (&seen["suspendedShown"], &seen["reinstatedShown"]),
        (&serde_json::json!(true), &serde_json::json!(true)),
        "{seen}"
    );
    assert_eq!(seen["downloadMatches"], true, "{seen}");
    assert!(seen["sealSays"].as_str().unwrap().contains(number), "{seen}");
    assert!(seen["forged"].as_str().unwrap().contains("modifié"), "{seen}");
    // The dashboard's decisions, as its data table gives them.
    assert_eq!(seen["statistics"][0], serde_json::json!(["Homologué", "1"]), "{seen}");
    assert_eq!(seen["statistics"][3], serde_json::json!(["Taux d'homologation", "100 %"]), "{seen}");
    let timeline: Vec<&str> = seen["timeline"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(
        timeline,
        [
            "created",
            "documentAttached",
            "documentAttached",
            "documentAttached",
            "documentAttached",
            "submitted",
            "feeInvoiced",
            "paymentRecorded",
            "reviewerAssigned",
            "foreignCertificateRecognized",
            "technicalOpinionGiven",
            "approved"
        ],
        "{seen}"
    );
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
}

/// An operator in the browser: a certificate event the notification consumer could not
/// apply (its dossier unknown there) is listed as a dead letter with its error; redriven too
/// early it stays parked and the page says why; once the cause is fixed (the dossier's event
/// arrives) a redrive applies it; the public registry is rebuilt from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_redrives_a_dead_letter_in_the_browser() {
    use fleuve_proto::homologation::v1 as pb;
    use fleuve_proto::ops::v1 as ops;
    use prost::Message;
    let mut config = fleuve_mesh::MeshConfig::default();
    config.bus.max_attempts = 2;
    let node = crate::support::TestNode::start_with(crate::support::Backend::Sqlite, config).await;
    let (number, dossier) = ("ARPCE-HOM-2026-900002", "dossier-arrives-later");
    let now = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp(), nanos: 0 };
    let until = prost_types::Timestamp { seconds: now.seconds + 5 * 365 * 86_400, nanos: 0 };
    let organisation_id = node.demo.applicant_organisation.organisation_id.clone();
    let issued = pb::CertificateEvent {
        occurred_at: Some(now),
        event: Some(pb::certificate_event::Event::Issued(pb::CertificateIssued {
            certificate_number: number.into(),
            dossier_id: dossier.into(),
            organisation_id: organisation_id.clone(),
            equipment: Some(crate::support::equipment("Itel", "A90")),
            valid_from: Some(now),
            valid_until: Some(until),
        })),
    };
    crate::backbone::produce_event(
        &node,
        "homologation.certificate.v1",
        "fleuve.homologation.v1.CertificateEvent",
        ("certificate", number, 1),
        "CertificateIssued",
        issued.encode_to_vec(),
    )
    .await;
    node.eventually("the certificate event parked by the notification consumer", || async {
        !crate::backbone::dead_letters(&node, "notification", ops::DeadLetterStatus::Parked).await.is_empty()
    })
    .await;

    let console = format!("http://{}/console/", node.addr);
    let admin_email = node.demo.admin.email.clone();
    let handle = tokio::runtime::Handle::current();
    let seen = tokio::task::block_in_place(|| {
        run_browser(
            "operations.mjs",
            &[("CONSOLE", &console), ("ADMIN_EMAIL", &admin_email), ("PASSWORD", fleuve_identity::DEMO_PASSWORD)],
            |action| {
                assert_eq!(action["action"], "fix-cause", "{action}");
                handle.block_on(async {
                    let created = pb::DossierEvent {
                        occurred_at: Some(now),
                        event: Some(pb::dossier_event::Event::Created(pb::DossierCreated {
                            dossier_id: dossier.into(),
                            organisation_id: organisation_id.clone(),
                            applicant_id: node.demo.applicant.user_id.clone(),
                            equipment: Some(crate::support::equipment("Itel", "A90")),
                        })),
                    };
                    crate::backbone::produce_event(
                        &node,
                        "homologation.dossier.v1",
                        "fleuve.homologation.v1.DossierEvent",
                        ("dossier", dossier, 1),
                        "DossierCreated",
                        created.encode_to_vec(),
                    )
                    .await;
                    node.eventually("the dossier known to the notification service", || async {
                        use diesel::prelude::*;
                        use fleuve_notification::schema::notification_dossiers as d;
                        node.database
                            .run(move |conn| {
                                d::table
                                    .filter(d::dossier_id.eq(dossier))
                                    .count()
                                    .get_result::<i64>(conn)
                                    .map_err(Into::into)
                            })
                            .await
                            .map_err(|e: fleuve_store::StoreError| e)
                            .unwrap()
                            == 1
                    })
                    .await;
                });
            },
        )
    });
    assert!(seen["error"].as_str().unwrap().contains("not known yet"), "{seen}");
    assert!(seen["early"].as_str().unwrap().contains("not known yet"), "{seen}");
    assert!(seen["rebuilt"].as_str().unwrap().contains("événements rejoués"), "{seen}");
    // The rebuild streamed its progress (its start, then the result at least).
    assert!(seen["progressUpdates"].as_u64().unwrap() >= 2, "{seen}");
    let redriven = crate::backbone::dead_letters(&node, "notification", ops::DeadLetterStatus::Redriven).await;
    assert_eq!(redriven.len(), 1, "{redriven:?}");
    assert_eq!(redriven[0].id.to_string(), seen["letterId"].as_str().unwrap());
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
}

/// A shopper in the browser: an order confirmed with its saga steps shown live, one over the
/// stock failing with the reason, a declined card showing the compensation; the orders,
/// account balance and payments; and the delay from a step's commit to the page showing it
/// over a few more orders (`fleuve bench console` measures 50, with 1 000 dossiers listed).
#[test]
fn a_shopper_follows_the_saga_live_in_the_browser() {
    let dir = temp_dir("fleuve-console-shop");
    let port = free_port();
    let (dev, _vars) = start_dev_with_env(&dir.join("data"), port, &["--no-edge"], &[]);
    let _dev = Graceful(dev);
    let console = format!("http://127.0.0.1:{port}/console/");
    let seen = run_browser(
        "shop.mjs",
        &[
            ("CONSOLE", &console),
            ("APPLICANT_EMAIL", APPLICANT),
            ("PASSWORD", fleuve_identity::DEMO_PASSWORD),
            ("MEASURE_ORDERS", "5"),
        ],
        |action| panic!("unexpected {action}"),
    );
    let steps = |run: &str| -> Vec<String> {
        seen[run]["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(steps("confirmed"), ["PENDING", "AWAITING_STOCK", "AWAITING_PAYMENT", "CONFIRMED"], "{seen}");
    // Every step is on the page: received live, or implied by a later one when the page
    // opened after it (a loaded machine); the live ones carry their delay.
    assert_eq!(steps("outOfStock"), ["PENDING", "AWAITING_STOCK", "FAILED"], "{seen}");
    let shortage = seen["outOfStock"]["failure"].as_str().unwrap();
    assert!(shortage.contains("Stock insuffisant") && shortage.contains("sku-ink"), "{seen}");
    assert_eq!(
        steps("declined"),
        ["PENDING", "AWAITING_STOCK", "AWAITING_PAYMENT", "COMPENSATING", "FAILED"],
        "{seen}"
    );
    assert!(seen["declined"]["failure"].as_str().unwrap().contains("Paiement refusé"), "{seen}");
    assert!(seen["orders"].as_u64().unwrap() >= 3, "{seen}");
    // 1 000 000 XAF, less the confirmed order's two pens at 250 XAF (the declined card paid
    // nothing, the order over the stock never asked).
    assert_eq!(seen["balance"], "999500XAF", "{seen}");
    assert!(!seen["delays"].as_array().unwrap().is_empty(), "{seen}");
    println!(
        "saga step to browser, p95 over {} steps: {} ms",
        seen["delays"].as_array().unwrap().len(),
        seen["delayP95Ms"]
    );
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
}

/// An admin adds an organisation and a user in the browser, the server's refusals shown by
/// their fields; the new user signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_an_organisation_and_its_user_in_the_browser() {
    let node = crate::support::TestNode::start(crate::support::Backend::Sqlite).await;
    let console = format!("http://{}/console/", node.addr);
    let admin_email = node.demo.admin.email.clone();
    let seen = tokio::task::block_in_place(|| {
        run_browser(
            "organisations.mjs",
            &[("CONSOLE", &console), ("ADMIN_EMAIL", &admin_email), ("PASSWORD", fleuve_identity::DEMO_PASSWORD)],
            |action| panic!("unexpected {action}"),
        )
    });
    assert_eq!(seen["orgError"], "name is required", "{seen}");
    assert!(seen["emailError"].as_str().unwrap().starts_with("email "), "{seen}");
    assert_eq!(seen["newcomerSignedIn"], true, "{seen}");
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
}

/// What the server answers for the console's paths: the embedded files with their types,
/// gzipped and cacheable by name, the index for the application's own routes, a 404 for a
/// missing build file, redirects to /console/, and no token needed for any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_by_the_node() {
    let node = crate::support::TestNode::start(crate::support::Backend::Sqlite).await;
    let base = format!("http://{}", node.addr);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    for path in ["/", "/console"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 308, "{path}");
        assert_eq!(r.headers()["location"], "/console/", "{path}");
    }
    let index = client.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.headers()["content-encoding"], "gzip");
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(index.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let html = gunzip(&index.bytes().await.unwrap());
    let script = html.split("src=\"/console/").nth(1).and_then(|s| s.split('"').next()).expect("a script").to_owned();

    // A client-side route gets the same index.
    let deep =
        client.get(format!("{base}/console/dossiers/0193a8c0-0000-7000-8000-000000000000")).send().await.unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(gunzip(&deep.bytes().await.unwrap()), html);

    let js = client.get(format!("{base}/console/{script}")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    let body = gunzip(&js.bytes().await.unwrap());
    assert!(body.contains("application/grpc-web"), "the bundle holds the grpc-web transport");

    let missing = client.get(format!("{base}/console/assets/index-old.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut out).expect("gzip");
    out
}
