//! Reads and writes of the statistics rows, typed with the diesel DSL for the live table and for
//! its shadow alike: one macro expands the same statements over either table.

use diesel::prelude::*;
use fleuve_store::DbConnection;

use super::{DossierStats, Target};

/// Rows per upsert statement on SQLite: 16 parameters each, under its 32 766 per statement
/// (PostgreSQL's upsert takes one array per column).
const SQLITE_UPSERT_ROWS: usize = 1_000;

/// One column of `rows`, as an array parameter of the PostgreSQL upsert.
fn column<T>(rows: &[&DossierStats], value: impl Fn(&DossierStats) -> T) -> Vec<T> {
    rows.iter().map(|row| value(row)).collect()
}

macro_rules! table_ops {
    ($module:ident, $table:ident) => {
        mod $module {
            use chrono::NaiveDateTime;
            use diesel::dsl::Eq;
            use diesel::prelude::*;
            use diesel::upsert::excluded;
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

            /// Every column but the key: an update's changeset (a tuple sets `None` to NULL).
            type Changes<'a> = (
                Eq<t::organisation_id, &'a String>,
                Eq<t::category, i32>,
                Eq<t::status, i32>,
                Eq<t::reviewer_assigned, bool>,
                Eq<t::created_at, NaiveDateTime>,
                Eq<t::submitted_at, Option<NaiveDateTime>>,
                Eq<t::submitted_month, &'a Option<String>>,
                Eq<t::decided_at, Option<NaiveDateTime>>,
                Eq<t::rejection_reasons, &'a String>,
                Eq<t::fee_currency, &'a Option<String>>,
                Eq<t::fee_invoiced, Option<i64>>,
                Eq<t::invoiced_at, Option<NaiveDateTime>>,
                Eq<t::fee_paid, Option<i64>>,
                Eq<t::paid_at, Option<NaiveDateTime>>,
                Eq<t::version, i64>,
            );

            /// The row as an insert record: the key, then [`Changes`].
            type Record<'a> = (Eq<t::dossier_id, &'a String>, Changes<'a>);

            fn changes(row: &DossierStats) -> Changes<'_> {
                (
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
                )
            }

            fn record(row: &DossierStats) -> Record<'_> {
                (t::dossier_id.eq(&row.dossier_id), changes(row))
            }

            pub fn find_many(conn: &mut DbConnection, ids: &[&str]) -> QueryResult<Vec<DossierStats>> {
                table.filter(t::dossier_id.eq_any(ids)).select(COLUMNS).load(conn)
            }

            pub fn insert(conn: &mut DbConnection, row: &DossierStats) -> QueryResult<()> {
                diesel::insert_into(table).values(record(row)).execute(conn)?;
                Ok(())
            }

            /// Inserts the rows, or rewrites every column but the key of those already there:
            /// one statement on PostgreSQL, where a row at a higher version than the batch's
            /// (a concurrent writer's) is left alone; on SQLite one per [`SQLITE_UPSERT_ROWS`],
            /// and no concurrent writer exists (the transaction holds the database's write lock).
            pub fn upsert(conn: &mut DbConnection, rows: &[&DossierStats]) -> QueryResult<usize> {
                if rows.is_empty() {
                    return Ok(0);
                }
                // The multi-backend connection has no upsert: the statement runs on the inner one.
                match conn {
                    DbConnection::Pg(pg) => upsert_unnest(pg, rows),
                    DbConnection::Sqlite(sqlite) => {
                        let mut written = 0;
                        for chunk in rows.chunks(super::SQLITE_UPSERT_ROWS) {
                            written += diesel::insert_into(table)
                                .values(chunk.iter().map(|row| record(row)).collect::<Vec<Record<'_>>>())
                                .on_conflict(t::dossier_id)
                                .do_update()
                                .set((
                                    t::organisation_id.eq(excluded(t::organisation_id)),
                                    t::category.eq(excluded(t::category)),
                                    t::status.eq(excluded(t::status)),
                                    t::reviewer_assigned.eq(excluded(t::reviewer_assigned)),
                                    t::created_at.eq(excluded(t::created_at)),
                                    t::submitted_at.eq(excluded(t::submitted_at)),
                                    t::submitted_month.eq(excluded(t::submitted_month)),
                                    t::decided_at.eq(excluded(t::decided_at)),
                                    t::rejection_reasons.eq(excluded(t::rejection_reasons)),
                                    t::fee_currency.eq(excluded(t::fee_currency)),
                                    t::fee_invoiced.eq(excluded(t::fee_invoiced)),
                                    t::invoiced_at.eq(excluded(t::invoiced_at)),
                                    t::fee_paid.eq(excluded(t::fee_paid)),
                                    t::paid_at.eq(excluded(t::paid_at)),
                                    t::version.eq(excluded(t::version)),
                                ))
                                .execute(sqlite)?;
                        }
                        Ok(written)
                    }
                }
            }

            /// The upsert on PostgreSQL: a column array per parameter instead of a parameter
            /// per value, so a thousand rows are 16 parameters to parse and plan, not 16 000.
            fn upsert_unnest(pg: &mut diesel::PgConnection, rows: &[&DossierStats]) -> QueryResult<usize> {
                use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
                use super::column;
                diesel::sql_query(concat!(
                    "INSERT INTO ",
                    stringify!($table),
                    " (dossier_id, organisation_id, category, status, reviewer_assigned, created_at, submitted_at, \
                     submitted_month, decided_at, rejection_reasons, fee_currency, fee_invoiced, invoiced_at, fee_paid, \
                     paid_at, version) \
                     SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                     ON CONFLICT (dossier_id) DO UPDATE SET organisation_id = EXCLUDED.organisation_id, \
                     category = EXCLUDED.category, status = EXCLUDED.status, \
                     reviewer_assigned = EXCLUDED.reviewer_assigned, created_at = EXCLUDED.created_at, \
                     submitted_at = EXCLUDED.submitted_at, submitted_month = EXCLUDED.submitted_month, \
                     decided_at = EXCLUDED.decided_at, rejection_reasons = EXCLUDED.rejection_reasons, \
                     fee_currency = EXCLUDED.fee_currency, fee_invoiced = EXCLUDED.fee_invoiced, \
                     invoiced_at = EXCLUDED.invoiced_at, fee_paid = EXCLUDED.fee_paid, paid_at = EXCLUDED.paid_at, \
                     version = EXCLUDED.version \
                     WHERE ",
                    stringify!($table),
                    ".version < EXCLUDED.version"
                ))
                .bind::<Array<Text>, _>(column(rows, |r| r.dossier_id.clone()))
                .bind::<Array<Text>, _>(column(rows, |r| r.organisation_id.clone()))
                .bind::<Array<Integer>, _>(column(rows, |r| r.category))
                .bind::<Array<Integer>, _>(column(rows, |r| r.status))
                .bind::<Array<Bool>, _>(column(rows, |r| r.reviewer_assigned))
                .bind::<Array<Timestamp>, _>(column(rows, |r| r.created_at))
                .bind::<Array<Nullable<Timestamp>>, _>(column(rows, |r| r.submitted_at))
                .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.submitted_month.clone()))
                .bind::<Array<Nullable<Timestamp>>, _>(column(rows, |r| r.decided_at))
                .bind::<Array<Text>, _>(column(rows, |r| r.rejection_reasons.clone()))
                .bind::<Array<Nullable<Text>>, _>(column(rows, |r| r.fee_currency.clone()))
                .bind::<Array<Nullable<BigInt>>, _>(column(rows, |r| r.fee_invoiced))
                .bind::<Array<Nullable<Timestamp>>, _>(column(rows, |r| r.invoiced_at))
                .bind::<Array<Nullable<BigInt>>, _>(column(rows, |r| r.fee_paid))
                .bind::<Array<Nullable<Timestamp>>, _>(column(rows, |r| r.paid_at))
                .bind::<Array<BigInt>, _>(column(rows, |r| r.version))
                .execute(pg)
            }

            /// Rewrites every column but the key.
            pub fn update(conn: &mut DbConnection, row: &DossierStats) -> QueryResult<()> {
                diesel::update(table.find(&row.dossier_id)).set(changes(row)).execute(conn)?;
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

pub(super) fn find_many(conn: &mut DbConnection, target: Target, ids: &[&str]) -> QueryResult<Vec<DossierStats>> {
    match target {
        Target::Live => live::find_many(conn, ids),
        Target::Shadow => shadow::find_many(conn, ids),
    }
}

pub(super) fn upsert(conn: &mut DbConnection, target: Target, rows: &[&DossierStats]) -> QueryResult<usize> {
    match target {
        Target::Live => live::upsert(conn, rows),
        Target::Shadow => shadow::upsert(conn, rows),
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
