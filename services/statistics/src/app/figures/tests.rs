//! The figure arithmetic on hand-made snapshots.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};

use super::{by_month, percentile_days, report};
use crate::app::Settings;
use crate::app::snapshot::Snapshot;

fn days(list: &[i64]) -> Vec<TimeDelta> {
    let mut durations: Vec<_> = list.iter().map(|d| TimeDelta::days(*d)).collect();
    durations.sort();
    durations
}

fn day(d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 1, d).unwrap().and_hms_opt(0, 0, 0).unwrap()
}

#[test]
fn p90_is_the_nearest_rank() {
    assert_eq!(percentile_days(&days(&[]), 90), 0.0);
    assert_eq!(percentile_days(&days(&[7]), 90), 7.0);
    // 10 values: rank 9.
    assert_eq!(percentile_days(&days(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 90), 9.0);
    // 11 values: rank ceil(9.9) = 10.
    assert_eq!(percentile_days(&days(&[11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 90), 10.0);
    // 2 values: rank ceil(1.8) = 2.
    assert_eq!(percentile_days(&days(&[3, 80]), 90), 80.0);
}

#[test]
fn months_are_filled_from_first_to_last() {
    let months = by_month(&[("2025-02".into(), 1), ("2024-11".into(), 3), ("2025-01".into(), 2)]).unwrap();
    let got: Vec<_> = months.iter().map(|m| (m.year, m.month, m.count)).collect();
    assert_eq!(got, [(2024, 11, 3), (2024, 12, 0), (2025, 1, 2), (2025, 2, 1)]);
    assert!(by_month(&[]).unwrap().is_empty());
    assert!(by_month(&[("2025-13".into(), 1)]).is_err());
}

#[test]
fn report_of_a_snapshot() {
    let snapshot = Snapshot {
        by_status: vec![(5, 2), (6, 1), (7, 1), (2, 1)],
        by_category: vec![(1, 4), (3, 1)],
        by_month: vec![("2025-01".into(), 5)],
        decisions: vec![(day(1), day(11)), (day(1), day(31)), (day(2), day(4))],
        open: 1,
        open_overdue: 0,
        rejection_reasons: vec![r#"["b","a"]"#.into()],
        fees: vec![("XAF".into(), 250_000, Some(250_000)), ("XAF".into(), 750_000, None), ("EUR".into(), 10, None)],
    };
    let now = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let settings = Settings { legal_deadline_days: 20 };
    let r = report(&snapshot, &settings, 1, now).unwrap();

    let dossiers = r.dossiers.unwrap();
    assert_eq!(dossiers.total, 5);
    assert_eq!(dossiers.by_status.iter().map(|s| s.count).collect::<Vec<_>>(), [0, 1, 0, 0, 2, 1, 1]);
    assert_eq!(dossiers.by_category.iter().map(|c| c.count).collect::<Vec<_>>(), [4, 0, 1, 0]);

    let p = r.processing.unwrap();
    assert_eq!(p.legal_deadline_days, 20);
    assert_eq!(p.decided, 3);
    assert!((p.average_days - 14.0).abs() < 1e-9, "{}", p.average_days);
    assert_eq!(p.p90_days, 30.0);
    assert_eq!((p.decided_within_deadline, p.decided_beyond_deadline), (2, 1));

    let d = r.decisions.unwrap();
    assert_eq!((d.approved, d.rejected, d.withdrawn), (2, 1, 1));
    assert!((d.approval_rate - 2.0 / 3.0).abs() < 1e-9);
    assert!((d.rejection_rate - 1.0 / 3.0).abs() < 1e-9);
    // Ties are broken by text; the limit keeps the first.
    assert_eq!(d.rejection_causes.len(), 1);
    assert_eq!(d.rejection_causes[0].reason, "a");
    assert_eq!(d.distinct_rejection_causes, 2);

    let fees: Vec<_> = r
        .fees
        .iter()
        .map(|f| {
            let amount = |m: &Option<fleuve_proto::common::v1::Money>| m.as_ref().unwrap().amount;
            (
                f.currency.as_str(),
                f.invoices,
                f.payments,
                amount(&f.invoiced),
                amount(&f.collected),
                amount(&f.outstanding),
            )
        })
        .collect();
    assert_eq!(fees, [("EUR", 1, 0, 10, 0, 10), ("XAF", 2, 1, 1_000_000, 250_000, 750_000)]);
}

#[test]
fn nothing_decided_gives_zero_rates() {
    let r = report(&Snapshot::default(), &Settings::default(), 20, Utc::now()).unwrap();
    let d = r.decisions.unwrap();
    assert_eq!((d.approval_rate, d.rejection_rate), (0.0, 0.0));
    let p = r.processing.unwrap();
    assert_eq!((p.decided, p.average_days, p.p90_days, p.legal_deadline_days), (0, 0.0, 0.0, 60));
    assert!(r.fees.is_empty());
}
