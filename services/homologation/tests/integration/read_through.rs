//! VerifyCertificate through the real Redis: a miss loads, a hit does not, and a change is seen
//! once the projection has committed it and invalidated the key after the commit.

use anyhow::ensure;
use chrono::{Duration, Utc};
use fleuve_cache::CacheBackend;
use fleuve_handler::{Projection, Rebuild};
use fleuve_homologation::app::registry::certificate_cache_key;
use fleuve_homologation::domain::certificate::CertificateCommand;
use fleuve_mesh::ServiceError;
use fleuve_proto::homologation::v1::CertificateStatus;

use crate::support::{self, TestDb};

pub async fn verify_reads_through_redis_and_projection_invalidates(db: &TestDb) -> anyhow::Result<()> {
    let cache = support::redis_cache()?;
    ensure!(cache.backend() == CacheBackend::Redis);
    let app = db.app_with(cache.clone());
    let projection = app.certificate_registry_projection();
    let number = "ARPCE-HOM-2026-000100";
    support::issue(db, number, support::equipment("Itel", "A70"), Utc::now() - Duration::hours(1), 365).await?;
    support::consume(db, &projection, &support::events_of(db, number, 0).await?).await?;

    let (first, valid) = app.verify_certificate(number.to_owned()).await?;
    ensure!(first.status == CertificateStatus::Active as i32 && valid && first.brand == "Itel");
    let stats = cache.stats();
    ensure!((stats.hits, stats.misses, stats.loads) == (0, 1, 1), "first lookup: {stats:?}");
    ensure!(cache.get(&certificate_cache_key(number)).await.is_some(), "nothing written to redis");

    let (second, _) = app.verify_certificate(number.to_owned()).await?;
    ensure!(second == first);
    let stats = cache.stats();
    ensure!((stats.hits, stats.loads) == (2, 1), "second lookup: {stats:?}");

    // Suspended and committed, but not yet invalidated: the cached answer still shows.
    support::command(db, number, Utc::now(), CertificateCommand::Suspend { reason: "audit".into() }).await?;
    let suspension = support::events_of(db, number, 1).await?;
    support::apply_committed(db, &projection, &suspension[0]).await?;
    let (stale, stale_valid) = app.verify_certificate(number.to_owned()).await?;
    ensure!(stale.status == CertificateStatus::Active as i32 && stale_valid, "the lookup did not go through the cache");

    projection.applied(&suspension[0]).await;
    let (fresh, fresh_valid) = app.verify_certificate(number.to_owned()).await?;
    ensure!(fresh.status == CertificateStatus::Suspended as i32 && !fresh_valid, "{fresh:?} {:?}", cache.stats());
    let stats = cache.stats();
    ensure!(stats.loads == 2 && stats.invalidations >= 2 && stats.errors == 0, "{stats:?}");
    cache.flush().await;
    Ok(())
}

pub async fn verify_is_eventually_consistent(db: &TestDb) -> anyhow::Result<()> {
    let cache = support::redis_cache()?;
    let app = db.app_with(cache.clone());
    let number = "ARPCE-HOM-2026-000101";
    support::issue(db, number, support::equipment("Itel", "A80"), Utc::now() - Duration::hours(1), 365).await?;
    // Issued in the store, not yet consumed: the public registry does not know it.
    let missing = app.verify_certificate(number.to_owned()).await;
    ensure!(matches!(missing.map_err(ServiceError::from), Err(ServiceError::NotFound(_))), "found before projection");
    // Absence is not cached: once projected, the very next lookup finds it.
    support::consume(db, &app.certificate_registry_projection(), &support::events_of(db, number, 0).await?).await?;
    let (found, valid) = app.verify_certificate(number.to_owned()).await?;
    ensure!(found.certificate_number == number && valid);
    // Validity is computed at lookup time, not cached: a certificate valid only from tomorrow.
    let later = "ARPCE-HOM-2026-000102";
    support::issue(db, later, support::equipment("Itel", "A90"), Utc::now() + Duration::days(1), 365).await?;
    support::consume(db, &app.certificate_registry_projection(), &support::events_of(db, later, 0).await?).await?;
    let (not_yet, valid) = app.verify_certificate(later.to_owned()).await?;
    ensure!(not_yet.status == CertificateStatus::Active as i32 && !valid);
    cache.flush().await;
    Ok(())
}

pub async fn swap_flushes_the_cache(db: &TestDb) -> anyhow::Result<()> {
    let cache = support::redis_cache()?;
    let app = db.app_with(cache.clone());
    let number = "ARPCE-HOM-2026-000103";
    support::issue(db, number, support::equipment("Alcatel", "1S"), Utc::now() - Duration::hours(1), 365).await?;
    support::consume(db, &app.certificate_registry_projection(), &support::events_of(db, number, 0).await?).await?;
    app.verify_certificate(number.to_owned()).await?;
    ensure!(cache.get(&certificate_cache_key(number)).await.is_some());
    let rebuild = app.certificate_registry_rebuild();
    ensure!(rebuild.name() == "certificate-registry" && rebuild.sources()[0].aggregate_type == "certificate");
    rebuild.swapped().await;
    ensure!(cache.get(&certificate_cache_key(number)).await.is_none(), "entry survived the swap");
    Ok(())
}
