//! The `certificate-registry` projection: each certificate event moves the public row, old
//! versions change nothing, and a rebuild's shadow copied over the live table gives its rows.

use anyhow::ensure;
use chrono::{Duration, Utc};
use fleuve_handler::{HandlerError, Rebuild};
use fleuve_homologation::app::registry::{RegistryRow, RegistryTable};
use fleuve_homologation::app::{CertificateRegistryProjection, PageRequest};
use fleuve_homologation::domain::certificate::CertificateCommand;
use fleuve_proto::homologation::v1::CertificateStatus;

use crate::support::{self, TestDb};

async fn row(db: &TestDb, table: RegistryTable, number: &str) -> anyhow::Result<RegistryRow> {
    let rows = db.database().run(move |conn| table.all(conn)).await?;
    rows.into_iter().find(|r| r.certificate_number == number).ok_or_else(|| anyhow::anyhow!("no row {number}"))
}

/// Projects the events of `number` after version `after`; returns the version reached.
async fn catch_up(db: &TestDb, p: &CertificateRegistryProjection, number: &str, after: i64) -> anyhow::Result<i64> {
    let events = support::events_of(db, number, after).await?;
    support::consume(db, p, &events).await?;
    Ok(events.last().map_or(after, |e| e.aggregate_version))
}

fn status(row: &RegistryRow) -> CertificateStatus {
    CertificateStatus::try_from(row.status).unwrap_or(CertificateStatus::Unspecified)
}

pub async fn lifecycle_is_projected(db: &TestDb) -> anyhow::Result<()> {
    let p = db.app.certificate_registry_projection();
    let number = "ARPCE-HOM-2026-000001";
    let start = Utc::now() - Duration::days(1);
    support::issue(db, number, support::equipment("Nokia", "X-100"), start, 30).await?;
    let mut version = catch_up(db, &p, number, 0).await?;
    let issued = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&issued) == CertificateStatus::Active, "{issued:?}");
    ensure!((issued.brand.as_str(), issued.model.as_str(), issued.brand_key.as_str()) == ("Nokia", "X-100", "nokia"));
    ensure!(issued.holder_organisation_id == "org-7" && issued.version == 1 && issued.status_reason.is_empty());
    ensure!(issued.valid_from.and_utc().timestamp() == start.timestamp());
    ensure!(issued.valid_until.and_utc().timestamp() == (start + Duration::days(30)).timestamp());

    let now = Utc::now();
    support::command(db, number, now, CertificateCommand::Suspend { reason: "audit pending".into() }).await?;
    version = catch_up(db, &p, number, version).await?;
    let suspended = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&suspended) == CertificateStatus::Suspended && suspended.status_reason == "audit pending");
    ensure!(suspended.version == 2);

    support::command(db, number, now, CertificateCommand::Reinstate { note: "audit passed".into() }).await?;
    version = catch_up(db, &p, number, version).await?;
    let reinstated = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&reinstated) == CertificateStatus::Active && reinstated.status_reason.is_empty(), "{reinstated:?}");

    support::command(db, number, now, CertificateCommand::Renew { validity_years: 2 }).await?;
    version = catch_up(db, &p, number, version).await?;
    let renewed = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&renewed) == CertificateStatus::Active);
    ensure!(renewed.valid_until > issued.valid_until + Duration::days(700), "{renewed:?}");
    ensure!(renewed.valid_from == issued.valid_from);

    // Expiring needs a time past the end of validity.
    let later = renewed.valid_until.and_utc() + Duration::days(1);
    support::command(db, number, later, CertificateCommand::Expire).await?;
    version = catch_up(db, &p, number, version).await?;
    ensure!(status(&row(db, RegistryTable::Live, number).await?) == CertificateStatus::Expired);

    support::command(db, number, later, CertificateCommand::Renew { validity_years: 1 }).await?;
    version = catch_up(db, &p, number, version).await?;
    ensure!(status(&row(db, RegistryTable::Live, number).await?) == CertificateStatus::Active);

    support::command(db, number, later, CertificateCommand::Revoke { reason: "forged test report".into() }).await?;
    version = catch_up(db, &p, number, version).await?;
    let revoked = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&revoked) == CertificateStatus::Revoked && revoked.status_reason == "forged test report");
    ensure!(revoked.version == version && version == 7, "version {version}, row {revoked:?}");
    Ok(())
}

pub async fn old_versions_are_ignored(db: &TestDb) -> anyhow::Result<()> {
    let p = db.app.certificate_registry_projection();
    let number = "ARPCE-HOM-2026-000002";
    support::issue(db, number, support::equipment("Huawei", "P1"), Utc::now(), 365).await?;
    let now = Utc::now();
    support::command(db, number, now, CertificateCommand::Suspend { reason: "check".into() }).await?;
    support::command(db, number, now, CertificateCommand::Revoke { reason: "fraud".into() }).await?;
    let events = support::events_of(db, number, 0).await?;
    support::consume(db, &p, &events).await?;
    let latest = row(db, RegistryTable::Live, number).await?;
    ensure!(status(&latest) == CertificateStatus::Revoked && latest.version == 3);

    // The same events under new ids pass the inbox: only the version check stands in the way.
    for (i, old) in events.iter().take(2).enumerate() {
        let mut replayed = old.clone();
        replayed.event_id = format!("replayed-{i}");
        support::apply_committed(db, &p, &replayed).await?;
        let after = row(db, RegistryTable::Live, number).await?;
        ensure!(after == latest, "version {} changed the row: {after:?}", old.aggregate_version);
    }
    Ok(())
}

pub async fn event_before_issue_is_parked(db: &TestDb) -> anyhow::Result<()> {
    let p = db.app.certificate_registry_projection();
    let number = "ARPCE-HOM-2026-000003";
    support::issue(db, number, support::equipment("Tecno", "Spark"), Utc::now(), 365).await?;
    support::command(db, number, Utc::now(), CertificateCommand::Suspend { reason: "check".into() }).await?;
    let events = support::events_of(db, number, 0).await?;
    let result = support::apply_committed(db, &p, &events[1]).await;
    ensure!(matches!(result, Err(HandlerError::Permanent(_))), "{result:?}");
    // The failed transaction left nothing behind, the issue still applies.
    support::consume(db, &p, &events).await?;
    ensure!(status(&row(db, RegistryTable::Live, number).await?) == CertificateStatus::Suspended);
    Ok(())
}

pub async fn shadow_copy_gives_the_live_rows(db: &TestDb) -> anyhow::Result<()> {
    let live = db.app.certificate_registry_projection();
    let now = Utc::now();
    let numbers = ["ARPCE-HOM-2026-000010", "ARPCE-HOM-2026-000011", "ARPCE-HOM-2026-000012"];
    for (i, number) in numbers.iter().enumerate() {
        support::issue(db, number, support::equipment("Brand", &format!("M{i}")), now, 100).await?;
    }
    support::command(db, numbers[1], now, CertificateCommand::Suspend { reason: "check".into() }).await?;
    support::command(db, numbers[2], now, CertificateCommand::Revoke { reason: "fraud".into() }).await?;
    let events = support::all_certificate_events(db).await?;
    support::consume(db, &live, &events).await?;
    let expected = db.database().run(|conn| RegistryTable::Live.all(conn)).await?;
    ensure!(expected.len() == 3);

    // The live table drifted (a lost row, a wrong status): the rebuild must repair it.
    let drifted = RegistryRow { status: CertificateStatus::Active as i32, ..expected[2].clone() };
    let lost = numbers[0].to_owned();
    db.database().transaction(move |conn| drift(conn, &lost, &drifted)).await?;
    ensure!(db.database().run(|conn| RegistryTable::Live.all(conn)).await? != expected);

    let rebuild = db.app.certificate_registry_rebuild();
    let shadow = rebuild.shadow();
    ensure!(shadow.name() != rebuild.live().name());
    let rb = rebuild.clone();
    db.database().transaction(move |conn| rb.clear_shadow(conn)).await?;
    for event in &events {
        let (rb, event) = (rebuild.clone(), event.clone());
        db.database().transaction(move |conn| rb.shadow().apply(conn, &event)).await?;
    }
    ensure!(db.database().run(|conn| RegistryTable::Shadow.all(conn)).await? == expected);
    let rb = rebuild.clone();
    db.database()
        .transaction(move |conn| {
            rb.lock_live(conn)?;
            rb.copy_shadow_to_live(conn)
        })
        .await?;
    let copied = db.database().run(|conn| RegistryTable::Live.all(conn)).await?;
    ensure!(copied == expected, "after the copy {copied:?}");
    Ok(())
}

/// Deletes row `lost` and sets the status of `drifted`'s row behind the projection's back.
fn drift(
    conn: &mut fleuve_store::DbConnection,
    lost: &str,
    drifted: &RegistryRow,
) -> Result<(), fleuve_store::StoreError> {
    use diesel::RunQueryDsl;
    // Test-made certificate numbers only: nothing to escape.
    diesel::sql_query(format!("DELETE FROM public_certificates WHERE certificate_number = '{lost}'")).execute(conn)?;
    diesel::sql_query(format!(
        "UPDATE public_certificates SET status = {} WHERE certificate_number = '{}'",
        drifted.status, drifted.certificate_number
    ))
    .execute(conn)?;
    Ok(())
}

pub async fn search_reads_the_registry(db: &TestDb) -> anyhow::Result<()> {
    let p = db.app.certificate_registry_projection();
    let now = Utc::now();
    support::issue(db, "ARPCE-HOM-2026-000020", support::equipment("Samsung", "Galaxy A1"), now, 100).await?;
    support::issue(db, "ARPCE-HOM-2026-000021", support::equipment("Samsung", "Galaxy B2"), now, 100).await?;
    support::issue(db, "ARPCE-HOM-2026-000022", support::equipment("Sony", "Xperia"), now, 100).await?;
    let page = || PageRequest::parse(0, "").expect("default page");
    let before = db.app.search_certificates("sam".into(), String::new(), page()).await?;
    ensure!(before.items.is_empty(), "found before the projection ran: {:?}", before.items);

    support::consume(db, &p, &support::all_certificate_events(db).await?).await?;
    let found = db.app.search_certificates("  SAM".into(), String::new(), page()).await?;
    let numbers: Vec<_> = found.items.iter().map(|c| c.certificate_number.as_str()).collect();
    ensure!(numbers == ["ARPCE-HOM-2026-000020", "ARPCE-HOM-2026-000021"], "{numbers:?}");
    let by_model = db.app.search_certificates("samsung".into(), "galaxy b".into(), page()).await?;
    ensure!(by_model.items.len() == 1 && by_model.items[0].model == "Galaxy B2");
    let paged = db.app.search_certificates("s".into(), String::new(), PageRequest::parse(2, "")?).await?;
    ensure!(paged.items.len() == 2 && paged.next_token == "ARPCE-HOM-2026-000021", "{paged:?}");
    let rest = db.app.search_certificates("s".into(), String::new(), PageRequest::parse(2, &paged.next_token)?).await?;
    ensure!(rest.items.len() == 1 && rest.items[0].brand == "Sony" && rest.next_token.is_empty());
    Ok(())
}
