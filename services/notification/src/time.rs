//! Times as stored (UTC, microseconds, no zone: what both backends keep alike) and as sent.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use prost_types::Timestamp;

/// `t` as a column value, cut to the microsecond PostgreSQL keeps so both backends compare alike.
pub(crate) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn to_proto(t: DateTime<Utc>) -> Timestamp {
    // Below one billion, so it fits.
    Timestamp { seconds: t.timestamp(), nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0) }
}

pub(crate) fn from_proto(t: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

pub(crate) fn to_std(d: chrono::Duration) -> std::time::Duration {
    d.to_std().unwrap_or_default()
}

pub(crate) fn from_std(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
