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
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            issuer: "auth-api".into(),
            audience: "auth-api".into(),
            access_ttl: Duration::seconds(900),
            refresh_ttl: Duration::seconds(2_592_000),
            refresh_reuse_grace: Duration::seconds(10),
            leeway: Duration::zero(),
            max_failed_attempts: 5,
            lockout_duration: Duration::seconds(900),
        }
    }
}
