//! The keys one keyring signs and verifies with, in jsonwebtoken's types, built once per
//! reload so that a request only looks a key up.

use std::collections::HashMap;

use domain::{DomainError, KeyAlgorithm, Keyring, LiveKey, SharedSecretUse, TokenRejection};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

use crate::algorithm;
use crate::verified::VerifiedTokens;

/// `JWT_SECRET_KEY` as a key: its HS algorithm and a `kid` derived from it (an HMAC of a fixed
/// text, so the kid says nothing about the secret but changes with it).
pub(crate) struct SharedSecret {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SharedSecret {
    /// `configured`: the configured algorithm when it is an HS one (in key-pair modes the
    /// secret only verifies, with whichever HS algorithm a token names).
    pub(crate) fn new(configured: KeyAlgorithm, secret: &[u8]) -> Self {
        let algorithm = if configured.is_shared_secret() {
            algorithm(configured)
        } else {
            Algorithm::HS256
        };
        let encoding = EncodingKey::from_secret(secret);
        let tag = jsonwebtoken::crypto::sign(b"auth-api key id", &encoding, Algorithm::HS256)
            .unwrap_or_default();
        Self {
            kid: format!("hs-{}", &tag[..tag.len().min(16)]),
            algorithm,
            encoding,
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

pub(crate) struct Verifier {
    /// What it verifies: one algorithm for a key pair; after a move from HMAC signing, any HS
    /// one (each needs the secret), whichever the deployment used.
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
    /// Accepted only for tokens issued before this Unix time.
    pub(crate) issued_before: Option<i64>,
}

pub(crate) struct Signer {
    pub(crate) header: Header,
    pub(crate) key: EncodingKey,
}

pub(crate) struct Ring {
    verifiers: HashMap<String, Verifier>,
    /// Tokens this keyring verified: replaced with it, so that a token of a key it dropped is
    /// never answered from memory again.
    pub(crate) verified: VerifiedTokens,
    /// The shared secret's kid, also for tokens made before kids (no `kid` at all).
    shared_kid: String,
    signer: Option<Signer>,
}

impl Ring {
    /// Before the domain installs a keyring: the shared secret verifies, nothing signs.
    pub(crate) fn shared_only(shared: &SharedSecret) -> Self {
        Self {
            verifiers: HashMap::new(),
            verified: VerifiedTokens::default(),
            shared_kid: shared.kid.clone(),
            signer: None,
        }
    }

    pub(crate) fn build(shared: &SharedSecret, keyring: Keyring) -> Result<Self, DomainError> {
        let mut verifiers = HashMap::new();
        let mut signer = None;
        for key in keyring.keys {
            if let Some(private_der) = &key.private_der
                && keyring.shared_secret != SharedSecretUse::Sign
            {
                let mut header = Header::new(algorithm(key.algorithm));
                header.kid = Some(key.kid.clone());
                signer = Some(Signer {
                    header,
                    key: encoding_key(key.algorithm, private_der)?,
                });
            }
            verifiers.insert(
                key.kid.clone(),
                Verifier {
                    algorithms: vec![algorithm(key.algorithm)],
                    key: decoding_key(&key)?,
                    issued_before: None,
                },
            );
        }
        let shared_verifier = match keyring.shared_secret {
            SharedSecretUse::Sign => Some((vec![shared.algorithm], None)),
            SharedSecretUse::AcceptIssuedBefore(cutoff) => Some((
                vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
                Some(cutoff),
            )),
            SharedSecretUse::Refuse => None,
        };
        if let Some((algorithms, issued_before)) = shared_verifier {
            verifiers.insert(
                shared.kid.clone(),
                Verifier {
                    algorithms,
                    key: shared.decoding.clone(),
                    issued_before,
                },
            );
        }
        if keyring.shared_secret == SharedSecretUse::Sign {
            let mut header = Header::new(shared.algorithm);
            header.kid = Some(shared.kid.clone());
            signer = Some(Signer {
                header,
                key: shared.encoding.clone(),
            });
        }
        Ok(Self {
            verifiers,
            verified: VerifiedTokens::default(),
            shared_kid: shared.kid.clone(),
            signer,
        })
    }

    pub(crate) fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The key a token's `kid` names; a token without one was signed with the shared secret
    /// before tokens carried kids.
    pub(crate) fn verifier(&self, kid: Option<&str>) -> Result<&Verifier, TokenRejection> {
        let kid = kid.unwrap_or(&self.shared_kid);
        match self.verifiers.get(kid) {
            Some(verifier) => Ok(verifier),
            // The shared secret's kid is known even when it is refused: nothing to reload for.
            None if kid == self.shared_kid => Err(TokenRejection::Invalid),
            None => Err(TokenRejection::UnknownKey),
        }
    }
}

fn unusable(kid: &str) -> DomainError {
    DomainError::Internal(format!("signing key {kid} cannot be used"))
}

fn encoding_key(algorithm: KeyAlgorithm, private_der: &[u8]) -> Result<EncodingKey, DomainError> {
    match algorithm {
        KeyAlgorithm::ES256 => Ok(EncodingKey::from_ec_der(private_der)),
        KeyAlgorithm::EdDSA => Ok(EncodingKey::from_ed_der(private_der)),
        KeyAlgorithm::RS256 => Ok(EncodingKey::from_rsa_der(private_der)),
        _ => Err(DomainError::Internal(
            "an HS algorithm has no key pair".into(),
        )),
    }
}

fn decoding_key(key: &LiveKey) -> Result<DecodingKey, DomainError> {
    let jwk = &key.public;
    let member = |value: &Option<String>| value.clone().ok_or_else(|| unusable(&key.kid));
    match key.algorithm {
        KeyAlgorithm::ES256 => DecodingKey::from_ec_components(&member(&jwk.x)?, &member(&jwk.y)?),
        KeyAlgorithm::EdDSA => DecodingKey::from_ed_components(&member(&jwk.x)?),
        KeyAlgorithm::RS256 => DecodingKey::from_rsa_components(&member(&jwk.n)?, &member(&jwk.e)?),
        _ => return Err(unusable(&key.kid)),
    }
    .map_err(|_| unusable(&key.kid))
}
