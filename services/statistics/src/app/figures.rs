//! The dashboard figures, computed from a snapshot of the read model.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use fleuve_proto::common::v1::Money;
use fleuve_proto::homologation::v1::{DossierStatus, EquipmentCategory};
use fleuve_proto::statistics::v1 as pb;

use super::{AppError, Settings, snapshot::Snapshot};

const MILLIS_PER_DAY: f64 = 86_400_000.0;

pub(super) fn report(
    snapshot: &Snapshot,
    settings: &Settings,
    max_rejection_causes: usize,
    now: DateTime<Utc>,
) -> Result<pb::GetStatisticsResponse, AppError> {
    Ok(pb::GetStatisticsResponse {
        as_of: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        dossiers: Some(dossier_counts(snapshot)?),
        processing: Some(processing_times(snapshot, settings.legal_deadline_days)),
        decisions: Some(decisions(snapshot, max_rejection_causes)?),
        fees: fees(snapshot),
    })
}

fn dossier_counts(snapshot: &Snapshot) -> Result<pb::DossierCounts, AppError> {
    let statuses: HashMap<i32, i64> = snapshot.by_status.iter().copied().collect();
    let categories: HashMap<i32, i64> = snapshot.by_category.iter().copied().collect();
    // Every known value, so a dashboard gets stable series; UNSPECIFIED only when some row has
    // it, so that each list still sums to the total.
    let by_status = (0..=DossierStatus::Withdrawn as i32)
        .filter_map(|s| {
            let count = statuses.get(&s).copied().unwrap_or(0);
            (s != DossierStatus::Unspecified as i32 || count > 0).then_some(pb::StatusCount { status: s, count })
        })
        .collect();
    let by_category = (0..=EquipmentCategory::SatelliteTerminal as i32)
        .filter_map(|c| {
            let count = categories.get(&c).copied().unwrap_or(0);
            (c != EquipmentCategory::Unspecified as i32 || count > 0)
                .then_some(pb::CategoryCount { category: c, count })
        })
        .collect();
    Ok(pb::DossierCounts {
        total: snapshot.by_status.iter().map(|(_, n)| n).sum(),
        by_status,
        by_category,
        by_month: by_month(&snapshot.by_month)?,
    })
}

/// Month counts from the first to the last month present, empty months included.
fn by_month(months: &[(String, i64)]) -> Result<Vec<pb::MonthCount>, AppError> {
    let mut counts = BTreeMap::new();
    for (month, count) in months {
        let first_day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|_| AppError::internal(format!("stored submission month {month:?} is not YYYY-MM")))?;
        *counts.entry((first_day.year(), first_day.month())).or_insert(0) += count;
    }
    let (Some(&first), Some(&last)) = (counts.keys().next(), counts.keys().next_back()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let (mut year, mut month) = first;
    while (year, month) <= last {
        let count = counts.get(&(year, month)).copied().unwrap_or(0);
        out.push(pb::MonthCount { year, month: i32::try_from(month).unwrap_or(0), count });
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    Ok(out)
}

fn processing_times(snapshot: &Snapshot, deadline_days: u32) -> pb::ProcessingTimes {
    let deadline = TimeDelta::days(i64::from(deadline_days));
    let mut durations: Vec<TimeDelta> =
        snapshot.decisions.iter().map(|(submitted, decided)| *decided - *submitted).collect();
    durations.sort();
    let within = durations.iter().filter(|d| **d <= deadline).count();
    let decided = durations.len();
    pb::ProcessingTimes {
        legal_deadline_days: i32::try_from(deadline_days).unwrap_or(i32::MAX),
        decided: count(decided),
        average_days: average_days(&durations),
        p90_days: percentile_days(&durations, 90),
        decided_within_deadline: count(within),
        decided_beyond_deadline: count(decided - within),
        open: snapshot.open,
        open_beyond_deadline: snapshot.open_overdue,
    }
}

fn days(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / MILLIS_PER_DAY
}

fn average_days(durations: &[TimeDelta]) -> f64 {
    if durations.is_empty() {
        return 0.0;
    }
    let total: i64 = durations.iter().map(TimeDelta::num_milliseconds).sum();
    total as f64 / durations.len() as f64 / MILLIS_PER_DAY
}

/// Nearest rank: the value at rank ⌈p·n/100⌉ of the sorted durations.
fn percentile_days(sorted: &[TimeDelta], p: usize) -> f64 {
    let rank = (p * sorted.len()).div_ceil(100);
    match rank.checked_sub(1).and_then(|i| sorted.get(i)) {
        Some(d) => days(*d),
        None => 0.0,
    }
}

fn decisions(snapshot: &Snapshot, max_causes: usize) -> Result<pb::Decisions, AppError> {
    let of = |status: DossierStatus| {
        snapshot.by_status.iter().filter(|(s, _)| *s == status as i32).map(|(_, n)| *n).sum::<i64>()
    };
    let (approved, rejected) = (of(DossierStatus::Approved), of(DossierStatus::Rejected));
    let decided = approved + rejected;
    let rate = |n: i64| if decided == 0 { 0.0 } else { n as f64 / decided as f64 };

    let mut causes: HashMap<String, i64> = HashMap::new();
    for reasons in &snapshot.rejection_reasons {
        for reason in serde_json::from_str::<Vec<String>>(reasons)
            .map_err(|e| AppError::internal(format!("stored rejection reasons cannot be decoded: {e}")))?
        {
            *causes.entry(reason).or_insert(0) += 1;
        }
    }
    let distinct = count(causes.len());
    let mut causes: Vec<_> = causes.into_iter().collect();
    causes.sort_by(|(ra, na), (rb, nb)| nb.cmp(na).then_with(|| ra.cmp(rb)));
    causes.truncate(max_causes);
    Ok(pb::Decisions {
        approved,
        rejected,
        withdrawn: of(DossierStatus::Withdrawn),
        approval_rate: rate(approved),
        rejection_rate: rate(rejected),
        rejection_causes: causes.into_iter().map(|(reason, count)| pb::RejectionCause { reason, count }).collect(),
        distinct_rejection_causes: distinct,
    })
}

#[derive(Default)]
struct Totals {
    invoices: i64,
    payments: i64,
    invoiced: i64,
    collected: i64,
    outstanding: i64,
}

fn fees(snapshot: &Snapshot) -> Vec<pb::FeeTotals> {
    let mut by_currency: BTreeMap<&str, Totals> = BTreeMap::new();
    for (currency, invoiced, paid) in &snapshot.fees {
        let totals = by_currency.entry(currency).or_default();
        totals.invoices += 1;
        totals.invoiced = totals.invoiced.saturating_add(*invoiced);
        match paid {
            Some(paid) => {
                totals.payments += 1;
                totals.collected = totals.collected.saturating_add(*paid);
            }
            None => totals.outstanding = totals.outstanding.saturating_add(*invoiced),
        }
    }
    let money = |currency: &str, amount| Some(Money { currency: currency.to_owned(), amount });
    by_currency
        .into_iter()
        .map(|(currency, t)| pb::FeeTotals {
            currency: currency.to_owned(),
            invoices: t.invoices,
            payments: t.payments,
            invoiced: money(currency, t.invoiced),
            collected: money(currency, t.collected),
            outstanding: money(currency, t.outstanding),
        })
        .collect()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
