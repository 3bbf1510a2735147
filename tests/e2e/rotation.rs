//! Key rotation across processes: `fleuve serve identity` restarted with a new signing key and
//! the old one retired (still published), and a `fleuve serve statistics` that verifies tokens
//! with the keys it fetched from identity. Tokens of the new key are accepted after one fetch
//! on their unknown `kid`, tokens of the old key keep working, and a flood of tokens naming
//! made-up keys costs identity no further fetch inside the refresh interval (counted by
//! identity's own `GetJwks` metric).

use std::process::Stdio;
use std::time::Duration;

use crate::processes::{Process, free_port, start_infra, wait_for_port};
use crate::support::{authed, fleuve_command, temp_dir};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fleuve_mesh::Role;
use fleuve_mesh::auth::{SigningKey, TokenIssuer};
use fleuve_proto::statistics::v1 as st;
use tonic::Code;

/// `GetJwks` calls identity answered, read from its metrics.
async fn jwks_fetches(admin_port: u16) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("fleuve_grpc_server_handled_total{") && l.contains(r#"grpc_method="GetJwks""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A statistics call with `token`: Ok, or the status code.
async fn call(port: u16, token: &str) -> Result<(), Code> {
    let mut client =
        st::statistics_service_client::StatisticsServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
    client.get_statistics(authed(st::GetStatisticsRequest::default(), token)).await.map(|_| ()).map_err(|s| s.code())
}

/// `token` with its header's `kid` replaced (the signature no longer matches; the key is
/// looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#));
    format!("{header}.{rest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_identity_key_is_fetched_once_and_made_up_keys_cost_no_fetch() {
    let db = fleuve_store::testing::TestDatabase::postgres(&[]).await.expect("postgres");
    let dir = temp_dir("fleuve-rotation");
    let migrate = fleuve_command().args(["migrate", "--database-url", db.url()]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (_infra, bus) = tokio::task::block_in_place(start_infra);
    let (old_key, new_key) = (dir.join("old.pem"), dir.join("new.pem"));
    let config = fleuve_mesh::MeshConfig::default().auth;
    let old = TokenIssuer::new(SigningKey::load_or_generate(&old_key).unwrap(), &config);
    let new = TokenIssuer::new(SigningKey::load_or_generate(&new_key).unwrap(), &config);
    let (identity_port, identity_admin, statistics_port) = (free_port(), free_port(), free_port());

    let identity = |signing: &std::path::Path, retired: &str| {
        let mut cmd = fleuve_command();
        cmd.args(["serve", "identity"])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{identity_port}"))
            .env("FLEUVE_ADMIN__LISTEN", format!("127.0.0.1:{identity_admin}"))
            .env("FLEUVE_DATABASE_URL", db.url())
            .env("FLEUVE_AUTH__SIGNING_KEY_FILE", signing)
            .env("FLEUVE_AUTH__RETIRED_KEY_FILES", retired)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = Process(cmd.spawn().expect("fleuve serve identity"));
        wait_for_port(identity_port, Duration::from_secs(60));
        process
    };
    let mut identity_process = tokio::task::block_in_place(|| identity(&old_key, ""));
    let _statistics = {
        let mut cmd = fleuve_command();
        cmd.args(["serve", "statistics"])
            .env("FLEUVE_LISTEN", format!("127.0.0.1:{statistics_port}"))
            .env("FLEUVE_DATABASE_URL", db.url())
            .env("FLEUVE_AUTH__JWKS_ENDPOINT", format!("http://127.0.0.1:{identity_port}"))
            .env("FLEUVE_BUS__BOOTSTRAP_SERVERS", &bus["FLEUVE_BUS__BOOTSTRAP_SERVERS"])
            .env("FLEUVE_BUS__SCHEMA_REGISTRY_URL", &bus["FLEUVE_BUS__SCHEMA_REGISTRY_URL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let process = Process(cmd.spawn().expect("fleuve serve statistics"));
        tokio::task::block_in_place(|| wait_for_port(statistics_port, Duration::from_secs(60)));
        process
    };
    let old_token = old.issue("admin-old", Role::Admin, "regulator").unwrap().0;
    assert_eq!(call(statistics_port, &old_token).await, Ok(()));

    // Rotation: identity restarts signing with the new key, the old one retired but published.
    identity_process.kill();
    let retired = old_key.display().to_string();
    identity_process = tokio::task::block_in_place(|| identity(&new_key, &retired));
    let new_token = new.issue("admin-new", Role::Admin, "regulator").unwrap().0;
    let before = jwks_fetches(identity_admin).await;
    assert_eq!(call(statistics_port, &new_token).await, Ok(()), "the new key, after one fetch");
    assert_eq!(jwks_fetches(identity_admin).await - before, 1, "one fetch for the new key");
    assert_eq!(call(statistics_port, &old_token).await, Ok(()), "the retired key still verifies");
    assert_eq!(call(statistics_port, &new_token).await, Ok(()));

    // A flood of tokens naming made-up keys: refused, and no fetch inside the interval.
    let flood: Vec<_> = (0..200)
        .map(|n| {
            let token = with_kid(&new_token, &format!("made-up-{n}"));
            tokio::spawn(async move { call(statistics_port, &token).await })
        })
        .collect();
    for outcome in flood {
        assert_eq!(outcome.await.unwrap(), Err(Code::Unauthenticated));
    }
    assert_eq!(jwks_fetches(identity_admin).await - before, 1, "200 made-up keys fetched nothing more");
    drop(identity_process);
}
