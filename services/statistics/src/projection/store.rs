//! Reads and writes of the statistics rows, typed with the diesel DSL for the live table and for
//! its shadow alike: one macro expands the same statements over either table.

use diesel::prelude::*;
use fleuve_store::DbConnection;

use super::{DossierStats, Target};

macro_rules! table_ops {
    ($module:ident, $table:ident) => {
        mod $module {
            use diesel::prelude::*;
            use fleuve_store::DbConnection;

            use crate::projection::DossierStats;
            use crate::schema::$table::{self as t, table};

            /// Every column, in the order of `DossierStats`.
            type Columns = (
                t::dossier_id,
                t::organisation_id,
                t::category,
                t::status,
                t::reviewer_assigned,
                t::created_at,
                t::submitted_at,
                t::submitted_month,
                t::decided_at,
                t::rejection_reasons,
                t::fee_currency,
                t::fee_invoiced,
                t::invoiced_at,
                t::fee_paid,
                t::paid_at,
                t::version,
            );

            const COLUMNS: Columns = (
                t::dossier_id,
                t::organisation_id,
                t::category,
                t::status,
                t::reviewer_assigned,
                t::created_at,
                t::submitted_at,
                t::submitted_month,
                t::decided_at,
                t::rejection_reasons,
                t::fee_currency,
                t::fee_invoiced,
                t::invoiced_at,
                t::fee_paid,
                t::paid_at,
                t::version,
            );

            pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<DossierStats>> {
                table.find(id).select(COLUMNS).first(conn).optional()
            }

            pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<DossierStats>> {
                table.select(COLUMNS).order(t::dossier_id.asc()).load(conn)
            }

            pub fn insert(conn: &mut DbConnection, row: &DossierStats) -> QueryResult<()> {
                diesel::insert_into(table)
                    .values((
                        t::dossier_id.eq(&row.dossier_id),
                        t::organisation_id.eq(&row.organisation_id),
                        t::category.eq(row.category),
                        t::status.eq(row.status),
                        t::reviewer_assigned.eq(row.reviewer_assigned),
                        t::created_at.eq(row.created_at),
                        t::submitted_at.eq(row.submitted_at),
                        t::submitted_month.eq(&row.submitted_month),
                        t::decided_at.eq(row.decided_at),
                        t::rejection_reasons.eq(&row.rejection_reasons),
                        t::fee_currency.eq(&row.fee_currency),
                        t::fee_invoiced.eq(row.fee_invoiced),
                        t::invoiced_at.eq(row.invoiced_at),
                        t::fee_paid.eq(row.fee_paid),
                        t::paid_at.eq(row.paid_at),
                        t::version.eq(row.version),
                    ))
                    .execute(conn)?;
                Ok(())
            }

            /// Rewrites every column but the key (a tuple changeset sets `None` to NULL).
            pub fn update(conn: &mut DbConnection, row: &DossierStats) -> QueryResult<()> {
                diesel::update(table.find(&row.dossier_id))
                    .set((
                        t::organisation_id.eq(&row.organisation_id),
                        t::category.eq(row.category),
                        t::status.eq(row.status),
                        t::reviewer_assigned.eq(row.reviewer_assigned),
                        t::created_at.eq(row.created_at),
                        t::submitted_at.eq(row.submitted_at),
                        t::submitted_month.eq(&row.submitted_month),
                        t::decided_at.eq(row.decided_at),
                        t::rejection_reasons.eq(&row.rejection_reasons),
                        t::fee_currency.eq(&row.fee_currency),
                        t::fee_invoiced.eq(row.fee_invoiced),
                        t::invoiced_at.eq(row.invoiced_at),
                        t::fee_paid.eq(row.fee_paid),
                        t::paid_at.eq(row.paid_at),
                        t::version.eq(row.version),
                    ))
                    .execute(conn)?;
                Ok(())
            }

            pub fn clear(conn: &mut DbConnection) -> QueryResult<usize> {
                diesel::delete(table).execute(conn)
            }
        }
    };
}

table_ops!(live, stats_dossiers);
table_ops!(shadow, stats_dossiers_rebuild);

pub(super) fn find(conn: &mut DbConnection, target: Target, id: &str) -> QueryResult<Option<DossierStats>> {
    match target {
        Target::Live => live::find(conn, id),
        Target::Shadow => shadow::find(conn, id),
    }
}

pub(super) fn all(conn: &mut DbConnection, target: Target) -> QueryResult<Vec<DossierStats>> {
    match target {
        Target::Live => live::all(conn),
        Target::Shadow => shadow::all(conn),
    }
}

pub(super) fn insert(conn: &mut DbConnection, target: Target, row: &DossierStats) -> QueryResult<()> {
    match target {
        Target::Live => live::insert(conn, row),
        Target::Shadow => shadow::insert(conn, row),
    }
}

pub(super) fn update(conn: &mut DbConnection, target: Target, row: &DossierStats) -> QueryResult<()> {
    match target {
        Target::Live => live::update(conn, row),
        Target::Shadow => shadow::update(conn, row),
    }
}

pub(crate) fn clear(conn: &mut DbConnection, target: Target) -> QueryResult<usize> {
    match target {
        Target::Live => live::clear(conn),
        Target::Shadow => shadow::clear(conn),
    }
}
