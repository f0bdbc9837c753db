//! RFC 7636's S256 code challenge method.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::PkceTransform;
use sha2::{Digest, Sha256};

/// BASE64URL(SHA-256(ASCII(code_verifier))), unpadded (RFC 7636 §4.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct S256;

impl PkceTransform for S256 {
    fn challenge_of(&self, verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfcs_example_verifier_gives_its_challenge() {
        // RFC 7636 appendix B.
        assert_eq!(
            S256.challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
