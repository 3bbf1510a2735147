//! The read side: dossier and certificate queries over the read models, with the visibility
//! rules (applicants see only their organisation's dossiers) applied here, once.

use chrono::Utc;
use diesel::prelude::*;
use fleuve_mesh::page::PageSize;
use fleuve_mesh::{Principal, Role, ServiceError};
use fleuve_proto::{common::v1 as common, homologation::v1 as pb};
use fleuve_store::event_store::{self, StreamRef};
use prost::Message;

use super::{
    AppError, DOSSIER_AGGREGATE, Homologation, can_see,
    registry::{self, RegistryRow},
    views::{self, CertificateRow, DossierRow},
};
use crate::{
    schema::{certificate_view, dossier_view, public_certificates},
    time,
};

/// Who seals certificates, and the JWS `typ` of a seal.
pub const SEAL_ISSUER: &str = "ARPCE";
pub const SEAL_TYPE: &str = "fleuve-seal+jwt";

/// What a certificate's seal asserts (the JWS payload); times in seconds since the epoch.
#[derive(Debug, serde::Serialize)]
struct Seal {
    iss: &'static str,
    sub: String,
    brand: String,
    model: String,
    category: String,
    holder: String,
    valid_from: i64,
    valid_until: i64,
    iat: i64,
}

const PAGE_SIZE: PageSize = PageSize { default: 50, max: 100 };

/// A validated page request: `size` items after the opaque `token` (the last key seen).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub size: i64,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, ServiceError> {
        let size = PAGE_SIZE.parse(page_size)?;
        // Tokens are the last key of a page: a UUID or a certificate number.
        if page_token.len() > 64 || !page_token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ServiceError::invalid("page_token is not a token this server issued"));
        }
        Ok(PageRequest { size, after: (!page_token.is_empty()).then(|| page_token.to_owned()) })
    }
}

pub use fleuve_mesh::page::Page;

fn page_of<R, T>(
    mut rows: Vec<R>,
    size: i64,
    key: impl Fn(&R) -> String,
    item: impl Fn(R) -> Result<T, AppError>,
) -> Result<Page<T>, AppError> {
    // One extra row was fetched to know whether another page exists.
    let more = rows.len() as i64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(0));
    let next_token = if more { rows.last().map(&key).unwrap_or_default() } else { String::new() };
    let items = rows.into_iter().map(item).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next_token })
}

fn decode_dossier(row: DossierRow) -> Result<pb::Dossier, AppError> {
    Ok(pb::Dossier::decode(row.view.as_slice())?)
}

fn decode_certificate(row: CertificateRow) -> Result<pb::Certificate, AppError> {
    Ok(pb::Certificate::decode(row.view.as_slice())?)
}

fn not_found(id: &str) -> AppError {
    ServiceError::not_found(format!("dossier {id} not found")).into()
}

/// Escapes LIKE wildcards so a search is a plain prefix match.
fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in views::search_key(s).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Homologation {
    pub async fn get_dossier(&self, principal: Principal, id: String) -> Result<pb::Dossier, AppError> {
        self.db
            .run(move |conn| {
                let row: Option<DossierRow> =
                    dossier_view::table.find(&id).select(DossierRow::as_select()).first(conn).optional()?;
                match row {
                    Some(row) if can_see(&principal.organisation_id, principal.role, &row.organisation_id) => {
                        decode_dossier(row)
                    }
                    _ => Err(not_found(&id)),
                }
            })
            .await
    }

    /// An uploaded document's file: the dossier must be visible to the caller (NOT_FOUND
    /// otherwise, as for the dossier) and the document one of its uploads.
    pub async fn document_content(
        &self,
        principal: Principal,
        dossier_id: String,
        document_id: String,
    ) -> Result<pb::GetDocumentContentResponse, AppError> {
        use crate::schema::document_files;
        let dossier = self.get_dossier(principal, dossier_id.clone()).await?;
        let Some(document) = dossier.documents.into_iter().find(|d| d.document_id == document_id) else {
            return Err(ServiceError::not_found(format!("document {document_id} not found")).into());
        };
        self.db
            .run(move |conn| {
                let file: Option<(String, String, Vec<u8>)> = document_files::table
                    .find(&document_id)
                    .filter(document_files::dossier_id.eq(&dossier_id))
                    .select((document_files::media_type, document_files::sha256, document_files::content))
                    .first(conn)
                    .optional()?;
                let Some((media_type, sha256, content)) = file else {
                    return Err(ServiceError::not_found(format!(
                        "document {document_id} has no stored file (it was registered with a storage uri)"
                    ))
                    .into());
                };
                Ok(pb::GetDocumentContentResponse { file_name: document.file_name, media_type, sha256, content })
            })
            .await
    }

    pub async fn list_dossiers(
        &self,
        principal: Principal,
        status: Option<pb::DossierStatus>,
        organisation_id: Option<String>,
        page: PageRequest,
    ) -> Result<Page<pb::Dossier>, AppError> {
        // Whatever an applicant asks for, it lists its own organisation.
        let organisation_id =
            if principal.role.is_staff() { organisation_id } else { Some(principal.organisation_id.clone()) };
        self.db
            .run(move |conn| {
                let mut query = dossier_view::table.select(DossierRow::as_select()).into_boxed();
                if let Some(status) = status {
                    query = query.filter(dossier_view::status.eq(status as i32));
                }
                if let Some(org) = organisation_id {
                    query = query.filter(dossier_view::organisation_id.eq(org));
                }
                if let Some(after) = page.after.clone() {
                    query = query.filter(dossier_view::dossier_id.gt(after));
                }
                let rows = query.order(dossier_view::dossier_id.asc()).limit(page.size + 1).load(conn)?;
                page_of(rows, page.size, |r| r.dossier_id.clone(), decode_dossier)
            })
            .await
    }

    pub async fn reviewer_queue(&self, principal: Principal, page: PageRequest) -> Result<Page<pb::Dossier>, AppError> {
        principal.require(&[Role::Reviewer, Role::Admin])?;
        self.db
            .run(move |conn| {
                let mut query = dossier_view::table
                    .select(DossierRow::as_select())
                    .filter(dossier_view::reviewer_id.eq(principal.subject.clone()))
                    .filter(dossier_view::status.eq(pb::DossierStatus::UnderReview as i32))
                    .into_boxed();
                if let Some(after) = page.after.clone() {
                    query = query.filter(dossier_view::dossier_id.gt(after));
                }
                let rows = query.order(dossier_view::dossier_id.asc()).limit(page.size + 1).load(conn)?;
                page_of(rows, page.size, |r| r.dossier_id.clone(), decode_dossier)
            })
            .await
    }

    pub async fn dossier_history(&self, principal: Principal, id: String) -> Result<Vec<pb::HistoryEntry>, AppError> {
        self.db
            .run(move |conn| {
                let owner: Option<String> =
                    dossier_view::table.find(&id).select(dossier_view::organisation_id).first(conn).optional()?;
                match owner {
                    Some(org) if can_see(&principal.organisation_id, principal.role, &org) => {}
                    _ => return Err(not_found(&id)),
                }
                let recorded = event_store::read_stream(conn, &StreamRef::new(DOSSIER_AGGREGATE, &id), 0)?;
                recorded
                    .into_iter()
                    .map(|r| {
                        let event = pb::DossierEvent::decode(r.payload.as_slice())?;
                        Ok(pb::HistoryEntry {
                            metadata: Some(common::EventMetadata {
                                event_id: r.event_id.to_string(),
                                event_type: r.event_type,
                                aggregate_type: r.aggregate_type,
                                aggregate_id: r.aggregate_id,
                                aggregate_version: r.version,
                                position: r.position,
                                correlation_id: r.correlation_id,
                                causation_id: r.causation_id.unwrap_or_default(),
                                actor: r.actor,
                                recorded_at: Some(time::to_proto(r.recorded_at)),
                            }),
                            event: Some(event),
                        })
                    })
                    .collect()
            })
            .await
    }

    pub async fn get_certificate(&self, principal: Principal, number: String) -> Result<pb::Certificate, AppError> {
        let certificate = self.find_certificate(number.clone()).await?;
        match certificate {
            Some(c) if can_see(&principal.organisation_id, principal.role, &c.organisation_id) => Ok(c),
            _ => Err(ServiceError::not_found(format!("certificate {number} not found")).into()),
        }
    }

    /// The regulator's seal of a certificate, with GetCertificate's visibility: a compact JWS
    /// of its essentials, and the id of the signing key.
    pub async fn certificate_seal(&self, principal: Principal, number: String) -> Result<(String, String), AppError> {
        let Some(key) = self.seal.clone() else {
            return Err(ServiceError::precondition("no seal key is configured (homologation.seal_key_file)").into());
        };
        let c = self.get_certificate(principal, number).await?;
        let equipment = c.equipment.unwrap_or_default();
        let seconds = |t: Option<prost_types::Timestamp>| t.map_or(0, |t| t.seconds);
        let payload = Seal {
            iss: SEAL_ISSUER,
            sub: c.certificate_number,
            brand: equipment.brand,
            model: equipment.model,
            category: pb::EquipmentCategory::try_from(equipment.category)
                .map(|c| c.as_str_name().to_owned())
                .unwrap_or_default(),
            holder: c.organisation_id,
            valid_from: seconds(c.valid_from),
            valid_until: seconds(c.valid_until),
            iat: Utc::now().timestamp(),
        };
        let seal = key.sign_payload(&payload, SEAL_TYPE).map_err(AppError::internal)?;
        Ok((seal, key.kid().to_owned()))
    }

    /// The public check: the certificate and whether it is valid right now. Read from the
    /// public registry through the read-through cache; validity is computed at each call, so a
    /// cached entry never carries a stale "valid".
    pub async fn verify_certificate(&self, number: String) -> Result<(pb::PublicCertificate, bool), AppError> {
        let key = registry::certificate_cache_key(&number);
        let (db, wanted) = (self.db.clone(), number.clone());
        let cached = self
            .registry_cache
            .get_or_load(&key, self.registry_cache.default_ttl(), || async move {
                let found = db.run(move |conn| registry::find_public(conn, &wanted)).await?;
                Ok::<_, AppError>(found.map(|c| c.encode_to_vec()))
            })
            .await?;
        let certificate = match cached {
            Some(bytes) => pb::PublicCertificate::decode(bytes.as_slice())?,
            None => return Err(ServiceError::not_found(format!("no certificate {number}")).into()),
        };
        let now = time::to_proto(Utc::now());
        let active = certificate.status == pb::CertificateStatus::Active as i32;
        let started = certificate.valid_from.is_some_and(|t| (t.seconds, t.nanos) <= (now.seconds, now.nanos));
        let not_ended = certificate.valid_until.is_some_and(|t| (now.seconds, now.nanos) < (t.seconds, t.nanos));
        Ok((certificate, active && started && not_ended))
    }

    async fn find_certificate(&self, number: String) -> Result<Option<pb::Certificate>, AppError> {
        self.db
            .run(move |conn| {
                let row: Option<CertificateRow> =
                    certificate_view::table.find(&number).select(CertificateRow::as_select()).first(conn).optional()?;
                row.map(decode_certificate).transpose()
            })
            .await
    }

    /// Searches the public registry (not cached: every search reads the table).
    pub async fn search_certificates(
        &self,
        brand: String,
        model: String,
        page: PageRequest,
    ) -> Result<Page<pb::PublicCertificate>, AppError> {
        self.db
            .run(move |conn| {
                let mut query = public_certificates::table.into_boxed();
                if !brand.trim().is_empty() {
                    query = query.filter(public_certificates::brand_key.like(like_prefix(&brand)).escape('\\'));
                }
                if !model.trim().is_empty() {
                    query = query.filter(public_certificates::model_key.like(like_prefix(&model)).escape('\\'));
                }
                if let Some(after) = page.after.clone() {
                    query = query.filter(public_certificates::certificate_number.gt(after));
                }
                let rows: Vec<RegistryRow> =
                    query.order(public_certificates::certificate_number.asc()).limit(page.size + 1).load(conn)?;
                page_of(rows, page.size, |r| r.certificate_number.clone(), |r| Ok(registry::to_public(r)))
            })
            .await
    }
}
