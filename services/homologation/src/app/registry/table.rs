//! The rows of the public registry and the statements on them, written once in the diesel DSL
//! and expanded for the live table and its rebuild shadow.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use fleuve_store::{DbConnection, StoreError};

/// One certificate as the public registry keeps it (columns in table order).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RegistryRow {
    pub certificate_number: String,
    /// `CertificateStatus` as its protobuf number.
    pub status: i32,
    pub holder_organisation_id: String,
    pub brand: String,
    pub model: String,
    /// Trimmed, lowercased brand and model: what searches match as a prefix.
    pub brand_key: String,
    pub model_key: String,
    pub category: i32,
    pub valid_from: NaiveDateTime,
    pub valid_until: NaiveDateTime,
    pub dossier_id: String,
    /// Why the certificate is suspended or revoked; empty in any other status.
    pub status_reason: String,
    /// The aggregate version this row reflects; events at or below it are ignored.
    pub version: i64,
}

/// Expands the row statements for one table into a module of the same name.
macro_rules! registry_statements {
    ($table:ident) => {
        pub(super) mod $table {
            use diesel::prelude::*;
            use fleuve_store::DbConnection;

            use super::RegistryRow;
            use crate::schema::$table::{self as t, table};

            pub(crate) fn find(conn: &mut DbConnection, number: &str) -> QueryResult<Option<RegistryRow>> {
                table.find(number).first::<RegistryRow>(conn).optional()
            }

            pub(crate) fn insert(conn: &mut DbConnection, row: &RegistryRow) -> QueryResult<usize> {
                diesel::insert_into(table)
                    .values((
                        t::certificate_number.eq(&row.certificate_number),
                        t::status.eq(row.status),
                        t::holder_organisation_id.eq(&row.holder_organisation_id),
                        t::brand.eq(&row.brand),
                        t::model.eq(&row.model),
                        t::brand_key.eq(&row.brand_key),
                        t::model_key.eq(&row.model_key),
                        t::category.eq(row.category),
                        t::valid_from.eq(row.valid_from),
                        t::valid_until.eq(row.valid_until),
                        t::dossier_id.eq(&row.dossier_id),
                        t::status_reason.eq(&row.status_reason),
                        t::version.eq(row.version),
                    ))
                    .execute(conn)
            }

            pub(crate) fn update(conn: &mut DbConnection, row: &RegistryRow) -> QueryResult<usize> {
                diesel::update(table.find(&row.certificate_number))
                    .set((
                        t::status.eq(row.status),
                        t::holder_organisation_id.eq(&row.holder_organisation_id),
                        t::brand.eq(&row.brand),
                        t::model.eq(&row.model),
                        t::brand_key.eq(&row.brand_key),
                        t::model_key.eq(&row.model_key),
                        t::category.eq(row.category),
                        t::valid_from.eq(row.valid_from),
                        t::valid_until.eq(row.valid_until),
                        t::dossier_id.eq(&row.dossier_id),
                        t::status_reason.eq(&row.status_reason),
                        t::version.eq(row.version),
                    ))
                    .execute(conn)
            }

            pub(crate) fn all(conn: &mut DbConnection) -> QueryResult<Vec<RegistryRow>> {
                table.order(t::certificate_number.asc()).load::<RegistryRow>(conn)
            }

            pub(crate) fn clear(conn: &mut DbConnection) -> QueryResult<usize> {
                diesel::delete(table).execute(conn)
            }
        }
    };
}

registry_statements!(public_certificates);
registry_statements!(public_certificates_rebuild);

/// Which of the two tables a projection writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryTable {
    /// `public_certificates`, which queries read.
    Live,
    /// `public_certificates_rebuild`, filled by a rebuild then copied over the live one.
    Shadow,
}

impl RegistryTable {
    pub fn name(self) -> &'static str {
        match self {
            RegistryTable::Live => "public_certificates",
            RegistryTable::Shadow => "public_certificates_rebuild",
        }
    }

    pub(crate) fn find(self, conn: &mut DbConnection, number: &str) -> QueryResult<Option<RegistryRow>> {
        match self {
            RegistryTable::Live => public_certificates::find(conn, number),
            RegistryTable::Shadow => public_certificates_rebuild::find(conn, number),
        }
    }

    pub(crate) fn insert(self, conn: &mut DbConnection, row: &RegistryRow) -> QueryResult<usize> {
        match self {
            RegistryTable::Live => public_certificates::insert(conn, row),
            RegistryTable::Shadow => public_certificates_rebuild::insert(conn, row),
        }
    }

    pub(crate) fn update(self, conn: &mut DbConnection, row: &RegistryRow) -> QueryResult<usize> {
        match self {
            RegistryTable::Live => public_certificates::update(conn, row),
            RegistryTable::Shadow => public_certificates_rebuild::update(conn, row),
        }
    }

    /// Every row, by certificate number.
    pub fn all(self, conn: &mut DbConnection) -> Result<Vec<RegistryRow>, StoreError> {
        let rows = match self {
            RegistryTable::Live => public_certificates::all(conn)?,
            RegistryTable::Shadow => public_certificates_rebuild::all(conn)?,
        };
        Ok(rows)
    }

    pub(crate) fn clear(self, conn: &mut DbConnection) -> QueryResult<usize> {
        match self {
            RegistryTable::Live => public_certificates::clear(conn),
            RegistryTable::Shadow => public_certificates_rebuild::clear(conn),
        }
    }
}
