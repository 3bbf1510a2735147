//! A rebalance storm on the real services: replicas of `fleuve serve statistics` (one consumer
//! group, one database) join and leave every 2 s while the homologation process turns commands
//! into 10 000 dossier events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleuve_proto::homologation::v1 as pb;
use fleuve_proto::ops::v1 as ops;

use crate::processes::{Process, free_port, start_infra, wait_for_port};
use crate::support::{MANDATORY, authed, document, equipment, fleuve_command, temp_dir};
use crate::tools::{serve_on, statistics_caught_up};

/// Dossier events the storm carries (`FLEUVE_STORM_EVENTS` for a larger run): each dossier is
/// created and gets two documents, three events in order.
fn storm_events() -> usize {
    std::env::var("FLEUVE_STORM_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// SIGTERM (a graceful stop: the consumer leaves its group), then waits for the exit.
fn stop_gracefully(mut process: Process) {
    let _ = std::process::Command::new("kill").args(["-TERM", &process.0.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if matches!(process.0.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process.kill();
}

/// Statistics replicas join and leave every 2 s (one to three at a time, a leaving one stopped
/// with SIGTERM) while four clients create dossiers and attach documents. Afterwards every
/// stored dossier event was applied once (one inbox row each), each dossier's statistics row is
/// at its stream's version (every event applied, in order: the projection refuses a gap), and
/// nothing was parked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statistics_replicas_joining_and_leaving_miss_and_repeat_nothing() {
    let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
    let dir = temp_dir("fleuve-storm");
    let migrate = fleuve_command().args(["migrate", "--database-url", db.url()]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let key = dir.join("signing-key.pem");
    let issuer = {
        let signing = fleuve_mesh::auth::SigningKey::load_or_generate(&key).unwrap();
        fleuve_mesh::auth::TokenIssuer::new(signing, &fleuve_mesh::MeshConfig::default().auth)
    };
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, serde_json::to_string(&issuer.jwks()).unwrap()).unwrap();
    let serve = |service: &str, port: u16| serve_on(service, port, db.url(), &jwks, &bus);
    let homologation_port = free_port();
    let _homologation = serve("homologation", homologation_port);
    tokio::task::block_in_place(|| wait_for_port(homologation_port, Duration::from_secs(60)));
    let database = fleuve_store::Database::connect(db.url(), 4).unwrap();
    let demo = fleuve_identity::Identity::new(database.clone(), issuer.clone()).seed_demo().await.unwrap();
    let token =
        issuer.issue(&demo.applicant.user_id, fleuve_mesh::Role::Applicant, &demo.applicant.organisation_id).unwrap().0;

    // Four clients: each dossier created, then two documents attached (three events in order).
    let dossiers = storm_events().div_ceil(3);
    let next = Arc::new(AtomicUsize::new(0));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (next, token) = (next.clone(), token.clone());
            tokio::spawn(async move {
                let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{homologation_port}"))
                    .unwrap()
                    .connect()
                    .await
                    .expect("homologation");
                let mut client = pb::dossier_service_client::DossierServiceClient::new(channel);
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= dossiers {
                        return;
                    }
                    let request = pb::CreateDossierRequest { equipment: Some(equipment("Storm", &format!("S{n}"))) };
                    let id =
                        client.create_dossier(authed(request, &token)).await.expect("create").into_inner().dossier_id;
                    for kind in &MANDATORY[..2] {
                        client.attach_document(authed(document(&id, *kind), &token)).await.expect("attach");
                    }
                }
            })
        })
        .collect();

    // The storm, until the load is done: every 2 s a replica joins (up to three) or the oldest
    // leaves (down to one).
    let started = Instant::now();
    let mut replicas: VecDeque<Process> = VecDeque::new();
    let (mut joins, mut leaves, mut growing) = (0, 0, true);
    while loaders.iter().any(|l| !l.is_finished()) || replicas.len() > 1 {
        let loading = loaders.iter().any(|l| !l.is_finished());
        if replicas.is_empty() || (loading && growing && replicas.len() < 3) {
            replicas.push_back(serve("statistics", free_port()));
            joins += 1;
        } else if let Some(oldest) = replicas.pop_front() {
            tokio::task::block_in_place(|| stop_gracefully(oldest));
            leaves += 1;
        }
        growing = match replicas.len() {
            3 => false,
            1 => true,
            _ => growing,
        };
        assert!(started.elapsed() < Duration::from_secs(600), "the load took over ten minutes");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for loader in loaders {
        loader.await.unwrap();
    }
    eprintln!("storm: {dossiers} dossiers in {:?}, {joins} replica joins and {leaves} leaves", started.elapsed());

    // Every stored dossier event applied once, each row at its stream's version.
    let stored = statistics_caught_up(&database, Duration::from_secs(180)).await;
    assert!(usize::try_from(stored).unwrap() >= dossiers * 3, "{stored} events for {dossiers} dossiers");
    // Nothing parked: an event applied out of order would have been.
    let survivor = free_port();
    let last = serve("statistics", survivor);
    tokio::task::block_in_place(|| wait_for_port(survivor, Duration::from_secs(60)));
    let admin = issuer.issue("admin-storm", fleuve_mesh::Role::Admin, "regulator").unwrap().0;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{survivor}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let letters = ops::operations_service_client::OperationsServiceClient::new(channel)
        .list_dead_letters(authed(ops::ListDeadLettersRequest::default(), &admin))
        .await
        .expect("dead letters")
        .into_inner()
        .dead_letters;
    assert!(letters.is_empty(), "parked during the storm: {letters:?}");
    eprintln!("storm: {stored} events applied once each, in order, {:?} after the start", started.elapsed());
    drop(last);
    drop(replicas);
}
