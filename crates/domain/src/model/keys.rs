use chrono::{DateTime, Utc};
use serde::Serialize;

/// The algorithms tokens are signed with. The asymmetric ones sign with a key pair kept in the
/// store and publish the public half; the HMAC ones sign with `JWT_SECRET_KEY` itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    ES256,
    EdDSA,
    RS256,
    HS256,
    HS384,
    HS512,
}

impl KeyAlgorithm {
    pub fn is_shared_secret(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::HS384 => "HS384",
            KeyAlgorithm::HS512 => "HS512",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            KeyAlgorithm::ES256,
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::RS256,
            KeyAlgorithm::HS256,
            KeyAlgorithm::HS384,
            KeyAlgorithm::HS512,
        ]
        .into_iter()
        .find(|alg| alg.as_str() == name)
    }
}

/// Where a signing key is in its life: `Next` (published, not yet signing) → `Current` (signs;
/// exactly one) → `Previous` (published, verifies only) → `Retired` (neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Current,
    Previous,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            KeyState::Next,
            KeyState::Current,
            KeyState::Previous,
            KeyState::Retired,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }

    /// Whether tokens signed by a key in this state are accepted (and its public half shown).
    pub fn is_published(self) -> bool {
        self != KeyState::Retired
    }
}

/// The public half of a signing key as an RFC 7517 JWK. It has no member that could hold
/// private or symmetric material: a JWK set made of these can never leak a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub kid: String,
    pub alg: KeyAlgorithm,
    #[serde(rename = "use")]
    pub key_use: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A new key pair, fresh from the generator: the private half in PKCS#8 (PKCS#1 for RSA) DER.
pub struct KeyPair {
    pub private_der: Vec<u8>,
    pub public: PublicJwk,
}

/// A signing key as stored: the private half sealed (`SecretSealer`) for `key_purpose(kid)`.
#[derive(Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub state: KeyState,
    pub sealed_private: Vec<u8>,
    pub public: PublicJwk,
    pub created_at: DateTime<Utc>,
    /// When it became `current`.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped being `current`: the last token it signed was signed before then.
    pub deactivated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

// Hand-written so that the sealed private key never reaches a log line through `{:?}`.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("deactivated_at", &self.deactivated_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// What a signing key's private half is sealed for: its kid, so that rows cannot be swapped.
pub fn key_purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// A published key as the token codec uses it: the private half only for the one that signs.
pub struct LiveKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub public: PublicJwk,
    pub private_der: Option<Vec<u8>>,
}

/// What `JWT_SECRET_KEY` does for tokens (with its HMAC algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedSecretUse {
    /// HMAC mode: it signs, and verifies what it signed.
    Sign,
    /// After a move to key pairs: it verifies tokens issued (`iat`) before this Unix time, the
    /// moment key pairs took over, so that nobody is logged out by the move.
    AcceptIssuedBefore(i64),
    /// Nothing: tokens it signed are refused.
    Refuse,
}

/// Everything the token codec signs and verifies with, replaced whole on every reload.
pub struct Keyring {
    /// The published keys from the store; at most one carries its private half, and it signs
    /// unless the shared secret does.
    pub keys: Vec<LiveKey>,
    pub shared_secret: SharedSecretUse,
}
