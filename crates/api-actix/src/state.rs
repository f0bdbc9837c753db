use std::sync::Arc;

use domain::{AuthService, KeyService, RateLimiter, RecoveryService, StoreHealth, UserService};

use crate::client_ip::TrustedProxies;

/// What every handler shares: the domain's services, built once at start.
pub struct AppState {
    pub auth: AuthService,
    pub users: UserService,
    pub recovery: RecoveryService,
    pub keys: Arc<KeyService>,
    /// The service's base URL, for the discovery documents.
    pub public_url: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// Where the recovery pages send people once done (`APP__MAIL__SIGN_IN_LINK`).
    pub sign_in_link: Option<String>,
    /// `None` when rate limiting is disabled.
    pub rate_limiter: Option<RateLimiter>,
    /// For readiness: does the store answer?
    pub store_health: Arc<dyn StoreHealth>,
    pub trusted_proxies: TrustedProxies,
}
