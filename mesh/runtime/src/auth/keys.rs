//! ES256 signing keys: generation, PEM storage, JWK form with an RFC 7638 thumbprint `kid`, and
//! token issuance.

use std::path::Path;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{
    PublicKey, SecretKey,
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, LineEnding},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Claims;

/// One public key of a JWK set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl Jwk {
    pub fn decoding_key(&self) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
        DecodingKey::from_ec_components(&self.x, &self.y)
    }

    pub fn to_proto(&self) -> fleuve_proto::identity::v1::Jwk {
        fleuve_proto::identity::v1::Jwk {
            kty: self.kty.clone(),
            crv: self.crv.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            kid: self.kid.clone(),
            alg: self.alg.clone(),
            r#use: self.use_.clone(),
        }
    }

    pub fn from_proto(p: &fleuve_proto::identity::v1::Jwk) -> Self {
        Jwk {
            kty: p.kty.clone(),
            crv: p.crv.clone(),
            x: p.x.clone(),
            y: p.y.clone(),
            kid: p.kid.clone(),
            alg: p.alg.clone(),
            use_: p.r#use.clone(),
        }
    }
}

/// A P-256 private key that signs access tokens.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    jwk: Jwk,
    pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.jwk.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("invalid ES256 private key: {0}")]
    Invalid(String),
}

impl SigningKey {
    pub fn generate() -> Self {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        Self::from_secret(&secret).expect("a freshly generated key encodes")
    }

    /// A P-256 key in PKCS#8 PEM (`BEGIN PRIVATE KEY`, what Fleuve writes) or SEC1 PEM
    /// (`BEGIN EC PRIVATE KEY`: `openssl ecparam -genkey`, Helm's `genPrivateKey "ecdsa"`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let secret = if pem.contains("BEGIN EC PRIVATE KEY") {
            SecretKey::from_sec1_pem(pem).map_err(|e| KeyError::Invalid(format!("SEC1 key: {e}")))?
        } else {
            SecretKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Invalid(e.to_string()))?
        };
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &SecretKey) -> Result<Self, KeyError> {
        let jwk = jwk_of(&secret.public_key())?;
        let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(SigningKey { encoding, jwk, pem: pem.to_string() })
    }

    /// Reads the PKCS#8 PEM at `path`, or generates a key and writes it there (mode 0600).
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, key.pem.as_bytes()).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// Any JSON payload as a compact JWS (ES256, with this key's id and the given `typ`): what
    /// a seal carries, for verifiers holding the published keys.
    pub fn sign_payload<T: serde::Serialize>(
        &self,
        payload: &T,
        typ: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.jwk.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, payload, &self.encoding)
    }

    /// An access token: `claims` as a JWT (`typ` "JWT").
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_payload(claims, "JWT")
    }
}

/// The public JWK (RFC 7638 thumbprint `kid`) of a P-256 key.
fn jwk_of(public: &PublicKey) -> Result<Jwk, KeyError> {
    let point = public.to_encoded_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x().ok_or_else(|| KeyError::Invalid("no x".into()))?);
    let y = URL_SAFE_NO_PAD.encode(point.y().ok_or_else(|| KeyError::Invalid("no y".into()))?);
    // RFC 7638: the thumbprint of the required members in lexicographic order.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    Ok(Jwk { kty: "EC".into(), crv: "P-256".into(), x, y, kid, alg: "ES256".into(), use_: "sig".into() })
}

/// The public JWK of a P-256 key in PEM: a public key (`BEGIN PUBLIC KEY`) or a private one in
/// either form [`SigningKey::from_pem`] reads. A retired key needs only its public half.
pub(crate) fn public_jwk(pem: &str) -> Result<Jwk, KeyError> {
    if pem.contains("BEGIN PUBLIC KEY") {
        let public = PublicKey::from_public_key_pem(pem).map_err(|e| KeyError::Invalid(format!("public key: {e}")))?;
        return jwk_of(&public);
    }
    Ok(SigningKey::from_pem(pem)?.jwk)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sec1_key_is_the_same_key_as_its_pkcs8_form() {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        assert!(sec1.contains("BEGIN EC PRIVATE KEY"));
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let (a, b) = (SigningKey::from_pem(&sec1).unwrap(), SigningKey::from_pem(&pkcs8).unwrap());
        assert_eq!(a.jwk.kid, b.jwk.kid);
        assert!(SigningKey::from_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").is_err());
    }
}
