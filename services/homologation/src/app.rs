//! The application layer: runs commands as one transaction (load, decide, append with the
//! outbox, update read models) and answers queries from the read models.

mod commands;
mod queries;
pub mod registry;
mod views;

use fleuve_cache::{Cache, CacheConfig};
use fleuve_mesh::{Principal, RequestContext, ServiceError};
use fleuve_store::Database;

pub use commands::{CommandContext, DossierOutcome};
pub use queries::{Page, PageRequest};
pub use registry::{CertificateRegistryProjection, CertificateRegistryRebuild};
pub use views::{certificate_to_pb, dossier_to_pb, public_certificate};

use crate::domain::Actor;
pub use fleuve_aggregate::AppError;

pub use crate::domain::{CERTIFICATE_AGGREGATE, DOSSIER_AGGREGATE};
/// One topic per aggregate type, each with the protobuf message its values carry.
pub use fleuve_proto::topics::{CERTIFICATE as CERTIFICATE_TOPIC, DOSSIER as DOSSIER_TOPIC, EVENT_TOPICS};

/// The `[homologation]` section of the configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Validity of a certificate when an approval names none.
    pub certificate_validity_years: u32,
    /// The regulator's key for certificate seals (PKCS#8 PEM; generated there if missing).
    /// Empty: no seals (`fleuve dev` uses `seal-key.pem` in its data directory).
    pub seal_key_file: String,
    /// Largest file UploadDocument accepts (the request may be this plus
    /// [`UPLOAD_OVERHEAD_BYTES`]); larger ones get RESOURCE_EXHAUSTED.
    pub max_upload_bytes: usize,
}

/// Room for an upload's other fields beside its file.
pub const UPLOAD_OVERHEAD_BYTES: usize = 64 * 1024;

impl Default for Settings {
    fn default() -> Self {
        Settings { certificate_validity_years: 5, seal_key_file: String::new(), max_upload_bytes: 16 * 1024 * 1024 }
    }
}

impl fleuve_mesh::config::Section for Settings {
    const NAME: &'static str = "homologation";
}

/// The homologation service: commands and queries over one database, and the cache the public
/// registry is read through.
#[derive(Debug, Clone)]
pub struct Homologation {
    db: Database,
    settings: Settings,
    registry_cache: Cache,
    /// The key certificate seals are signed with, when one is configured.
    seal: Option<std::sync::Arc<fleuve_mesh::auth::SigningKey>>,
}

impl Homologation {
    /// With an in-process registry cache (namespace [`registry::REGISTRY_CACHE_PREFIX`]); use
    /// [`Homologation::with_registry_cache`] for Redis.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn new(db: Database, settings: Settings) -> Self {
        let registry_cache = Cache::in_process(&CacheConfig::in_process(registry::REGISTRY_CACHE_PREFIX));
        Homologation { db, settings, registry_cache, seal: None }
    }

    /// Seals certificates with `key` (GetCertificateSeal), publishing its public half.
    pub fn with_seal_key(mut self, key: fleuve_mesh::auth::SigningKey) -> Self {
        self.seal = Some(std::sync::Arc::new(key));
        self
    }

    /// The public keys that verify seals: the configured one, or none.
    pub fn seal_keys(&self) -> Vec<fleuve_proto::identity::v1::Jwk> {
        self.seal.iter().map(|key| key.jwk().to_proto()).collect()
    }

    /// Reads the public registry through `cache`. The projection that invalidates it must hold
    /// the same cache: build it with [`Homologation::certificate_registry_projection`].
    pub fn with_registry_cache(mut self, cache: Cache) -> Self {
        self.registry_cache = cache;
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn registry_cache(&self) -> &Cache {
        &self.registry_cache
    }

    /// The `certificate-registry` projection, invalidating this service's registry cache.
    pub fn certificate_registry_projection(&self) -> CertificateRegistryProjection {
        CertificateRegistryProjection::new(self.registry_cache.clone())
    }

    /// The rebuild of the public registry, flushing this service's registry cache after the swap.
    pub fn certificate_registry_rebuild(&self) -> CertificateRegistryRebuild {
        CertificateRegistryRebuild::new(self.registry_cache.clone())
    }
}

fn actor(principal: &Principal) -> Actor {
    Actor {
        user_id: principal.subject.clone(),
        role: principal.role,
        organisation_id: principal.organisation_id.clone(),
    }
}

/// Builds the command context of a request: the caller must be authenticated.
pub fn command_context(request: &RequestContext) -> Result<CommandContext, ServiceError> {
    let principal = request.principal()?;
    Ok(CommandContext {
        actor: actor(principal),
        correlation_id: request.correlation_id.clone(),
        trace_context: request.trace_context.clone(),
        now: chrono::Utc::now(),
    })
}

/// An applicant may only see its own organisation's dossiers; to others they do not exist.
fn can_see(principal_org: &str, role: fleuve_mesh::Role, owner_org: &str) -> bool {
    role.is_staff() || principal_org == owner_org
}
