//! The token adapter: JWTs signed with an HMAC key through jsonwebtoken. It checks structure,
//! algorithm and signature; issuer, audience, type and time are the domain's checks.

mod verified;

use std::collections::HashSet;

use domain::{Claims, DomainError, TokenCodec, TokenRejection, TokenType};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::verified::VerifiedTokens;

/// The algorithms this adapter signs with, as configuration names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum SigningAlgorithm {
    HS256,
    HS384,
    HS512,
}

impl From<SigningAlgorithm> for Algorithm {
    fn from(algorithm: SigningAlgorithm) -> Self {
        match algorithm {
            SigningAlgorithm::HS256 => Algorithm::HS256,
            SigningAlgorithm::HS384 => Algorithm::HS384,
            SigningAlgorithm::HS512 => Algorithm::HS512,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtConfigError {
    #[error("the signing secret is empty")]
    EmptySecret,
}

pub struct JwtCodec {
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: VerifiedTokens,
}

impl JwtCodec {
    pub fn new(algorithm: SigningAlgorithm, secret: &[u8]) -> Result<Self, JwtConfigError> {
        let algorithm = Algorithm::from(algorithm);
        if secret.is_empty() {
            return Err(JwtConfigError::EmptySecret);
        }
        // Only the configured algorithm is accepted: never `none`, never another family.
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims = HashSet::new();
        Ok(Self {
            header: Header::new(algorithm),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: VerifiedTokens::default(),
        })
    }
}

impl TokenCodec for JwtCodec {
    fn encode(&self, claims: &Claims) -> Result<String, DomainError> {
        jsonwebtoken::encode(&self.header, claims, &self.encoding)
            .map_err(|err| DomainError::Internal(format!("cannot sign a token: {err}")))
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenRejection> {
        if let Some(claims) = self.verified.get(token) {
            return Ok(claims);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenRejection::Invalid)?;
        // Refresh tokens are single-use: remembering them would only crowd out access tokens.
        if claims.token_type == TokenType::Access {
            self.verified.remember(token, &claims);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
