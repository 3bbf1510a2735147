//! Access-token verification: one algorithm, a known `kid`, and `iss`, `aud` and `exp` required.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::{Claims, JwkSet, Principal};
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

/// Verifies access tokens against a JWK set that can be replaced while serving.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<RwLock<HashMap<String, DecodingKey>>>,
    validation: Arc<Validation>,
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
        let verifier = TokenVerifier { keys: Arc::default(), validation: Arc::new(validation) };
        verifier.replace_keys(jwks)?;
        Ok(verifier)
    }

    /// Swaps in a new key set (key rotation); keys that do not parse are an error.
    pub fn replace_keys(&self, jwks: &JwkSet) -> Result<(), AuthError> {
        let mut map = HashMap::new();
        for jwk in &jwks.keys {
            if jwk.alg != "ES256" || jwk.kty != "EC" || jwk.crv != "P-256" {
                continue;
            }
            map.insert(jwk.kid.clone(), jwk.decoding_key()?);
        }
        *self.keys.write().expect("key set lock") = map;
        Ok(())
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let key = self.keys.read().expect("key set lock").get(&kid).cloned().ok_or(AuthError::UnknownKey(kid))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)?;
        Ok(data.claims.into())
    }

    /// Verifies the value of an `authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, value: Option<&str>) -> Result<Principal, AuthError> {
        let value = value.ok_or(AuthError::Missing)?;
        let token =
            value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }
}
