//! The public certificate registry: a read model kept by the `certificate-registry` projection
//! from the certificate events, rebuildable from the event store, and served through the
//! read-through cache that the projection invalidates after each commit.
//!
//! Public verification is therefore eventually consistent: a certificate appears, and a status
//! change shows, once the projection has consumed the event (and its `applied` hook has
//! invalidated the cached lookup).

mod fold;
mod table;

use diesel::RunQueryDsl;
use fleuve_cache::Cache;
use fleuve_handler::HookFuture;
use fleuve_handler::{ConsumedEvent, HandlerError, Projection, Rebuild, ReplaySource, TopicSchema};
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::{DbConnection, StoreError};

pub use table::{RegistryRow, RegistryTable};

use super::{CERTIFICATE_AGGREGATE, CERTIFICATE_TOPIC, EVENT_TOPICS};
use crate::time;

/// The projection's name: its consumer group, inbox consumer and rebuild name.
pub const REGISTRY_PROJECTION: &str = "certificate-registry";
/// The shadow's name, distinct so that its bookkeeping never mixes with the live consumer's.
pub const REGISTRY_SHADOW_PROJECTION: &str = "certificate-registry.rebuild";
/// Key prefix the service gives its own registry cache by default.
pub const REGISTRY_CACHE_PREFIX: &str = "fleuve:homologation:registry";

/// The cache key of a certificate lookup. `v1` names the encoding (a `PublicCertificate`): a
/// new encoding takes a new version rather than reading old entries.
pub fn certificate_cache_key(number: &str) -> String {
    format!("certificate:v1:{number}")
}

fn certificate_schema() -> TopicSchema {
    let (topic, message, file) = EVENT_TOPICS
        .into_iter()
        .find(|(topic, ..)| *topic == CERTIFICATE_TOPIC)
        .expect("EVENT_TOPICS lists the certificate topic");
    TopicSchema::new(topic, message, file)
}

/// Keeps `public_certificates` (or its shadow) from `homologation.certificate.v1`.
#[derive(Debug, Clone)]
pub struct CertificateRegistryProjection {
    table: RegistryTable,
    /// The cache to invalidate after a commit; the shadow has none (nobody reads it).
    cache: Option<Cache>,
}

impl CertificateRegistryProjection {
    /// The live projection, invalidating `cache` (the one the registry service reads through).
    pub fn new(cache: Cache) -> Self {
        CertificateRegistryProjection { table: RegistryTable::Live, cache: Some(cache) }
    }

    /// The projection writing the rebuild shadow.
    pub fn shadow() -> Self {
        CertificateRegistryProjection { table: RegistryTable::Shadow, cache: None }
    }

    pub fn table(&self) -> RegistryTable {
        self.table
    }
}

impl Projection for CertificateRegistryProjection {
    fn name(&self) -> &str {
        match self.table {
            RegistryTable::Live => REGISTRY_PROJECTION,
            RegistryTable::Shadow => REGISTRY_SHADOW_PROJECTION,
        }
    }

    fn topics(&self) -> Vec<TopicSchema> {
        vec![certificate_schema()]
    }

    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let expected = certificate_schema().message;
        if event.message != expected {
            return Err(HandlerError::Permanent(format!("expected {expected}, got {}", event.message)));
        }
        let payload: pb::CertificateEvent = event.decode()?;
        let number = event.aggregate_id.as_str();
        let current = self.table.find(conn, number)?;
        if current.as_ref().is_some_and(|row| row.version >= event.aggregate_version) {
            // Redelivered, or already copied in by a rebuild.
            return Ok(());
        }
        let exists = current.is_some();
        let row = fold::fold(current, number, event.aggregate_version, &payload).map_err(HandlerError::Permanent)?;
        if exists {
            self.table.update(conn, &row)?;
        } else {
            self.table.insert(conn, &row)?;
        }
        Ok(())
    }

    fn applied<'a>(&'a self, event: &'a ConsumedEvent) -> HookFuture<'a> {
        Box::pin(async move {
            if let Some(cache) = &self.cache {
                cache.invalidate([certificate_cache_key(&event.aggregate_id)]).await;
            }
        })
    }
}

/// Rebuilds `public_certificates` from the certificate streams of the event store.
#[derive(Debug, Clone)]
pub struct CertificateRegistryRebuild {
    live: CertificateRegistryProjection,
    shadow: CertificateRegistryProjection,
    cache: Cache,
}

impl CertificateRegistryRebuild {
    /// `cache` is flushed once the swap committed: give the registry a cache namespace of its own.
    pub fn new(cache: Cache) -> Self {
        CertificateRegistryRebuild {
            live: CertificateRegistryProjection::new(cache.clone()),
            shadow: CertificateRegistryProjection::shadow(),
            cache,
        }
    }
}

impl Rebuild for CertificateRegistryRebuild {
    fn name(&self) -> &str {
        REGISTRY_PROJECTION
    }

    fn sources(&self) -> Vec<ReplaySource> {
        vec![ReplaySource { aggregate_type: CERTIFICATE_AGGREGATE.to_owned(), schema: certificate_schema() }]
    }

    fn live(&self) -> &dyn Projection {
        &self.live
    }

    fn shadow(&self) -> &dyn Projection {
        &self.shadow
    }

    fn clear_shadow(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        RegistryTable::Shadow.clear(conn)?;
        Ok(())
    }

    fn lock_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        match conn {
            DbConnection::Pg(_) => {
                diesel::sql_query("LOCK TABLE public_certificates IN EXCLUSIVE MODE").execute(conn)?;
            }
            // The rebuild's write transaction already excludes every other writer.
            DbConnection::Sqlite(_) => {}
        }
        Ok(())
    }

    fn copy_shadow_to_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        RegistryTable::Live.clear(conn)?;
        diesel::sql_query("INSERT INTO public_certificates SELECT * FROM public_certificates_rebuild").execute(conn)?;
        Ok(())
    }

    fn swapped(&self) -> HookFuture<'_> {
        Box::pin(async move { self.cache.flush().await })
    }
}

/// What the public registry shows of a row.
pub(crate) fn to_public(row: RegistryRow) -> pb::PublicCertificate {
    pb::PublicCertificate {
        certificate_number: row.certificate_number,
        brand: row.brand,
        model: row.model,
        category: row.category,
        status: row.status,
        valid_from: Some(time::to_proto(row.valid_from.and_utc())),
        valid_until: Some(time::to_proto(row.valid_until.and_utc())),
        holder_organisation_id: row.holder_organisation_id,
    }
}

/// The live row of `number`, as the public sees it.
pub fn find_public(conn: &mut DbConnection, number: &str) -> Result<Option<pb::PublicCertificate>, StoreError> {
    Ok(RegistryTable::Live.find(conn, number)?.map(to_public))
}
