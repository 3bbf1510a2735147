//! Access-token verification: one algorithm, a known `kid`, and `iss`, `aud` and `exp` required.
//!
//! Clients send the same token with many calls, and an ES256 signature check is the costliest
//! thing the auth layer does (about a third of the node's own CPU in the saga benchmark). So a
//! token that verified is remembered, by its exact text, until it expires: a later call with
//! the same token checks its expiry (and that its key is still in the set) without checking the
//! signature again. Only tokens that passed every check are remembered; a key set that drops or
//! changes a key forgets them all.
//!
//! Keys rotate: a verifier given a [`KeyRefresh`] fetches the key set again when a token names a
//! key it does not know, and checks the token once more. At most one fetch runs at a time (the
//! other callers wait for it) and at most one starts per [`KeyRefresh::min_interval`], so a
//! flood of tokens with made-up `kid`s costs the identity service one fetch per interval.

use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use futures::future::BoxFuture;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::{Claims, Jwk, JwkSet, Principal};
use crate::config::AuthConfig;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed authorization header")]
    Malformed,
    #[error("token has no key id")]
    NoKeyId,
    #[error("token signed with an unknown key {0}")]
    UnknownKey(String),
    #[error("token algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("unsupported auth algorithm {0:?} in configuration (only ES256)")]
    Config(String),
}

impl AuthError {
    /// A short, stable name of the refusal for the metrics (`fleuve_jwt_refusals_total`).
    pub fn reason(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::NoKeyId => "no_key_id",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::Algorithm(_) => "algorithm",
            AuthError::Invalid(error) => match error.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not_yet_valid",
                ErrorKind::InvalidSignature => "bad_signature",
                ErrorKind::InvalidIssuer => "issuer",
                ErrorKind::InvalidAudience => "audience",
                ErrorKind::MissingRequiredClaim(_) => "missing_claim",
                _ => "invalid",
            },
            AuthError::Config(_) => "config",
        }
    }
}

/// Verified tokens remembered at most; past it, expired entries go, then all of them.
const REMEMBERED: usize = 4096;

/// A token that passed every check.
#[derive(Debug, Clone)]
struct Verified {
    /// Shared: a remembered answer is cloned out for each call that carries the token.
    kid: Arc<str>,
    principal: Principal,
}

/// The hasher of the verifier's maps: foldhash (randomly seeded), where the standard SipHash of
/// a token cost about as much as the rest of a remembered token's check. Callers choose the
/// tokens looked up, but only tokens that verified are stored, so they cannot choose what
/// fills the map.
type Hasher = foldhash::fast::RandomState;

/// The tokens that verified, and the key set they verified against.
#[derive(Default)]
struct Remembered {
    tokens: HashMap<Box<str>, Verified, Hasher>,
    /// Counts the key sets that dropped or changed a key (each empties `tokens`). A check that
    /// began under an earlier one does not store its answer: it may have used a key that is
    /// gone.
    generation: u64,
}

/// The verifying keys by key id.
type Keys = HashMap<String, (Jwk, DecodingKey), Hasher>;

/// Fetches the current key set (from the identity service).
pub type JwksFetch = Arc<dyn Fn() -> BoxFuture<'static, Result<JwkSet, String>> + Send + Sync>;

/// Where a verifier fetches its key set again when a token names an unknown key.
pub struct KeyRefresh {
    fetch: JwksFetch,
    min_interval: Duration,
    /// When the last fetch started; held across the fetch, so callers queue behind it.
    last: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl KeyRefresh {
    /// The shortest time between two fetches caused by unknown keys.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(30);

    pub fn new(fetch: JwksFetch, min_interval: Duration) -> KeyRefresh {
        KeyRefresh { fetch, min_interval, last: tokio::sync::Mutex::new(None), fetches: AtomicU64::new(0) }
    }

    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// How many fetches unknown keys have caused.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the key set into `verifier` unless a fetch started less than the interval ago
    /// (a caller that waited behind one gets its keys); false when the fetch failed.
    ///
    /// The fetch runs in a task of its own, bounded by [`FETCH_TIMEOUT`]: a caller that gives
    /// up (its deadline, a closed stream) does not cancel it, so the keys still arrive. A
    /// failed fetch allows the next one after [`RETRY_AFTER_FAILURE`] instead of the interval.
    async fn refresh(&self, verifier: &TokenVerifier) -> bool {
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return true;
        }
        let started = Instant::now();
        *last = Some(started);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (fetch, keys) = ((self.fetch)(), verifier.clone());
        let fetched = tokio::spawn(async move {
            match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
                Ok(Ok(jwks)) => keys.replace_keys(&jwks).map_err(|e| format!("fetched JWK set refused: {e}")),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(format!("no answer within {FETCH_TIMEOUT:?}")),
            }
        })
        .await
        .unwrap_or_else(|join| Err(join.to_string()));
        match fetched {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "JWK set fetch for an unknown key failed");
                let retry = RETRY_AFTER_FAILURE.min(self.min_interval);
                *last = (started + retry).checked_sub(self.min_interval);
                false
            }
        }
    }
}

/// The longest a key-set fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// After a failed fetch, how soon another unknown key may fetch again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3);

/// Verifies access tokens against a JWK set that can be replaced while serving.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<RwLock<Keys>>,
    validation: Arc<Validation>,
    leeway: i64,
    verified: Arc<Mutex<Remembered>>,
    refresh: Option<Arc<KeyRefresh>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.keys.read().map(|k| k.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("TokenVerifier").field("kids", &kids).finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier with the default settings and one freshly generated key, for the layers' tests.
    #[cfg(test)]
    pub(crate) fn with_a_new_key() -> TokenVerifier {
        let key = super::SigningKey::generate();
        TokenVerifier::new(&AuthConfig::default(), &JwkSet { keys: vec![key.jwk().clone()] }).expect("a valid key set")
    }

    pub fn new(config: &AuthConfig, jwks: &JwkSet) -> Result<Self, AuthError> {
        if config.algorithm != "ES256" {
            return Err(AuthError::Config(config.algorithm.clone()));
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = config.leeway_seconds;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let verifier = TokenVerifier {
            keys: Arc::default(),
            validation: Arc::new(validation),
            leeway: i64::try_from(config.leeway_seconds).unwrap_or(i64::MAX),
            verified: Arc::default(),
            refresh: None,
        };
        verifier.replace_keys(jwks)?;
        Ok(verifier)
    }

    /// Fetches the key set with `refresh` when a token names an unknown key
    /// ([`verify_header_fresh`](Self::verify_header_fresh)).
    pub fn with_refresh(mut self, refresh: KeyRefresh) -> TokenVerifier {
        self.refresh = Some(Arc::new(refresh));
        self
    }

    /// The refresh on unknown keys, if any.
    pub fn refresh(&self) -> Option<&KeyRefresh> {
        self.refresh.as_deref()
    }

    /// Swaps in a new key set (key rotation); keys that do not parse are an error. When a
    /// key of the old set is gone or changed, every remembered token is forgotten.
    pub fn replace_keys(&self, jwks: &JwkSet) -> Result<(), AuthError> {
        let mut map = HashMap::with_hasher(Hasher::default());
        for jwk in &jwks.keys {
            if jwk.alg != "ES256" || jwk.kty != "EC" || jwk.crv != "P-256" {
                continue;
            }
            map.insert(jwk.kid.clone(), (jwk.clone(), jwk.decoding_key()?));
        }
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let kept = keys.iter().all(|(kid, (old, _))| map.get(kid).is_some_and(|(new, _)| new == old));
        *keys = map;
        if !kept {
            let mut remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            remembered.tokens.clear();
            remembered.generation += 1;
        }
        Ok(())
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`verify`](Self::verify) as of `now` (Unix seconds) for the expiry of a remembered token.
    fn verify_at(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let (remembered, generation) = {
            let remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            let found = remembered.tokens.get(token).map(|verified| (verified.kid.clone(), verified.principal.clone()));
            (found, remembered.generation)
        };
        if let Some((kid, principal)) = remembered {
            self.check_expiry(&principal, now)?;
            if !self.keys.read().unwrap_or_else(PoisonError::into_inner).contains_key(&*kid) {
                return Err(AuthError::UnknownKey(kid.to_string()));
            }
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let key = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kid)
            .map(|(_, key)| key.clone())
            .ok_or(AuthError::UnknownKey(kid.clone()))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)?;
        let principal = Principal::from(data.claims);
        self.check_expiry(&principal, now)?;
        self.remember(token, Verified { kid: kid.into(), principal: principal.clone() }, generation, now);
        Ok(principal)
    }

    /// Stores a token that verified, unless the key set changed since the check began
    /// (`generation`): the key it used may be gone, and a remembered token is not checked
    /// against its key again.
    fn remember(&self, token: &str, verified: Verified, generation: u64, now: i64) {
        let mut remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if remembered.generation != generation {
            return;
        }
        let tokens = &mut remembered.tokens;
        if tokens.len() >= REMEMBERED {
            tokens.retain(|_, v| v.principal.expires_at.saturating_add(self.leeway) >= now);
            if tokens.len() >= REMEMBERED {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), verified);
    }

    /// Expired once `exp` is more than the leeway behind `now` (as jsonwebtoken decides).
    fn check_expiry(&self, principal: &Principal, now: i64) -> Result<(), AuthError> {
        if principal.expires_at.saturating_add(self.leeway) < now {
            return Err(AuthError::Invalid(jsonwebtoken::errors::ErrorKind::ExpiredSignature.into()));
        }
        Ok(())
    }

    /// How many verified tokens are remembered.
    pub fn remembered(&self) -> usize {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).tokens.len()
    }

    /// Verifies the value of an `authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, value: Option<&str>) -> Result<Principal, AuthError> {
        self.verify(bearer(value)?)
    }

    /// [`verify_header`](Self::verify_header); a token signed with an unknown key makes the
    /// verifier fetch the key set (see [`KeyRefresh`]) and check it once more.
    pub async fn verify_header_fresh(&self, value: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer(value)?;
        match (self.verify(token), &self.refresh) {
            (Err(AuthError::UnknownKey(kid)), Some(refresh)) => {
                if refresh.refresh(self).await {
                    self.verify(token)
                } else {
                    Err(AuthError::UnknownKey(kid))
                }
            }
            (outcome, _) => outcome,
        }
    }
}

/// The token of an `authorization` header value.
fn bearer(value: Option<&str>) -> Result<&str, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(AuthError::Malformed)?;
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, SigningKey, TokenIssuer};

    fn setup() -> (AuthConfig, SigningKey, TokenVerifier) {
        let config = AuthConfig::default();
        let key = SigningKey::generate();
        let verifier = TokenVerifier::new(&config, &JwkSet { keys: vec![key.jwk().clone()] }).unwrap();
        (config, key, verifier)
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let (config, key, verifier) = setup();
        let (token, claims) = TokenIssuer::new(key, &config).issue("alice", Role::Applicant, "org-a").unwrap();
        let first = verifier.verify(&token).unwrap();
        assert_eq!(verifier.remembered(), 1);
        assert_eq!(verifier.verify(&token).unwrap(), first, "the remembered answer");
        let leeway = i64::try_from(config.leeway_seconds).unwrap();
        assert!(verifier.verify_at(&token, claims.exp + leeway).is_ok(), "still inside the leeway");
        let expired = verifier.verify_at(&token, claims.exp + leeway + 1).unwrap_err();
        assert!(
            matches!(&expired, AuthError::Invalid(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature)
        );
    }

    #[test]
    fn only_tokens_that_pass_are_remembered() {
        let (config, key, verifier) = setup();
        let (token, _) = TokenIssuer::new(key, &config).issue("alice", Role::Applicant, "org-a").unwrap();
        // Same claims and header, another signature: a different text, checked on its own.
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", "A".repeat(86));
        assert!(verifier.verify(&forged).is_err());
        assert!(verifier.verify(&forged).is_err(), "a refused token stays refused");
        assert_eq!(verifier.remembered(), 0);
        verifier.verify(&token).unwrap();
        assert_eq!(verifier.remembered(), 1);
    }

    #[test]
    fn a_key_leaving_the_set_takes_its_remembered_tokens_with_it() {
        let (config, key, verifier) = setup();
        let (token, _) = TokenIssuer::new(key.clone(), &config).issue("alice", Role::Admin, "org-a").unwrap();
        verifier.verify(&token).unwrap();
        let other = SigningKey::generate();
        let both = JwkSet { keys: vec![key.jwk().clone(), other.jwk().clone()] };
        verifier.replace_keys(&both).unwrap();
        assert_eq!(verifier.remembered(), 1, "adding a key forgets nothing");
        verifier.replace_keys(&JwkSet { keys: vec![other.jwk().clone()] }).unwrap();
        assert_eq!(verifier.remembered(), 0);
        assert!(matches!(verifier.verify(&token), Err(AuthError::UnknownKey(_))));
    }

    #[test]
    fn a_check_that_began_under_a_replaced_key_set_is_not_remembered() {
        // A check reads the generation, verifies with the key it found, then stores its answer:
        // a key set that drops that key in between must win, or the token would pass on its
        // remembered answer after its key is gone.
        let (config, key, verifier) = setup();
        let (token, claims) = TokenIssuer::new(key.clone(), &config).issue("alice", Role::Admin, "org-a").unwrap();
        let now = claims.exp - 60;
        let began = verifier.verified.lock().unwrap().generation;
        let verified = Verified { kid: key.jwk().kid.as_str().into(), principal: verifier.verify(&token).unwrap() };
        verifier.verified.lock().unwrap().tokens.clear();
        verifier.replace_keys(&JwkSet { keys: vec![SigningKey::generate().jwk().clone()] }).unwrap();
        verifier.remember(&token, verified, began, now);
        assert_eq!(verifier.remembered(), 0, "stored against a key set that changed");
        assert!(matches!(verifier.verify(&token), Err(AuthError::UnknownKey(_))));

        // Under an unchanged key set the answer is stored.
        let (config, key, verifier) = setup();
        let (token, _) = TokenIssuer::new(key.clone(), &config).issue("alice", Role::Admin, "org-a").unwrap();
        let began = verifier.verified.lock().unwrap().generation;
        let principal = verifier.verify(&token).unwrap();
        verifier.verified.lock().unwrap().tokens.clear();
        verifier.remember(&token, Verified { kid: key.jwk().kid.as_str().into(), principal }, began, now);
        assert_eq!(verifier.remembered(), 1);
    }

    /// `token` with its header's `kid` replaced: the signature no longer matches, but a
    /// verifier looks the key up first.
    fn with_kid(token: &str, kid: &str) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let (_, rest) = token.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#));
        format!("{header}.{rest}")
    }

    /// A verifier of `key` refreshing from a published set (that the test may change), with
    /// the count of its fetches.
    fn counted(
        config: &AuthConfig,
        key: &SigningKey,
        interval: Duration,
    ) -> (Arc<Mutex<JwkSet>>, Arc<AtomicU64>, TokenVerifier) {
        let published = Arc::new(Mutex::new(JwkSet { keys: vec![key.jwk().clone()] }));
        let fetched = Arc::new(AtomicU64::new(0));
        let (source, count) = (published.clone(), fetched.clone());
        let fetch: JwksFetch = Arc::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
            let jwks = source.lock().unwrap().clone();
            Box::pin(async move { Ok(jwks) })
        });
        let verifier = TokenVerifier::new(config, &published.lock().unwrap().clone())
            .unwrap()
            .with_refresh(KeyRefresh::new(fetch, interval));
        (published, fetched, verifier)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_key_is_fetched_once_and_a_flood_of_made_up_keys_costs_one_fetch_per_interval() {
        let (config, old, _) = setup();
        let (published, fetched, verifier) = counted(&config, &old, Duration::from_secs(30));
        let (old_token, _) = TokenIssuer::new(old.clone(), &config).issue("alice", Role::Admin, "org-a").unwrap();

        // The identity service rotates: a new signing key, the old one still published.
        let new = SigningKey::generate();
        *published.lock().unwrap() = JwkSet { keys: vec![new.jwk().clone(), old.jwk().clone()] };
        let (new_token, _) = TokenIssuer::new(new, &config).issue("bob", Role::Reviewer, "org-b").unwrap();
        assert!(matches!(verifier.verify(&new_token), Err(AuthError::UnknownKey(_))), "not fetched yet");
        let header = format!("Bearer {new_token}");
        assert_eq!(verifier.verify_header_fresh(Some(&header)).await.unwrap().subject, "bob");
        assert_eq!(fetched.load(Ordering::SeqCst), 1, "one fetch for the new key");
        let header = format!("Bearer {old_token}");
        assert_eq!(verifier.verify_header_fresh(Some(&header)).await.unwrap().subject, "alice", "old key kept");

        // 200 tokens naming made-up keys, 50 at a time: all refused, no fetch inside the interval.
        let mut calls = Vec::new();
        for n in 0..200 {
            let verifier = verifier.clone();
            let header = format!("Bearer {}", with_kid(&old_token, &format!("made-up-{n}")));
            calls.push(tokio::spawn(async move { verifier.verify_header_fresh(Some(&header)).await }));
        }
        for call in calls {
            assert!(matches!(call.await.unwrap(), Err(AuthError::UnknownKey(_))));
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 1, "the flood fetched nothing more");
        assert_eq!(verifier.refresh().unwrap().fetches(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_unknown_keys_share_one_fetch() {
        let (config, key, _) = setup();
        let (_, fetched, verifier) = counted(&config, &key, Duration::from_millis(300));
        let (token, _) = TokenIssuer::new(key, &config).issue("alice", Role::Admin, "org-a").unwrap();
        for round in 0..3 {
            let calls: Vec<_> = (0..50)
                .map(|n| {
                    let verifier = verifier.clone();
                    let header = format!("Bearer {}", with_kid(&token, &format!("r{round}-{n}")));
                    tokio::spawn(async move { verifier.verify_header_fresh(Some(&header)).await })
                })
                .collect();
            for call in calls {
                assert!(call.await.unwrap().is_err());
            }
            assert_eq!(fetched.load(Ordering::SeqCst), round + 1, "one fetch per interval, round {round}");
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
        // A fetch that fails leaves the keys as they were.
        let failing: JwksFetch = Arc::new(|| Box::pin(async { Err("identity unreachable".to_owned()) }));
        let verifier = verifier.with_refresh(KeyRefresh::new(failing, Duration::ZERO));
        let header = format!("Bearer {}", with_kid(&token, "unknown"));
        assert!(matches!(verifier.verify_header_fresh(Some(&header)).await, Err(AuthError::UnknownKey(_))));
        assert!(verifier.verify_header_fresh(Some(&format!("Bearer {token}"))).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fetch_allows_another_after_a_short_wait_not_the_interval() {
        let (config, old, _) = setup();
        let new = SigningKey::generate();
        let published = JwkSet { keys: vec![new.jwk().clone(), old.jwk().clone()] };
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        // The identity service is down for the first fetch, back for the next.
        let flaky: JwksFetch = Arc::new(move || {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            let jwks = published.clone();
            Box::pin(async move { if first { Err("identity unreachable".to_owned()) } else { Ok(jwks) } })
        });
        let verifier = TokenVerifier::new(&config, &JwkSet { keys: vec![old.jwk().clone()] })
            .unwrap()
            .with_refresh(KeyRefresh::new(flaky, Duration::from_secs(30)));
        let (token, _) = TokenIssuer::new(new, &config).issue("bob", Role::Admin, "org-b").unwrap();
        let header = format!("Bearer {token}");
        assert!(verifier.verify_header_fresh(Some(&header)).await.is_err(), "the fetch failed");
        assert!(verifier.verify_header_fresh(Some(&header)).await.is_err(), "too soon to fetch again");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(RETRY_AFTER_FAILURE + Duration::from_millis(100)).await;
        assert_eq!(verifier.verify_header_fresh(Some(&header)).await.unwrap().subject, "bob");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "well before the 30 s interval");
    }
}
