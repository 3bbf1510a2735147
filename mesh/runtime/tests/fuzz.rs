//! Hostile tokens at the verifier: property tests over arbitrary header values, arbitrary
//! three-part tokens and random single-byte changes of a valid token. Nothing panics, nothing but the
//! untouched token verifies, and a remembered token does not make its changed copies pass. The
//! suite runs 10 000 cases per property; `PROPTEST_CASES=1000000 cargo test -p fleuve-mesh
//! --test fuzz` runs more.

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fleuve_mesh::Role;
use fleuve_mesh::auth::{JwkSet, SigningKey, TokenIssuer, TokenVerifier};
use fleuve_mesh::config::AuthConfig;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

struct Fixture {
    verifier: TokenVerifier,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let config = AuthConfig::default();
    let key = SigningKey::generate();
    let verifier = TokenVerifier::new(&config, &JwkSet { keys: vec![key.jwk().clone()] }).unwrap();
    let (token, _) = TokenIssuer::new(key, &config).issue("alice", Role::Admin, "org-a").unwrap();
    assert_eq!(verifier.verify(&token).unwrap().subject, "alice");
    Fixture { verifier, token }
});

/// base64url segments of arbitrary bytes or of JSON-ish text.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..96).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        r#"\{"(alg|kid|typ|exp|sub|iss|aud|role)":("ES256"|"none"|"HS256"|-?[0-9]{1,20}|"[a-z]{0,8}"|null|\[\]|\{\})\}"#
            .prop_map(|json| URL_SAFE_NO_PAD.encode(json)),
        "[A-Za-z0-9_-]{0,64}",
    ]
}

/// The decoded segments of a token (what a change must alter to matter).
fn decoded(token: &str) -> Vec<Option<Vec<u8>>> {
    token.split('.').map(|s| URL_SAFE_NO_PAD.decode(s).ok()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_headers_are_refused(value in prop_oneof![
        "\\PC{0,200}",
        (segment(), segment(), segment()).prop_map(|(h, c, s)| format!("Bearer {h}.{c}.{s}")),
    ]) {
        prop_assert!(FIXTURE.verifier.verify_header(Some(&value)).is_err());
    }

    #[test]
    fn a_changed_byte_breaks_the_token(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = FIXTURE.token.clone().into_bytes();
        let at = at.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        // A last character's unused low bits decode to the same bytes: such a copy is the token.
        let same_content = decoded(&changed) == decoded(&FIXTURE.token);
        let outcome = FIXTURE.verifier.verify(&changed);
        prop_assert!(outcome.is_err() || same_content, "{} verified", changed);
        prop_assert!(FIXTURE.verifier.verify(&FIXTURE.token).is_ok());
    }
}
