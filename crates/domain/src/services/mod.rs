mod auth;
mod housekeeping;
mod keys;
mod mfa;
mod oauth;
mod ports;
mod rate_limit;
mod users;

#[cfg(test)]
mod test_support;

pub use auth::AuthService;
pub use housekeeping::{Housekeeping, HousekeepingReport};
pub use keys::{KeyPolicy, KeyService};
pub use mfa::{RECOVERY_CODES, SecondFactor};
pub use ports::{MfaPorts, Ports};
pub use rate_limit::{LimitedAction, RateDecision, RateLimitPolicy, RateLimiter};
pub use users::{MAX_PAGE, MAX_PER_PAGE, UserService};
