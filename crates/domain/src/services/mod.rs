mod auth;
mod authorization;
mod browser;
mod clients;
mod consents;
mod delivery;
mod housekeeping;
mod keys;
mod mail;
mod mfa;
mod oauth;
mod password_proof;
mod ports;
mod rate_limit;
mod recovery;
mod users;

#[cfg(test)]
mod test_support;

pub use auth::AuthService;
pub use authorization::{CodeExchange, CodeTokens, Grant};
pub use browser::{BrowserSession, BrowserSignIn};
pub use consents::GrantedConsent;
pub use delivery::{DeliveryPolicy, DeliveryReport, MailDelivery};
pub use housekeeping::{Housekeeping, HousekeepingReport};
pub use keys::{KeyPolicy, KeyService};
pub use mail::{AccountMail, MailPolicy};
pub use mfa::{RECOVERY_CODES, SecondFactor};
pub use password_proof::Lockout;
pub use ports::{MfaPorts, Ports};
pub use rate_limit::{LimitedAction, RateDecision, RateLimitPolicy, RateLimiter};
pub use recovery::RecoveryService;
pub use users::{MAX_PAGE, MAX_PER_PAGE, UserService};
