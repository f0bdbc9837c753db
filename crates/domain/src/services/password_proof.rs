//! Proving the account's password again, for changes that take an account over: a new password,
//! a new address. A wrong password counts towards the account's lockout like a failed login.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::ports::{Audit, Ports};
use crate::error::DomainError;
use crate::model::{AuditEvent, AuditOutcome, ClientInfo, Principal};
use crate::ports::{Attempt, AttemptLimit, ThrottleKey};
use crate::validation::FieldError;

/// How many wrong passwords an account takes before it is locked, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub max_failed_attempts: u32,
    pub duration: Duration,
}

/// Counts an attempt under `key` before it is judged. Returns whether it was the last one
/// before the lock; fails with `AccountLocked` if the key is locked.
pub(super) async fn count_attempt(
    ports: &Ports,
    lockout: Lockout,
    key: &ThrottleKey,
) -> Result<bool, DomainError> {
    let now = ports.clock.now();
    let limit = AttemptLimit {
        max_attempts: lockout.max_failed_attempts,
        lock_until: now + lockout.duration,
    };
    match ports.stores.throttle.count_attempt(key, now, limit).await? {
        Attempt::Counted { last } => Ok(last),
        Attempt::Locked { until } => Err(DomainError::AccountLocked {
            retry_after_seconds: seconds_until(now, until),
        }),
    }
}

/// Checks `password` (absent counts as wrong) against the caller's stored hash. A wrong one is
/// audited under `event` and answered as `PUT /api/auth/password` answers it; a right one
/// clears the failures.
pub(super) async fn prove_current_password(
    ports: &Ports,
    lockout: Lockout,
    principal: &Principal,
    password: Option<&str>,
    event: AuditEvent,
) -> Result<(), DomainError> {
    let user = &principal.user;
    let key = ThrottleKey::Account(user.id);
    let last_attempt = count_attempt(ports, lockout, &key).await?;
    let matches = match password {
        Some(password) => ports.hasher.verify(password, &user.password_hash).await?,
        None => false,
    };
    if matches {
        ports.stores.throttle.clear(&key).await?;
        return Ok(());
    }
    ports
        .audit(Audit {
            event,
            outcome: AuditOutcome::Failure,
            user_id: Some(user.id),
            actor_id: None,
            client: &principal.client,
            detail: Some("wrong current password"),
        })
        .await?;
    if last_attempt {
        audit_lockout(ports, Some(user.id), &principal.client).await?;
    }
    Err(wrong_current_password())
}

pub(super) async fn audit_lockout(
    ports: &Ports,
    user_id: Option<Uuid>,
    client: &ClientInfo,
) -> Result<(), DomainError> {
    tracing::warn!("login locked after repeated failures");
    ports
        .audit(Audit {
            event: AuditEvent::Lockout,
            outcome: AuditOutcome::Success,
            user_id,
            actor_id: None,
            client,
            detail: Some(if user_id.is_some() {
                "account locked"
            } else {
                "unknown login locked"
            }),
        })
        .await
}

pub(super) fn wrong_current_password() -> DomainError {
    DomainError::Validation(vec![FieldError::new(
        "current_password",
        "wrong_password",
        "is not the current password",
    )])
}

/// Whole seconds, rounded up, so that a client retrying after `Retry-After` is not early.
fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let micros = (until - now).num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
    micros.div_ceil(1_000_000)
}
