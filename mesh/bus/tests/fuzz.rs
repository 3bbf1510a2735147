//! Hostile bytes at the Confluent wire-format decoder: property tests over arbitrary input
//! (no panic, no allocation beyond the input, the payload a suffix of it) and the round trip
//! `decode(encode(x)) == x`. The suite runs 10 000 cases per property; `PROPTEST_CASES=1000000
//! cargo test -p fleuve-bus --test fuzz` runs more.

use fleuve_bus::schema::{decode_confluent, encode_confluent};
use proptest::prelude::*;

/// Cases per property: `PROPTEST_CASES`, at least 10 000 unless it says fewer.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// A value that looks like a frame: the magic byte, an id, a count varint with the top bits
/// set or not, then anything.
fn framed_like() -> impl Strategy<Value = Vec<u8>> {
    (any::<u32>(), prop::collection::vec(any::<u8>(), 0..12), prop::collection::vec(any::<u8>(), 0..64)).prop_map(
        |(id, count, rest)| {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend(count);
            bytes.extend(rest);
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_bytes_decode_or_are_refused_without_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        framed_like(),
    ]) {
        if let Ok((_, indexes, payload)) = decode_confluent(&bytes) {
            prop_assert!(bytes.ends_with(payload), "the payload is the input's tail");
            prop_assert!(indexes.len() <= bytes.len(), "{} indexes from {} bytes", indexes.len(), bytes.len());
            prop_assert!(!indexes.is_empty());
        }
    }

    #[test]
    fn decode_inverts_encode(
        id in any::<u32>(),
        indexes in prop::collection::vec(0..100_000i32, 1..8),
        payload in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let framed = encode_confluent(id, &indexes, &payload);
        let (decoded_id, decoded_indexes, decoded_payload) = decode_confluent(&framed).unwrap();
        prop_assert_eq!(decoded_id, id);
        prop_assert_eq!(decoded_indexes, indexes);
        prop_assert_eq!(decoded_payload, &payload[..]);
    }
}
