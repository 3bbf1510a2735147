//! The one conversion between chrono instants and `google.protobuf.Timestamp`.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// The wire form of an instant.
pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    // Sub-second nanoseconds are below one billion, so they fit an i32.
    Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

/// The instant of a wire timestamp; `None` when it is out of chrono's range or its nanoseconds
/// are negative or a second or more (a malformed timestamp is not silently another instant).
pub fn instant(at: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_and_malformed_timestamps_are_refused() {
        let at = DateTime::from_timestamp(1_773_135_000, 123_456_789).unwrap();
        assert_eq!(instant(&timestamp(at)), Some(at));
        assert_eq!(instant(&Timestamp { seconds: 0, nanos: -1 }), None);
        assert_eq!(instant(&Timestamp { seconds: 0, nanos: 1_000_000_000 }), None);
        assert_eq!(instant(&Timestamp { seconds: i64::MAX, nanos: 0 }), None);
    }
}
