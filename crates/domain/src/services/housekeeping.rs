//! Removes what no rule will read again. Every step is a plain delete of rows past a cut-off, so
//! several replicas may run it at once.

use std::sync::Arc;

use chrono::Duration;

use crate::error::DomainError;
use crate::ports::{Clock, Stores};

/// Expired sessions are kept this long, so that a just-expired token still reads as expired
/// rather than unknown in the logs.
const SESSION_RETENTION_HOURS: i64 = 24;
/// Failure counts untouched this long (and not locking) are forgotten.
const THROTTLE_RETENTION_HOURS: i64 = 24;
/// Rate-limit windows older than this are over: the per-address mail budgets read an hour
/// back (and a little more) from the window they are in.
const RATE_WINDOW_RETENTION_SECONDS: i64 = 2 * 3600;
/// Spent authorization codes are kept this long past their expiry, so that a replay still
/// finds what to revoke (RFC 6749 §4.1.2) after the code's minute is over.
const CODE_RETENTION_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HousekeepingReport {
    pub sessions: u64,
    pub throttles: u64,
    pub rate_windows: u64,
    pub audit_records: u64,
    pub mfa_challenges: u64,
    pub mail_tokens: u64,
    pub authorization_codes: u64,
}

pub struct Housekeeping {
    stores: Stores,
    /// Audit records older than this are deleted.
    audit_retention: Duration,
    clock: Arc<dyn Clock>,
}

impl Housekeeping {
    pub fn new(stores: Stores, audit_retention: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            stores,
            audit_retention,
            clock,
        }
    }

    pub async fn run_once(&self) -> Result<HousekeepingReport, DomainError> {
        let now = self.clock.now();
        let report = HousekeepingReport {
            sessions: self
                .stores
                .sessions
                .delete_expired(now - Duration::hours(SESSION_RETENTION_HOURS))
                .await?,
            throttles: self
                .stores
                .throttle
                .delete_stale(now - Duration::hours(THROTTLE_RETENTION_HOURS), now)
                .await?,
            rate_windows: self
                .stores
                .rate_limits
                .delete_windows_before(now - Duration::seconds(RATE_WINDOW_RETENTION_SECONDS))
                .await?,
            audit_records: self
                .stores
                .audit
                .delete_before(now - self.audit_retention)
                .await?,
            mfa_challenges: self.stores.mfa.delete_expired_challenges(now).await?,
            mail_tokens: self.stores.mail_tokens.delete_expired(now).await?,
            authorization_codes: self
                .stores
                .authorization_codes
                .delete_expired(now - Duration::hours(CODE_RETENTION_HOURS))
                .await?,
        };
        tracing::info!(
            sessions = report.sessions,
            throttles = report.throttles,
            rate_windows = report.rate_windows,
            audit_records = report.audit_records,
            mfa_challenges = report.mfa_challenges,
            mail_tokens = report.mail_tokens,
            authorization_codes = report.authorization_codes,
            "housekeeping done"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use mockall::predicate::eq;

    use super::*;
    use crate::ports::{
        MockAuditLog, MockAuthorizationCodeRepository, MockClock, MockLoginThrottleRepository,
        MockMailTokenRepository, MockMfaRepository, MockRateLimitStore, MockSessionRepository,
    };
    use crate::services::test_support::{self, now};

    #[test]
    fn each_kind_of_row_is_cut_off_at_its_own_age() {
        let mut sessions = MockSessionRepository::new();
        sessions
            .expect_delete_expired()
            .with(eq(now() - Duration::hours(24)))
            .times(1)
            .returning(|_| Ok(3));
        let mut throttle = MockLoginThrottleRepository::new();
        throttle
            .expect_delete_stale()
            .with(eq(now() - Duration::hours(24)), eq(now()))
            .times(1)
            .returning(|_, _| Ok(2));
        let mut rate_limits = MockRateLimitStore::new();
        rate_limits
            .expect_delete_windows_before()
            .with(eq(now() - Duration::seconds(7200)))
            .times(1)
            .returning(|_| Ok(7));
        let mut audit = MockAuditLog::new();
        audit
            .expect_delete_before()
            .with(eq(now() - Duration::days(365)))
            .times(1)
            .returning(|_| Ok(4));
        let mut mfa = MockMfaRepository::new();
        mfa.expect_delete_expired_challenges()
            .with(eq(now()))
            .times(1)
            .returning(|_| Ok(5));
        let mut mail_tokens = MockMailTokenRepository::new();
        mail_tokens
            .expect_delete_expired()
            .with(eq(now()))
            .times(1)
            .returning(|_| Ok(6));
        let mut codes = MockAuthorizationCodeRepository::new();
        codes
            .expect_delete_expired()
            .with(eq(now() - Duration::hours(24)))
            .times(1)
            .returning(|_| Ok(8));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let stores = Stores {
            authorization_codes: Arc::new(codes),
            mfa: Arc::new(mfa),
            sessions: Arc::new(sessions),
            throttle: Arc::new(throttle),
            rate_limits: Arc::new(rate_limits),
            audit: Arc::new(audit),
            mail_tokens: Arc::new(mail_tokens),
            ..test_support::Mocks::new().into_ports().stores
        };
        let housekeeping = Housekeeping::new(stores, Duration::days(365), Arc::new(clock));
        assert_eq!(
            block_on(housekeeping.run_once()).unwrap(),
            HousekeepingReport {
                sessions: 3,
                throttles: 2,
                rate_windows: 7,
                audit_records: 4,
                mfa_challenges: 5,
                mail_tokens: 6,
                authorization_codes: 8,
            }
        );
    }
}
