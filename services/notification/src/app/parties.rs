//! The recipients bookkeeping: which applicant a dossier or certificate belongs to, learned
//! from the events and kept so later events (which do not repeat it) can be addressed.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_aggregate::AppError;
use fleuve_store::DbConnection;

use crate::domain::messages::{CertificateParty, DossierParty};
use crate::schema::{notification_certificates as certificates, notification_dossiers as dossiers};
use crate::time;

/// Records a dossier's party unless known (a replayed DossierCreated changes nothing).
pub(crate) fn record_dossier(conn: &mut DbConnection, party: &DossierParty) -> Result<(), AppError> {
    if find_dossier(conn, &party.dossier_id)?.is_none() {
        diesel::insert_into(dossiers::table)
            .values((
                dossiers::dossier_id.eq(&party.dossier_id),
                dossiers::applicant_id.eq(&party.applicant_id),
                dossiers::organisation_id.eq(&party.organisation_id),
                dossiers::equipment.eq(&party.equipment),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub(crate) fn find_dossier(conn: &mut DbConnection, dossier_id: &str) -> Result<Option<DossierParty>, AppError> {
    let row = dossiers::table
        .find(dossier_id)
        .select((dossiers::dossier_id, dossiers::applicant_id, dossiers::organisation_id, dossiers::equipment))
        .first::<(String, String, String, String)>(conn)
        .optional()?;
    Ok(row.map(|(dossier_id, applicant_id, organisation_id, equipment)| DossierParty {
        dossier_id,
        applicant_id,
        organisation_id,
        equipment,
    }))
}

/// Records a certificate's party unless known; `true` when it was new.
pub(crate) fn record_certificate(conn: &mut DbConnection, party: &CertificateParty) -> Result<bool, AppError> {
    if find_certificate(conn, &party.certificate_number)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(certificates::table)
        .values((
            certificates::certificate_number.eq(&party.certificate_number),
            certificates::dossier_id.eq(&party.dossier_id),
            certificates::applicant_id.eq(&party.applicant_id),
            certificates::organisation_id.eq(&party.organisation_id),
            certificates::equipment.eq(&party.equipment),
            certificates::valid_until.eq(time::naive(party.valid_until)),
        ))
        .execute(conn)?;
    Ok(true)
}

pub(crate) fn set_valid_until(
    conn: &mut DbConnection,
    certificate_number: &str,
    valid_until: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(certificates::table.find(certificate_number))
        .set(certificates::valid_until.eq(time::naive(valid_until)))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn find_certificate(
    conn: &mut DbConnection,
    certificate_number: &str,
) -> Result<Option<CertificateParty>, AppError> {
    let row = certificates::table
        .find(certificate_number)
        .select((
            certificates::certificate_number,
            certificates::dossier_id,
            certificates::applicant_id,
            certificates::organisation_id,
            certificates::equipment,
            certificates::valid_until,
        ))
        .first::<(String, String, String, String, String, NaiveDateTime)>(conn)
        .optional()?;
    Ok(row.map(|(certificate_number, dossier_id, applicant_id, organisation_id, equipment, valid_until)| {
        CertificateParty {
            certificate_number,
            dossier_id,
            applicant_id,
            organisation_id,
            equipment,
            valid_until: time::utc(valid_until),
        }
    }))
}
