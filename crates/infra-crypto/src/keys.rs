//! Every key of this crate is derived from the service's one secret (`JWT_SECRET_KEY`) by
//! HKDF-SHA-256 with its own use as `info`, so operators keep one secret, no two uses share a
//! key, and none is the signing secret itself.

use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// HKDF's salt: fixed, as the secret is already random (RFC 5869, section 3.1).
const SALT: &[u8] = b"auth-api key derivation";

pub(crate) fn derive_key(secret: &SecretString, key_use: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), secret.expose_secret().as_bytes())
        .expand(key_use, &mut key)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    key
}
