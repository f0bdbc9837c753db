//! Keyed fingerprints: the `Fingerprints` port over HMAC-SHA-256, hex-encoded.

use domain::Fingerprints;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use sha2::Sha256;

use crate::keys::derive_key;

const USE: &[u8] = b"auth-api/fingerprint-key/v1";

pub struct Fingerprinter {
    key: [u8; 32],
}

impl Fingerprinter {
    /// The fingerprints of every replica holding the same `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self {
            key: derive_key(secret, USE),
        }
    }
}

impl Fingerprints for Fingerprinter {
    fn of(&self, secret: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(secret.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprints(secret: &str) -> Fingerprinter {
        Fingerprinter::from_secret(&SecretString::from(secret.to_owned()))
    }

    const SECRET: &str = "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

    #[test]
    fn the_same_code_has_the_same_fingerprint_on_every_replica() {
        let one = fingerprints(SECRET).of("abcde-12345");
        assert_eq!(one, fingerprints(SECRET).of("abcde-12345"));
        assert_eq!(one.len(), 64);
        assert!(one.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn it_depends_on_the_code_and_on_the_services_secret() {
        let f = fingerprints(SECRET);
        assert_ne!(f.of("abcde-12345"), f.of("abcde-12346"));
        assert_ne!(
            f.of("abcde-12345"),
            fingerprints("another secret entirely, also long").of("abcde-12345")
        );
        assert!(!f.of("abcde-12345").contains("abcde"));
    }
}
