//! Per-client request budgets for the endpoints worth attacking: fixed one-minute windows; and
//! per-address budgets for the mail a request sends there: fixed one-hour windows.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::error::DomainError;
use crate::ports::{Clock, RateLimitStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedAction {
    Login,
    Register,
    Refresh,
    PasswordChange,
    UsersUpdate,
    Revoke,
    /// Anything that takes a second-factor code.
    Mfa,
    /// Token introspection (`POST /oauth/introspect`).
    Introspect,
    /// Asking for a reset link.
    ForgotPassword,
    /// Using a reset link.
    PasswordReset,
    /// Using a verification link.
    EmailVerify,
    /// Anything else that sends mail (a new verification link, an admin's reset link).
    MailSend,
}

impl LimitedAction {
    fn as_str(self) -> &'static str {
        match self {
            LimitedAction::Login => "login",
            LimitedAction::Register => "register",
            LimitedAction::Refresh => "refresh",
            LimitedAction::PasswordChange => "password",
            LimitedAction::UsersUpdate => "users_update",
            LimitedAction::Revoke => "revoke",
            LimitedAction::Mfa => "mfa",
            LimitedAction::Introspect => "introspect",
            LimitedAction::ForgotPassword => "forgot_password",
            LimitedAction::PasswordReset => "password_reset",
            LimitedAction::EmailVerify => "email_verify",
            LimitedAction::MailSend => "mail_send",
        }
    }
}

/// Requests allowed per client per minute, for each action.
#[derive(Debug, Clone)]
pub struct RateLimitPolicy {
    pub login_per_minute: u32,
    pub register_per_minute: u32,
    pub refresh_per_minute: u32,
    pub password_per_minute: u32,
    pub users_update_per_minute: u32,
    pub revoke_per_minute: u32,
    pub mfa_per_minute: u32,
    pub introspect_per_minute: u32,
    pub forgot_password_per_minute: u32,
    pub password_reset_per_minute: u32,
    pub email_verify_per_minute: u32,
    pub mail_send_per_minute: u32,
    /// Messages a mail-sending request may queue for one address per hour, whoever asks and
    /// whether or not an account has that address.
    pub mail_per_address_per_hour: u32,
}

impl RateLimitPolicy {
    fn limit(&self, action: LimitedAction) -> u32 {
        match action {
            LimitedAction::Login => self.login_per_minute,
            LimitedAction::Register => self.register_per_minute,
            LimitedAction::Refresh => self.refresh_per_minute,
            LimitedAction::PasswordChange => self.password_per_minute,
            LimitedAction::UsersUpdate => self.users_update_per_minute,
            LimitedAction::Revoke => self.revoke_per_minute,
            LimitedAction::Mfa => self.mfa_per_minute,
            LimitedAction::Introspect => self.introspect_per_minute,
            LimitedAction::ForgotPassword => self.forgot_password_per_minute,
            LimitedAction::PasswordReset => self.password_reset_per_minute,
            LimitedAction::EmailVerify => self.email_verify_per_minute,
            LimitedAction::MailSend => self.mail_send_per_minute,
        }
    }
}

/// Where a client stands in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends and the budget is whole again.
    pub reset_after_seconds: u64,
}

pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    clock: Arc<dyn Clock>,
    policy: RateLimitPolicy,
}

const WINDOW_SECONDS: i64 = 60;
const ADDRESS_WINDOW_SECONDS: i64 = 3600;

impl RateLimiter {
    pub fn new(
        store: Arc<dyn RateLimitStore>,
        clock: Arc<dyn Clock>,
        policy: RateLimitPolicy,
    ) -> Self {
        Self {
            store,
            clock,
            policy,
        }
    }

    /// Counts one request of `client` for `action`; over the budget it is refused with the
    /// seconds until the next window.
    pub async fn check(
        &self,
        action: LimitedAction,
        client: &str,
    ) -> Result<RateDecision, DomainError> {
        let key = format!("{}:{client}", action.as_str());
        let limit = self.policy.limit(action);
        self.count(&key, limit, Duration::seconds(WINDOW_SECONDS))
            .await
            .inspect_err(|err| {
                if matches!(err, DomainError::RateLimited { .. }) {
                    tracing::warn!(action = action.as_str(), client, "rate limit exceeded")
                }
            })
    }

    /// Counts one message for `address` (lower-cased by the caller); over the hourly budget it
    /// is refused. The same for every address, known or not.
    pub async fn check_address(
        &self,
        action: LimitedAction,
        address: &str,
    ) -> Result<RateDecision, DomainError> {
        let key = format!("{}:address:{address}", action.as_str());
        let limit = self.policy.mail_per_address_per_hour;
        self.count(&key, limit, Duration::seconds(ADDRESS_WINDOW_SECONDS))
            .await
            .inspect_err(|err| {
                if matches!(err, DomainError::RateLimited { .. }) {
                    tracing::warn!(action = action.as_str(), "per-address mail limit exceeded")
                }
            })
    }

    async fn count(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, DomainError> {
        let now = self.clock.now();
        let window_start: DateTime<Utc> = now
            .duration_trunc(window)
            .map_err(|err| DomainError::Internal(format!("cannot compute a rate window: {err}")))?;
        let reset_after = window_start + window - now;
        let reset_after_seconds = reset_after.num_microseconds().unwrap_or(0).max(0) as u64;
        let reset_after_seconds = reset_after_seconds.div_ceil(1_000_000).max(1);
        let count = self.store.hit(key, window_start).await?;
        if count > limit {
            return Err(DomainError::RateLimited {
                limit,
                retry_after_seconds: reset_after_seconds,
            });
        }
        Ok(RateDecision {
            limit,
            remaining: limit - count,
            reset_after_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use futures::executor::block_on;

    use super::*;
    use crate::ports::{MockClock, MockRateLimitStore};

    fn limiter(count: u32, now: DateTime<Utc>) -> RateLimiter {
        let mut store = MockRateLimitStore::new();
        let window_start = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        store
            .expect_hit()
            .withf(move |key, start| key == "login:192.0.2.1" && *start == window_start)
            .returning(move |_, _| Ok(count));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now);
        let policy = RateLimitPolicy {
            login_per_minute: 10,
            register_per_minute: 5,
            refresh_per_minute: 30,
            password_per_minute: 5,
            users_update_per_minute: 30,
            revoke_per_minute: 60,
            mfa_per_minute: 10,
            introspect_per_minute: 600,
            forgot_password_per_minute: 5,
            password_reset_per_minute: 10,
            email_verify_per_minute: 10,
            mail_send_per_minute: 5,
            mail_per_address_per_hour: 5,
        };
        RateLimiter::new(Arc::new(store), Arc::new(clock), policy)
    }

    fn at(seconds: u32, millis: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, seconds).unwrap()
            + Duration::milliseconds(millis.into())
    }

    #[test]
    fn requests_within_the_budget_pass_and_say_what_is_left() {
        let decision =
            block_on(limiter(3, at(20, 0)).check(LimitedAction::Login, "192.0.2.1")).unwrap();
        assert_eq!(
            decision,
            RateDecision {
                limit: 10,
                remaining: 7,
                reset_after_seconds: 40
            }
        );
        let last =
            block_on(limiter(10, at(59, 500)).check(LimitedAction::Login, "192.0.2.1")).unwrap();
        assert_eq!((last.remaining, last.reset_after_seconds), (0, 1));
    }

    #[test]
    fn the_request_over_the_budget_is_refused_until_the_window_ends() {
        let err = block_on(limiter(11, at(15, 250)).check(LimitedAction::Login, "192.0.2.1"))
            .unwrap_err();
        assert_eq!(
            err,
            DomainError::RateLimited {
                limit: 10,
                retry_after_seconds: 45
            }
        );
    }

    #[test]
    fn mail_to_one_address_is_counted_per_hour() {
        let mut store = MockRateLimitStore::new();
        let hour = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        store
            .expect_hit()
            .withf(move |key, start| {
                key == "forgot_password:address:alice@example.com" && *start == hour
            })
            .returning(|_, _| Ok(6));
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(hour + Duration::minutes(20));
        let policy = limiter(0, at(0, 0)).policy;
        let limiter = RateLimiter::new(Arc::new(store), Arc::new(clock), policy);
        let err =
            block_on(limiter.check_address(LimitedAction::ForgotPassword, "alice@example.com"))
                .unwrap_err();
        assert_eq!(
            err,
            DomainError::RateLimited {
                limit: 5,
                retry_after_seconds: 40 * 60
            }
        );
    }
}
