//! Encryption at rest: the `SecretSealer` port over XChaCha20-Poly1305.
//!
//! A sealed value is `version (1 byte) || nonce (24 bytes) || ciphertext and tag`. The nonce is
//! random: XChaCha's 192-bit nonces make collisions negligible at any count of seals. The
//! purpose (e.g. `totp:<user id>`) is the associated data, bound but not stored.

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use domain::{SecretSealer, Unsealable};
use secrecy::SecretString;

use crate::keys::derive_key;

/// The format of what `seal` writes; a new key derivation or cipher gets a new one.
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;
/// The sealing key's use, in its derivation.
const USE: &[u8] = b"auth-api/sealing-key/v1";

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// The sealer of every replica holding the same `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(derive_key(secret, USE))),
        }
    }
}

impl SecretSealer for Sealer {
    fn seal(&self, secret: &[u8], purpose: &str) -> Vec<u8> {
        let nonce = XNonce::generate();
        let payload = Payload {
            msg: secret,
            aad: purpose.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&nonce, payload)
            .expect("XChaCha20-Poly1305 seals any length a process can hold");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open(&self, sealed: &[u8], purpose: &str) -> Result<Vec<u8>, Unsealable> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(Unsealable);
        };
        if rest.len() < NONCE_BYTES {
            return Err(Unsealable);
        }
        let (nonce, text) = rest.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| Unsealable)?;
        let payload = Payload {
            msg: text,
            aad: purpose.as_bytes(),
        };
        self.cipher.decrypt(&nonce, payload).map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sealer(secret: &str) -> Sealer {
        Sealer::from_secret(&SecretString::from(secret.to_owned()))
    }

    const SECRET: &str = "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

    #[test]
    fn a_sealed_secret_opens_for_its_purpose_on_every_replica() {
        let sealed = sealer(SECRET).seal(b"JBSWY3DPEHPK3PXP", "totp:alice");
        assert_eq!(
            sealer(SECRET).open(&sealed, "totp:alice").unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn it_does_not_open_for_another_purpose_key_or_after_any_change() {
        let sealed = sealer(SECRET).seal(b"seed", "totp:alice");
        assert_eq!(sealer(SECRET).open(&sealed, "totp:bob"), Err(Unsealable));
        assert_eq!(
            sealer("another secret of the same length, more or less").open(&sealed, "totp:alice"),
            Err(Unsealable)
        );
        for at in 0..sealed.len() {
            let mut changed = sealed.clone();
            changed[at] ^= 0x01;
            assert_eq!(
                sealer(SECRET).open(&changed, "totp:alice"),
                Err(Unsealable),
                "byte {at}"
            );
        }
        for cut in 0..sealed.len() {
            assert_eq!(
                sealer(SECRET).open(&sealed[..cut], "totp:alice"),
                Err(Unsealable)
            );
        }
    }

    #[test]
    fn sealing_twice_gives_two_texts() {
        let s = sealer(SECRET);
        assert_ne!(s.seal(b"seed", "p"), s.seal(b"seed", "p"));
    }

    proptest! {
        #[test]
        fn every_secret_round_trips_and_never_shows(secret in proptest::collection::vec(any::<u8>(), 8..256), purpose in ".{0,40}") {
            let s = sealer(SECRET);
            let sealed = s.seal(&secret, &purpose);
            prop_assert_eq!(s.open(&sealed, &purpose).unwrap(), secret.clone());
            prop_assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
        }
    }
}
