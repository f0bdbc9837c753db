use chrono::Duration;

/// The tunable rules of authentication, read from configuration by the binary.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A rotated refresh token presented again within this window is a benign race, not a theft.
    pub refresh_reuse_grace: Duration,
    /// Tolerated clock skew when checking `exp` and `nbf`.
    pub leeway: Duration,
    pub max_failed_attempts: u32,
    pub lockout_duration: Duration,
    /// A login with the right password of an unverified address is refused.
    pub require_verified_email: bool,
    /// The password grant works for a request that names no client.
    pub password_grant: bool,
    /// An authorization code's lifetime.
    pub code_ttl: Duration,
    /// A browser session's lifetime, and how long it may go unused.
    pub sso_ttl: Duration,
    pub sso_idle: Duration,
}

impl AuthPolicy {
    pub fn lockout(&self) -> crate::services::Lockout {
        crate::services::Lockout {
            max_failed_attempts: self.max_failed_attempts,
            duration: self.lockout_duration,
        }
    }
}
