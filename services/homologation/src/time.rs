//! Conversions between chrono times and protobuf timestamps.

use chrono::NaiveDateTime;
use prost_types::Timestamp;

pub use fleuve_proto::time::{instant, timestamp as to_proto};

/// A timestamp as a column value; a malformed one (never written by this service) is stored
/// as the epoch rather than refused by a read model.
pub fn naive(t: &Timestamp) -> NaiveDateTime {
    instant(t).unwrap_or_default().naive_utc()
}
