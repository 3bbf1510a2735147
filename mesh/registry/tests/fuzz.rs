//! Hostile schemas at the registry: property tests that compile arbitrary text and mutations of
//! a real schema, and check compatibility between what compiles. Nothing panics, a schema is
//! compatible with itself at every level, and a mutation that compiles is judged without
//! panicking. The suite runs 10 000 cases per property; `PROPTEST_CASES=1000000 cargo test -p
//! fleuve-registry --test fuzz` runs more.

use std::collections::HashMap;

use fleuve_registry::{CompatibilityLevel, check_compatibility, compile};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

const SCHEMA: &str = r#"syntax = "proto3";
package fuzz.v1;
import "google/protobuf/timestamp.proto";

message Order {
  string order_id = 1;
  repeated Line lines = 2;
  google.protobuf.Timestamp placed_at = 3;
  oneof payment { string card = 4; int64 voucher = 5; }
  map<string, int32> tags = 6;
  message Line { string sku = 1; int32 quantity = 2; }
  enum Status { STATUS_UNSPECIFIED = 0; STATUS_OPEN = 1; }
  Status status = 7;
  reserved 8, 9;
}
"#;

const LEVELS: [CompatibilityLevel; 7] = [
    CompatibilityLevel::None,
    CompatibilityLevel::Backward,
    CompatibilityLevel::BackwardTransitive,
    CompatibilityLevel::Forward,
    CompatibilityLevel::ForwardTransitive,
    CompatibilityLevel::Full,
    CompatibilityLevel::FullTransitive,
];

/// Text made of protobuf's own tokens, so the parser gets past its first line.
fn proto_like() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "syntax",
        "=",
        "\"proto3\"",
        "\"proto2\"",
        ";",
        "package",
        "a.b",
        "message",
        "M",
        "N",
        "{",
        "}",
        "string",
        "int32",
        "bytes",
        "repeated",
        "optional",
        "oneof",
        "map<string,M>",
        "enum",
        "E",
        "E_X = 0;",
        "1",
        "2",
        "536870911",
        "19000",
        "-1",
        "reserved",
        "to",
        "max",
        "import",
        "\"google/protobuf/any.proto\"",
        "option",
        "(x)",
        "[",
        "]",
        "deprecated = true",
        "service",
        "rpc",
        "returns",
        "(",
        ")",
        "extend",
        "M.N",
        ".M",
        "\n",
        " ",
        "//",
        "/*",
        "*/",
        "\"\\x",
        "'",
    ]);
    prop::collection::vec(token, 0..80).prop_map(|tokens| tokens.join(" "))
}

/// The schema with a span replaced by a token or arbitrary text.
fn mutated() -> impl Strategy<Value = String> {
    (0..SCHEMA.len(), 0..24usize, prop_oneof![proto_like(), "\\PC{0,16}"]).prop_map(|(at, len, insert)| {
        let start = (0..=at).rev().find(|i| SCHEMA.is_char_boundary(*i)).unwrap_or(0);
        let end = (start + len).min(SCHEMA.len());
        let end = (end..=SCHEMA.len()).find(|i| SCHEMA.is_char_boundary(*i)).unwrap_or(SCHEMA.len());
        format!("{}{}{}", &SCHEMA[..start], insert, &SCHEMA[end..])
    })
}

#[test]
fn the_seed_schema_compiles_and_is_compatible_with_itself() {
    let schema = compile(SCHEMA, HashMap::new()).unwrap();
    for level in LEVELS {
        assert!(check_compatibility(level, &schema, std::slice::from_ref(&schema)).is_empty(), "{level:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_compiles_or_is_refused(text in prop_oneof![proto_like(), "\\PC{0,200}"]) {
        let _ = compile(&text, HashMap::new());
    }

    #[test]
    fn a_mutation_is_refused_or_judged(text in mutated()) {
        let original = compile(SCHEMA, HashMap::new()).unwrap();
        if let Ok(changed) = compile(&text, HashMap::new()) {
            for level in LEVELS {
                let _ = check_compatibility(level, &changed, std::slice::from_ref(&original));
                let _ = check_compatibility(level, &original, std::slice::from_ref(&changed));
            }
            prop_assert!(check_compatibility(CompatibilityLevel::Full, &changed, std::slice::from_ref(&changed)).is_empty());
        }
    }
}
