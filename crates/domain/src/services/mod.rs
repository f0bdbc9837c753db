mod auth;
mod housekeeping;
mod ports;
mod rate_limit;
mod users;

#[cfg(test)]
mod test_support;

pub use auth::AuthService;
pub use housekeeping::{Housekeeping, HousekeepingReport};
pub use ports::Ports;
pub use rate_limit::{LimitedAction, RateDecision, RateLimitPolicy, RateLimiter};
pub use users::{MAX_PAGE, MAX_PER_PAGE, UserService};
