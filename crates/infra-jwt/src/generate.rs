//! New key pairs, from the RustCrypto crates jsonwebtoken signs with: P-256, Ed25519 and
//! 2048-bit RSA. The private half leaves as DER in the form jsonwebtoken reads (PKCS#8 for
//! P-256 and Ed25519, PKCS#1 for RSA), the public half as JWK members.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{DomainError, KeyAlgorithm, KeyGenerator, KeyPair, PublicJwk};
use rand_core::OsRng;

/// RSA keys of this many bits (NIST's minimum until 2030).
const RSA_BITS: usize = 2048;

#[derive(Debug, Default, Clone, Copy)]
pub struct KeyPairs;

#[async_trait]
impl KeyGenerator for KeyPairs {
    async fn generate(&self, algorithm: KeyAlgorithm, kid: &str) -> Result<KeyPair, DomainError> {
        let kid = kid.to_owned();
        // RSA generation takes a CPU for a good part of a second: never on an async worker.
        tokio::task::spawn_blocking(move || generate(algorithm, kid))
            .await
            .map_err(|err| DomainError::Internal(format!("key generation failed: {err}")))?
    }
}

fn failed(err: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("key generation failed: {err}"))
}

fn b64(bytes: &[u8]) -> Option<String> {
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn jwk(kty: &str, kid: String, alg: KeyAlgorithm) -> PublicJwk {
    PublicJwk {
        kty: kty.into(),
        kid,
        alg,
        key_use: "sig".into(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    }
}

fn generate(algorithm: KeyAlgorithm, kid: String) -> Result<KeyPair, DomainError> {
    match algorithm {
        KeyAlgorithm::ES256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let secret = p256::SecretKey::random(&mut OsRng);
            let point = secret.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(failed("P-256 point without coordinates"));
            };
            Ok(KeyPair {
                private_der: secret.to_pkcs8_der().map_err(failed)?.as_bytes().to_vec(),
                public: PublicJwk {
                    crv: Some("P-256".into()),
                    x: b64(x),
                    y: b64(y),
                    ..jwk("EC", kid, algorithm)
                },
            })
        }
        KeyAlgorithm::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let secret = ed25519_dalek::SigningKey::generate(&mut OsRng);
            Ok(KeyPair {
                private_der: secret.to_pkcs8_der().map_err(failed)?.as_bytes().to_vec(),
                public: PublicJwk {
                    crv: Some("Ed25519".into()),
                    x: b64(secret.verifying_key().as_bytes()),
                    ..jwk("OKP", kid, algorithm)
                },
            })
        }
        KeyAlgorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let secret = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(failed)?;
            Ok(KeyPair {
                private_der: secret.to_pkcs1_der().map_err(failed)?.as_bytes().to_vec(),
                public: PublicJwk {
                    n: b64(&secret.n().to_bytes_be()),
                    e: b64(&secret.e().to_bytes_be()),
                    ..jwk("RSA", kid, algorithm)
                },
            })
        }
        KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512 => Err(failed(
            "HS algorithms sign with JWT_SECRET_KEY, not a key pair",
        )),
    }
}
