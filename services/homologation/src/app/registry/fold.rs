//! How one certificate event changes a registry row: pure, so both tables fold alike.

use fleuve_proto::homologation::v1::{self as pb, CertificateStatus, certificate_event::Event};

use super::RegistryRow;
use crate::{app::views::search_key, time};

/// The row after `event` (at aggregate `version`) of certificate `number`; `current` is the
/// row before it, if any. An error is a permanent failure: the event cannot be applied.
pub(super) fn fold(
    current: Option<RegistryRow>,
    number: &str,
    version: i64,
    event: &pb::CertificateEvent,
) -> Result<RegistryRow, String> {
    let Some(event) = &event.event else {
        return Err(format!("certificate {number}: event at version {version} has no case this service knows"));
    };
    let existing = |current: Option<RegistryRow>| {
        let mut row = current.ok_or_else(|| {
            format!("certificate {number}: event at version {version} came before the certificate was issued")
        })?;
        row.version = version;
        Ok::<_, String>(row)
    };
    let row = match event {
        Event::Issued(e) => issue(number, version, e)?,
        Event::Suspended(e) => with_status(existing(current)?, CertificateStatus::Suspended, &e.reason),
        Event::Reinstated(_) => with_status(existing(current)?, CertificateStatus::Active, ""),
        Event::Revoked(e) => with_status(existing(current)?, CertificateStatus::Revoked, &e.reason),
        Event::Renewed(e) => {
            let until = e.valid_until.as_ref().ok_or_else(|| format!("certificate {number}: renewal without end"))?;
            let mut row = existing(current)?;
            row.valid_until = time::naive(until);
            with_status(row, CertificateStatus::Active, "")
        }
        Event::Expired(_) => with_status(existing(current)?, CertificateStatus::Expired, ""),
    };
    Ok(row)
}

fn issue(number: &str, version: i64, e: &pb::CertificateIssued) -> Result<RegistryRow, String> {
    if e.certificate_number != number {
        return Err(format!("certificate {number}: issue event names certificate {}", e.certificate_number));
    }
    let (Some(from), Some(until)) = (&e.valid_from, &e.valid_until) else {
        return Err(format!("certificate {number}: issued without a validity period"));
    };
    let equipment = e.equipment.clone().unwrap_or_default();
    Ok(RegistryRow {
        certificate_number: number.to_owned(),
        status: CertificateStatus::Active as i32,
        holder_organisation_id: e.organisation_id.clone(),
        brand_key: search_key(&equipment.brand),
        model_key: search_key(&equipment.model),
        brand: equipment.brand,
        model: equipment.model,
        category: equipment.category,
        valid_from: time::naive(from),
        valid_until: time::naive(until),
        dossier_id: e.dossier_id.clone(),
        status_reason: String::new(),
        version,
    })
}

/// A reinstatement note is internal; only suspension and revocation reasons are kept.
fn with_status(mut row: RegistryRow, status: CertificateStatus, reason: &str) -> RegistryRow {
    row.status = status as i32;
    row.status_reason = reason.to_owned();
    row
}
