//! Hostile requests at the homologation validators: property tests over arbitrary equipment,
//! uploaded files and stored events. Nothing panics; what a validator accepts keeps its
//! documented bounds (trimmed text within its length, 1 to 16 bands each with lower < upper,
//! at most 64 characteristics), every refusal names a field of the request, an accepted
//! upload's digest is its content's, and stored events that do not decode are refused. The suite
//! runs 10 000 cases per property; `PROPTEST_CASES=1000000 cargo test -p fleuve-homologation
//! --test fuzz` runs more.

use fleuve_aggregate::DomainError;
use fleuve_homologation::domain::values::{self, MAX_CHARACTERISTICS, MAX_FREQUENCY_BANDS};
use fleuve_proto::homologation::v1 as pb;
use proptest::prelude::*;
use prost::Message as _;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

/// Text as users and attackers send it: blanks, control characters, long runs, any script.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,12}", "[ \t\n\u{0}\u{7f}é\u{202e}a-z]{0,8}", "[A-Z]{95,110}", "\\PC{0,300}"]
}

fn equipment() -> impl Strategy<Value = pb::Equipment> {
    let band =
        (any::<u64>(), any::<u64>()).prop_map(|(lower_khz, upper_khz)| pb::FrequencyBand { lower_khz, upper_khz });
    let characteristic = (text(), text()).prop_map(|(name, value)| pb::Characteristic { name, value });
    (
        text(),
        text(),
        prop_oneof![Just(1), any::<i32>()],
        prop::collection::vec(band, 0..20),
        prop::collection::vec(characteristic, 0..70),
    )
        .prop_map(|(brand, model, category, frequency_bands, characteristics)| pb::Equipment {
            brand,
            model,
            category,
            frequency_bands,
            characteristics,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn equipment_is_accepted_within_its_bounds_or_refused_by_field(e in equipment()) {
        match values::equipment(&e) {
            Ok(valid) => {
                for text in [&valid.brand, &valid.model] {
                    prop_assert!(!text.is_empty() && text.trim() == text && text.chars().count() <= 100, "{:?}", text);
                }
                prop_assert!((1..=MAX_FREQUENCY_BANDS).contains(&valid.frequency_bands.len()));
                prop_assert!(valid.frequency_bands.iter().all(|b| b.lower_khz > 0 && b.lower_khz < b.upper_khz));
                prop_assert!(valid.characteristics.len() <= MAX_CHARACTERISTICS);
            }
            Err(DomainError::InvalidFields(violations)) => {
                prop_assert!(!violations.is_empty());
                for v in &violations {
                    prop_assert!(v.field.starts_with("equipment."), "{}", v.field);
                    prop_assert!(!v.description.is_empty());
                }
            }
            Err(other) => prop_assert!(false, "not a field refusal: {:?}", other),
        }
    }

    #[test]
    fn an_upload_is_accepted_with_its_own_digest_or_refused_by_field(
        media_type in prop_oneof![Just("application/pdf".to_owned()), Just("image/png".to_owned()), "\\PC{0,20}"],
        declared in prop_oneof!["[0-9a-f]{64}", "\\PC{0,80}"],
        content in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| [b"%PDF-".as_slice(), &tail].concat()),
        ],
    ) {
        use sha2::{Digest, Sha256};
        // The real digest, declared, for about half of the cases that could pass.
        let declared = if declared.len() % 2 == 0 { hex::encode(Sha256::digest(&content)) } else { declared };
        match values::uploaded_file(&media_type, &declared, &content, 48) {
            Ok(digest) => {
                prop_assert_eq!(digest, hex::encode(Sha256::digest(&content)));
                prop_assert!(!content.is_empty() && content.len() <= 48);
            }
            Err(DomainError::InvalidFields(violations)) => {
                prop_assert!(violations.iter().all(|v| ["sha256", "content", "media_type"].contains(&v.field.as_str())));
            }
            Err(other) => prop_assert!(false, "not a field refusal: {:?}", other),
        }
    }

    #[test]
    fn stored_event_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(event) = pb::DossierEvent::decode(bytes.as_slice()) {
            // What decodes encodes again to bytes that decode to the same event.
            prop_assert_eq!(pb::DossierEvent::decode(event.encode_to_vec().as_slice()).unwrap(), event);
        }
    }
}
