//! The token adapter: JWTs through jsonwebtoken (RustCrypto backend), signed with the keyring
//! the domain installs: ES256, EdDSA or RS256 key pairs from the store, or `JWT_SECRET_KEY`
//! with an HS algorithm. Every token names its key in `kid`; verification picks the key by
//! `kid` and accepts only that key's algorithm. It checks structure, algorithm and signature,
//! refuses header extensions (`crit`) and lifetimes no token of this service has; issuer,
//! audience, type and time are the domain's checks.

mod generate;
mod ring;
mod verified;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use domain::{
    Claims, DomainError, IdTokenClaims, KeyAlgorithm, Keyring, TokenCodec, TokenRejection,
    TokenType,
};
use jsonwebtoken::{Algorithm, Validation};

pub use crate::generate::KeyPairs;
use crate::ring::{Ring, SharedSecret, Verifier};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtConfigError {
    #[error("the signing secret is empty")]
    EmptySecret,
}

pub struct JwtCodec {
    shared: SharedSecret,
    ring: RwLock<Arc<Ring>>,
    /// No token this service makes lives longer (`exp` after `iat`): one that claims to is
    /// refused whatever key signed it.
    max_lifetime_seconds: Option<i64>,
}

impl JwtCodec {
    /// A codec that knows `secret` (for the HS algorithms: `shared_algorithm`) and no key pair
    /// yet: the domain installs the keyring.
    pub fn new(shared_algorithm: KeyAlgorithm, secret: &[u8]) -> Result<Self, JwtConfigError> {
        if secret.is_empty() {
            return Err(JwtConfigError::EmptySecret);
        }
        let shared = SharedSecret::new(shared_algorithm, secret);
        Ok(Self {
            ring: RwLock::new(Arc::new(Ring::shared_only(&shared))),
            shared,
            max_lifetime_seconds: None,
        })
    }

    /// Refuses tokens whose `exp` lies more than `seconds` after their `iat` (the longest
    /// lifetime of any token type, plus the leeway; the domain checks each type's own).
    pub fn with_max_lifetime(mut self, seconds: i64) -> Self {
        self.max_lifetime_seconds = Some(seconds);
        self
    }

    fn ring(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// jsonwebtoken's name for an algorithm.
pub(crate) fn algorithm(algorithm: KeyAlgorithm) -> Algorithm {
    match algorithm {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
    }
}

/// Only the signature: time, issuer and audience are the domain's to judge.
fn signature_only(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.required_spec_claims = HashSet::new();
    validation
}

impl JwtCodec {
    /// Signs `claims` with the current key.
    fn sign(&self, claims: &impl serde::Serialize) -> Result<String, DomainError> {
        let ring = self.ring();
        let signer = ring
            .signer()
            .ok_or_else(|| DomainError::Internal("no signing key is loaded".into()))?;
        jsonwebtoken::encode(&signer.header, claims, &signer.key)
            .map_err(|err| DomainError::Internal(format!("cannot sign a token: {err}")))
    }
}

impl TokenCodec for JwtCodec {
    fn install(&self, keyring: Keyring) -> Result<(), DomainError> {
        let ring = Ring::build(&self.shared, keyring)?;
        // With its own empty cache: a key may have been retired, and what it verified must be
        // checked again.
        *self
            .ring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
        Ok(())
    }

    fn encode(&self, claims: &Claims) -> Result<String, DomainError> {
        self.sign(claims)
    }

    fn encode_id_token(&self, claims: &IdTokenClaims) -> Result<String, DomainError> {
        self.sign(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenRejection> {
        let ring = self.ring();
        if let Some(claims) = ring.verified.get(token) {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        // A token never says where its key is: keys come from this service's keyring only.
        // Nor does it ask for extensions (`crit`, RFC 7515 §4.1.11): this service knows none.
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(TokenRejection::Invalid);
        }
        let verifier: &Verifier = ring.verifier(header.kid.as_deref())?;
        if !verifier.algorithms.contains(&header.alg) {
            return Err(TokenRejection::Invalid);
        }
        let claims =
            jsonwebtoken::decode::<Claims>(token, &verifier.key, &signature_only(header.alg))
                .map(|data| data.claims)
                .map_err(|_| TokenRejection::Invalid)?;
        if verifier
            .issued_before
            .is_some_and(|cutoff| claims.iat >= cutoff)
            || self
                .max_lifetime_seconds
                .is_some_and(|max| claims.exp.saturating_sub(claims.iat) > max)
        {
            return Err(TokenRejection::Invalid);
        }
        // Refresh tokens are single-use: remembering them would only crowd out access tokens.
        if claims.token_type == TokenType::Access {
            ring.verified.remember(token, &claims);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
