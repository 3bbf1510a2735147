//! What the figures are computed from, read in one read-only transaction so that every figure
//! describes the same state of the read model.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use fleuve_proto::homologation::v1::DossierStatus;
use fleuve_store::DbConnection;

use super::{AppError, Period};
use crate::schema::stats_dossiers as t;

type Backend = <DbConnection as Connection>::Backend;
type PeriodFilter = Box<dyn BoxableExpression<t::table, Backend, SqlType = Nullable<Bool>>>;

const OPEN: [DossierStatus; 3] = [DossierStatus::Submitted, DossierStatus::Incomplete, DossierStatus::UnderReview];

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Snapshot {
    /// (status, dossiers)
    pub by_status: Vec<(i32, i64)>,
    /// (category, dossiers)
    pub by_category: Vec<(i32, i64)>,
    /// (YYYY-MM, dossiers) of submitted dossiers.
    pub by_month: Vec<(String, i64)>,
    /// (submitted, decided) of approved and rejected dossiers.
    pub decisions: Vec<(NaiveDateTime, NaiveDateTime)>,
    pub open: i64,
    /// Open dossiers submitted before the deadline cutoff.
    pub open_overdue: i64,
    /// JSON reason arrays of rejected dossiers.
    pub rejection_reasons: Vec<String>,
    /// (currency, invoiced, paid) of invoiced dossiers.
    pub fees: Vec<(String, i64, Option<i64>)>,
}

/// Reads the snapshot of the dossiers in `period`; open dossiers submitted before `cutoff` are
/// overdue.
pub(super) fn read(conn: &mut DbConnection, period: &Period, cutoff: DateTime<Utc>) -> Result<Snapshot, AppError> {
    conn.transaction(|conn| {
        if let DbConnection::Pg(_) = conn {
            // One snapshot for every statement; SQLite's read transaction already is one.
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn)?;
        }
        let by_status =
            t::table.filter(in_period(period)).group_by(t::status).select((t::status, count_star())).load(conn)?;
        let by_category =
            t::table.filter(in_period(period)).group_by(t::category).select((t::category, count_star())).load(conn)?;
        let by_month: Vec<(Option<String>, i64)> = t::table
            .filter(in_period(period))
            .filter(t::submitted_month.is_not_null())
            .group_by(t::submitted_month)
            .select((t::submitted_month, count_star()))
            .load(conn)?;
        let decided: Vec<(Option<NaiveDateTime>, Option<NaiveDateTime>)> = t::table
            .filter(in_period(period))
            .filter(t::status.eq_any([DossierStatus::Approved as i32, DossierStatus::Rejected as i32]))
            .select((t::submitted_at, t::decided_at))
            .load(conn)?;
        let open_statuses = OPEN.map(|s| s as i32);
        let open = t::table
            .filter(in_period(period))
            .filter(t::status.eq_any(open_statuses))
            .select(count_star())
            .first(conn)?;
        let open_overdue = t::table
            .filter(in_period(period))
            .filter(t::status.eq_any(open_statuses))
            .filter(t::submitted_at.lt(cutoff.naive_utc()))
            .select(count_star())
            .first(conn)?;
        let rejection_reasons = t::table
            .filter(in_period(period))
            .filter(t::status.eq(DossierStatus::Rejected as i32))
            .select(t::rejection_reasons)
            .load(conn)?;
        let fees: Vec<(Option<String>, Option<i64>, Option<i64>)> = t::table
            .filter(in_period(period))
            .filter(t::fee_invoiced.is_not_null())
            .select((t::fee_currency, t::fee_invoiced, t::fee_paid))
            .load(conn)?;
        Ok(Snapshot {
            by_status,
            by_category,
            by_month: by_month.into_iter().filter_map(|(month, n)| Some((month?, n))).collect(),
            // Approval and rejection need a submission: both are set on every decided row.
            decisions: decided.into_iter().filter_map(|(s, d)| Some((s?, d?))).collect(),
            open,
            open_overdue,
            rejection_reasons,
            fees: fees.into_iter().filter_map(|(c, i, p)| Some((c?, i?, p))).collect(),
        })
    })
}

/// The rows of dossiers submitted in `period` (every row when it has no bound).
fn in_period(period: &Period) -> PeriodFilter {
    let start = period.start().map(|s| s.naive_utc());
    let end = period.end().map(|e| e.naive_utc());
    match (start, end) {
        (None, None) => Box::new(t::dossier_id.is_not_null().nullable()),
        (Some(s), None) => Box::new(t::submitted_at.ge(s)),
        (None, Some(e)) => Box::new(t::submitted_at.lt(e)),
        (Some(s), Some(e)) => Box::new(t::submitted_at.ge(s).and(t::submitted_at.lt(e))),
    }
}
