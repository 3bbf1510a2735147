//! Conversions between chrono times and protobuf timestamps.

use chrono::{DateTime, NaiveDateTime, Utc};
use prost_types::Timestamp;

pub fn to_proto(t: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: t.timestamp(), nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0) }
}

pub fn from_proto(t: &Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)).unwrap_or_default()
}

pub fn naive(t: &Timestamp) -> NaiveDateTime {
    from_proto(t).naive_utc()
}
