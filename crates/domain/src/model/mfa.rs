use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A user's TOTP factor as stored: pending from enrolment until a first code confirms it.
#[derive(Clone, PartialEq)]
pub struct TotpFactor {
    pub user_id: Uuid,
    /// The RFC 6238 secret, sealed (`SecretSealer`) for `totp_purpose(user_id)`.
    pub sealed_secret: Vec<u8>,
    /// When a first code confirmed it; `None` while pending.
    pub enabled_at: Option<DateTime<Utc>>,
    /// The last time step (RFC 6238 counter) a code was accepted for: each step counts once.
    pub last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl TotpFactor {
    pub fn is_enabled(&self) -> bool {
        self.enabled_at.is_some()
    }
}

// Hand-written so that the sealed secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("enabled_at", &self.enabled_at)
            .field("last_step", &self.last_step)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// What a TOTP secret is sealed for: its user, so that rows cannot be swapped between users.
pub fn totp_purpose(user_id: Uuid) -> String {
    format!("totp:{user_id}")
}

/// The second step of a login whose password was right, waiting for a code. The client holds
/// the token; the store holds only its fingerprint.
#[derive(Clone, PartialEq)]
pub struct MfaChallenge {
    pub token_fingerprint: String,
    pub user_id: Uuid,
    /// A fingerprint of the password hash the login verified: the login completes only while
    /// that is still the user's hash (a password change in between voids the challenge).
    pub password_fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What an authenticator app needs to add a factor: shown once, at enrolment.
#[derive(Clone, PartialEq)]
pub struct TotpEnrolment {
    /// The secret in base32 (RFC 4648, no padding), for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    pub qr_svg: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment").finish_non_exhaustive()
    }
}
