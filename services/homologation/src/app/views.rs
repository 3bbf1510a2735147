//! The read models: a dossier view and a certificate view per aggregate, rewritten from the
//! aggregate's state in the command's transaction (so queries read their own writes).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::DbConnection;
use prost::Message;

use super::AppError;
use crate::{
    domain::{certificate::Certificate, dossier::Dossier},
    schema::{certificate_view, dossier_view},
    time,
};

#[derive(Debug, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = dossier_view)]
pub(super) struct DossierRow {
    pub dossier_id: String,
    pub organisation_id: String,
    pub applicant_id: String,
    pub status: i32,
    pub payment_status: i32,
    #[diesel(treat_none_as_null = true)]
    pub reviewer_id: Option<String>,
    pub brand: String,
    pub model: String,
    pub category: i32,
    pub created_at: chrono::NaiveDateTime,
    #[diesel(treat_none_as_null = true)]
    pub submitted_at: Option<chrono::NaiveDateTime>,
    pub updated_at: chrono::NaiveDateTime,
    pub version: i64,
    pub view: Vec<u8>,
}

#[derive(Debug, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = certificate_view)]
pub(super) struct CertificateRow {
    pub certificate_number: String,
    pub dossier_id: String,
    pub organisation_id: String,
    pub brand: String,
    pub model: String,
    pub brand_key: String,
    pub model_key: String,
    pub category: i32,
    pub status: i32,
    pub valid_from: chrono::NaiveDateTime,
    pub valid_until: chrono::NaiveDateTime,
    pub version: i64,
    pub view: Vec<u8>,
}

pub fn dossier_to_pb(d: &Dossier) -> pb::Dossier {
    pb::Dossier {
        dossier_id: d.id.clone(),
        organisation_id: d.organisation_id.clone(),
        applicant_id: d.applicant_id.clone(),
        equipment: d.equipment.clone(),
        status: d.status as i32,
        payment_status: d.payment_status as i32,
        documents: d.documents.clone(),
        invoice: d.invoice.clone(),
        payment: d.payment.clone(),
        reviewer_id: d.reviewer_id.clone().unwrap_or_default(),
        incomplete_reason: d.incomplete_reason.clone().unwrap_or_default(),
        test_reports: d.test_reports.clone(),
        foreign_certificates: d.foreign_certificates.clone(),
        technical_opinion: d.opinion.clone(),
        certificate_number: d.certificate_number.clone().unwrap_or_default(),
        rejection_reasons: d.rejection_reasons.clone(),
        created_at: d.created_at,
        submitted_at: d.submitted_at,
        decided_at: d.decided_at,
        version: d.version,
    }
}

pub fn certificate_to_pb(c: &Certificate) -> pb::Certificate {
    pb::Certificate {
        certificate_number: c.number.clone(),
        dossier_id: c.dossier_id.clone(),
        organisation_id: c.organisation_id.clone(),
        equipment: c.equipment.clone(),
        status: c.status as i32,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        status_reason: c.status_reason.clone(),
        version: c.version,
    }
}

/// What the public registry shows of a certificate.
pub fn public_certificate(c: &pb::Certificate) -> pb::PublicCertificate {
    let equipment = c.equipment.clone().unwrap_or_default();
    pb::PublicCertificate {
        certificate_number: c.certificate_number.clone(),
        brand: equipment.brand,
        model: equipment.model,
        category: equipment.category,
        status: c.status,
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        holder_organisation_id: c.organisation_id.clone(),
    }
}

pub(super) fn search_key(s: &str) -> String {
    s.trim().to_lowercase()
}

pub(super) fn write_dossier(conn: &mut DbConnection, d: &Dossier, now: DateTime<Utc>) -> Result<(), AppError> {
    let equipment = d.equipment.clone().unwrap_or_default();
    let row = DossierRow {
        dossier_id: d.id.clone(),
        organisation_id: d.organisation_id.clone(),
        applicant_id: d.applicant_id.clone(),
        status: d.status as i32,
        payment_status: d.payment_status as i32,
        reviewer_id: d.reviewer_id.clone(),
        brand: equipment.brand.clone(),
        model: equipment.model.clone(),
        category: equipment.category,
        created_at: d.created_at.as_ref().map_or(now.naive_utc(), time::naive),
        submitted_at: d.submitted_at.as_ref().map(time::naive),
        updated_at: now.naive_utc(),
        version: d.version,
        view: dossier_to_pb(d).encode_to_vec(),
    };
    // The aggregate's stream row is locked by the append, so update-then-insert cannot race.
    let updated = diesel::update(dossier_view::table.find(&row.dossier_id)).set(&row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(dossier_view::table).values(&row).execute(conn)?;
    }
    Ok(())
}

pub(super) fn write_certificate(conn: &mut DbConnection, c: &Certificate) -> Result<(), AppError> {
    let equipment = c.equipment.clone().unwrap_or_default();
    let row = CertificateRow {
        certificate_number: c.number.clone(),
        dossier_id: c.dossier_id.clone(),
        organisation_id: c.organisation_id.clone(),
        brand_key: search_key(&equipment.brand),
        model_key: search_key(&equipment.model),
        brand: equipment.brand,
        model: equipment.model,
        category: equipment.category,
        status: c.status as i32,
        valid_from: c.valid_from.as_ref().map(time::naive).unwrap_or_default(),
        valid_until: c.valid_until.as_ref().map(time::naive).unwrap_or_default(),
        version: c.version,
        view: certificate_to_pb(c).encode_to_vec(),
    };
    let updated = diesel::update(certificate_view::table.find(&row.certificate_number)).set(&row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(certificate_view::table).values(&row).execute(conn)?;
    }
    Ok(())
}
