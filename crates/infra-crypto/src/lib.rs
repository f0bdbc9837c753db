//! Cryptography at rest, from RustCrypto: secrets sealed with XChaCha20-Poly1305
//! (`SecretSealer`) and keyed fingerprints with HMAC-SHA-256 (`Fingerprints`), each under its
//! own key derived by HKDF-SHA-256 from the service's secret.

mod fingerprints;
mod keys;
mod sealer;

pub use fingerprints::Fingerprinter;
pub use sealer::Sealer;
