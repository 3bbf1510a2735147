//! `fleuve bench console`: what a user of the web console waits for, measured in Chromium
//! (`web/tests/measure.mjs`, playwright-core) against `fleuve dev` (this binary, as a child, on
//! a scratch PostgreSQL database): the time until the dossier list is interactive with
//! `dossiers` dossiers in the applicant's organisation, and the delay from each saga step's
//! commit to the order page showing it over `orders` orders. Needs a checkout with the
//! console's packages installed (`scripts/build-web`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use fleuve_proto::homologation::v1 as homologation;
use fleuve_proto::identity::v1 as identity;
use uuid::Uuid;

use crate::bench::ScratchDatabase;
use crate::bench_saga::authed;
use crate::dev::DataDir;

const APPLICANT: &str = "applicant@congomobile.cg";

pub async fn console(admin_url: &str, dossiers: usize, orders: usize, loads: usize) -> anyhow::Result<()> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    anyhow::ensure!(
        web.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run scripts/build-web first",
        web.display()
    );
    let scratch = ScratchDatabase::create(admin_url)?;
    let dir = DataDir::new(std::env::temp_dir().join(format!("fleuve-bench-console-{}", Uuid::new_v4().simple())));
    std::fs::create_dir_all(dir.path())?;
    let (process, addr, _admin) =
        tokio::task::block_in_place(|| crate::bench_telemetry::start_dev(&dir, &scratch.url, None))?;

    // The applicant signs in as the console does, and files `dossiers` drafts.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let login = identity::LoginRequest { email: APPLICANT.into(), password: fleuve_identity::DEMO_PASSWORD.into() };
    let token = identity::identity_service_client::IdentityServiceClient::new(channel.clone())
        .login(login)
        .await?
        .into_inner()
        .access_token;
    let mut client = homologation::dossier_service_client::DossierServiceClient::new(channel);
    let seeding = Instant::now();
    for i in 0..dossiers {
        let equipment = homologation::Equipment {
            brand: "Tecno".into(),
            model: format!("Spark {i}"),
            category: homologation::EquipmentCategory::MobileTerminal as i32,
            frequency_bands: vec![homologation::FrequencyBand { lower_khz: 880_000, upper_khz: 915_000 }],
            characteristics: Vec::new(),
        };
        client
            .create_dossier(authed(homologation::CreateDossierRequest { equipment: Some(equipment) }, &token)?)
            .await?;
    }
    let seeded = seeding.elapsed();

    let out = tokio::task::block_in_place(|| {
        Command::new("node")
            .arg("tests/measure.mjs")
            .current_dir(&web)
            .env("CONSOLE", format!("http://{addr}/console/"))
            .env("APPLICANT_EMAIL", APPLICANT)
            .env("PASSWORD", fleuve_identity::DEMO_PASSWORD)
            .env("LOADS", loads.to_string())
            .env("ORDERS", orders.to_string())
            .output()
    })
    .context("running node web/tests/measure.mjs")?;
    drop(process);
    let _ = std::fs::remove_dir_all(dir.path());
    drop(scratch);
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "measure.mjs failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;

    println!(
        "fleuve bench console: fleuve dev on PostgreSQL at {}, Debian's Chromium driven by playwright-core",
        crate::node::redact(admin_url)
    );
    println!(
        "  dossier list, {dossiers} dossiers ({:.1} s to file them): interactive after {} ms median, {} ms max over {loads} loads (target <= 1000 ms)",
        seeded.as_secs_f64(),
        seen["listMedianMs"],
        seen["listMaxMs"]
    );
    println!(
        "  saga step commit -> order page, {orders} orders ({} steps seen live): p50 {} ms, p95 {} ms (target p95 <= 200 ms)",
        seen["delays"].as_array().map_or(0, Vec::len),
        seen["delayP50Ms"],
        seen["delayP95Ms"]
    );
    Ok(())
}
