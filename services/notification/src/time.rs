//! Times as stored (UTC, microseconds, no zone: what both backends keep alike) and as sent.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// `t` as a column value, cut to the microsecond PostgreSQL keeps so both backends compare alike.
pub(crate) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) use fleuve_proto::time::{instant as from_proto, timestamp as to_proto};

pub(crate) fn to_std(d: chrono::Duration) -> std::time::Duration {
    d.to_std().unwrap_or_default()
}

pub(crate) fn from_std(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
