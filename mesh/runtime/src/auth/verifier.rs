//! Access-token verification: one algorithm, a known `kid`, and `iss`, `aud` and `exp` required.
//!
//! Clients send the same token with many calls, and an ES256 signature check is the costliest
//! thing the auth layer does (about a third of the node's own CPU in the saga benchmark). So a
//! token that verified is remembered, by its exact text, until it expires: a later call with
//! the same token checks its expiry (and that its key is still in the set) without checking the
//! signature again. Only tokens that passed every check are remembered; a key set that drops or
//! changes a key forgets them all.

use std::sync::PoisonError;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

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
    kid: String,
    principal: Principal,
}

/// Verifies access tokens against a JWK set that can be replaced while serving.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<RwLock<HashMap<String, (Jwk, DecodingKey)>>>,
    validation: Arc<Validation>,
    leeway: i64,
    verified: Arc<Mutex<HashMap<Box<str>, Verified>>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.keys.read().map(|k| k.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("TokenVerifier").field("kids", &kids).finish_non_exhaustive()
    }
}

impl TokenVerifier {
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
        };
        verifier.replace_keys(jwks)?;
        Ok(verifier)
    }

    /// Swaps in a new key set (key rotation); keys that do not parse are an error. When a
    /// key of the old set is gone or changed, every remembered token is forgotten.
    pub fn replace_keys(&self, jwks: &JwkSet) -> Result<(), AuthError> {
        let mut map = HashMap::new();
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
            self.verified.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        Ok(())
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`verify`](Self::verify) as of `now` (Unix seconds) for the expiry of a remembered token.
    fn verify_at(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let remembered = self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned();
        if let Some(verified) = remembered {
            self.check_expiry(&verified.principal, now)?;
            if !self.keys.read().unwrap_or_else(PoisonError::into_inner).contains_key(&verified.kid) {
                return Err(AuthError::UnknownKey(verified.kid));
            }
            return Ok(verified.principal);
        }
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let key = self
            .keys
            .read()
            .expect("key set lock")
            .get(&kid)
            .map(|(_, key)| key.clone())
            .ok_or(AuthError::UnknownKey(kid.clone()))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)?;
        let principal = Principal::from(data.claims);
        self.check_expiry(&principal, now)?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= REMEMBERED {
            verified.retain(|_, v| v.principal.expires_at.saturating_add(self.leeway) >= now);
            if verified.len() >= REMEMBERED {
                verified.clear();
            }
        }
        verified.insert(token.into(), Verified { kid, principal: principal.clone() });
        Ok(principal)
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
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Verifies the value of an `authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, value: Option<&str>) -> Result<Principal, AuthError> {
        let value = value.ok_or(AuthError::Missing)?;
        let token =
            value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }
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
}
