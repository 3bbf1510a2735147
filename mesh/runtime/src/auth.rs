//! Who is calling: token claims, roles and the principal every handler authorizes against.

mod keys;
mod verifier;

use serde::{Deserialize, Serialize};

pub use keys::{Jwk, JwkSet, KeyError, SigningKey};
pub use verifier::{AuthError, JwksFetch, KeyRefresh, TokenVerifier};

use crate::error::ServiceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Applicant,
    Reviewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "applicant" => Some(Role::Applicant),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn to_proto(self) -> fleuve_proto::identity::v1::Role {
        use fleuve_proto::identity::v1::Role as P;
        match self {
            Role::Applicant => P::Applicant,
            Role::Reviewer => P::Reviewer,
            Role::Admin => P::Admin,
        }
    }

    pub fn from_proto(value: i32) -> Option<Role> {
        use fleuve_proto::identity::v1::Role as P;
        match P::try_from(value).ok()? {
            P::Applicant => Some(Role::Applicant),
            P::Reviewer => Some(Role::Reviewer),
            P::Admin => Some(Role::Admin),
            P::Unspecified => None,
        }
    }

    /// Regulator staff: reviewers and admins.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

/// The claims of a Fleuve access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub role: Role,
    /// The organisation the subject acts for.
    pub org: String,
}

/// The authenticated caller, put in the request extensions by the auth layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub organisation_id: String,
    pub expires_at: i64,
}

impl Principal {
    /// `PERMISSION_DENIED` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let wanted: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(ServiceError::denied(format!(
                "this action needs the role {} (caller is {})",
                wanted.join(" or "),
                self.role.as_str()
            )))
        }
    }
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Self {
        Principal { subject: c.sub, role: c.role, organisation_id: c.org, expires_at: c.exp }
    }
}

/// Mints access tokens with the configured issuer, audience and lifetime.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    key: SigningKey,
    /// Public keys of earlier signing keys, still published (key rotation).
    retired: Vec<Jwk>,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, config: &crate::config::AuthConfig) -> Self {
        TokenIssuer {
            key,
            retired: Vec::new(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_seconds: i64::try_from(config.token_ttl_seconds).unwrap_or(i64::MAX),
        }
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Publishes, beside the signing key, the public keys of the PEM files `files` (keys that
    /// signed before a rotation), so the tokens they signed verify until they expire.
    pub fn with_retired_key_files(mut self, files: &[String]) -> Result<Self, KeyError> {
        for file in files.iter().filter(|f| !f.trim().is_empty()) {
            let pem = std::fs::read_to_string(file.trim())
                .map_err(|source| KeyError::Io { path: file.trim().to_owned(), source })?;
            let jwk = keys::public_jwk(&pem)?;
            if jwk.kid != self.key.kid() && !self.retired.iter().any(|r| r.kid == jwk.kid) {
                self.retired.push(jwk);
            }
        }
        Ok(self)
    }

    /// The signing key's public key first, then the retired ones.
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: std::iter::once(self.key.jwk().clone()).chain(self.retired.iter().cloned()).collect() }
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Returns the signed token and its claims.
    pub fn issue(&self, subject: &str, role: Role, organisation_id: &str) -> Result<(String, Claims), ServiceError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl_seconds,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            role,
            org: organisation_id.to_owned(),
        };
        let token = self.key.sign(&claims).map_err(ServiceError::internal)?;
        Ok((token, claims))
    }
}
