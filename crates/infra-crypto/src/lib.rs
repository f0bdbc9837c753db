//! Cryptography at rest, from RustCrypto: secrets sealed with XChaCha20-Poly1305
//! (`SecretSealer`) and keyed fingerprints with HMAC-SHA-256 (`Fingerprints`), each under its
//! own key derived by HKDF-SHA-256 from the service's secret; and PKCE's S256 (`PkceTransform`).

mod fingerprints;
mod keys;
mod pkce;
mod sealer;

pub use fingerprints::Fingerprinter;
pub use pkce::S256;
pub use sealer::Sealer;
