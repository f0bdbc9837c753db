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

/// The request field that carried the password: a wrong one is reported on it.
#[derive(Debug, Clone, Copy)]
pub(super) enum PasswordField {
    /// `current_password`: a password change, an address change.
    CurrentPassword,
    /// `password`: turning MFA on or off.
    Password,
}

impl PasswordField {
    /// The answer to a wrong (or missing) password in this field.
    pub(super) fn wrong(self) -> DomainError {
        let (field, message) = match self {
            PasswordField::CurrentPassword => ("current_password", "is not the current password"),
            PasswordField::Password => ("password", "the password is wrong"),
        };
        DomainError::Validation(vec![FieldError::new(field, "wrong_password", message)])
    }

    fn audit_detail(self) -> &'static str {
        match self {
            PasswordField::CurrentPassword => "wrong current password",
            PasswordField::Password => "wrong password",
        }
    }
}

/// Checks `password` (absent counts as wrong) against the caller's stored hash, counting the
/// attempt like a login. A wrong one is audited under `event` and answered on `field`; a right
/// one clears the failures.
pub(super) async fn prove_password(
    ports: &Ports,
    lockout: Lockout,
    principal: &Principal,
    password: Option<&str>,
    field: PasswordField,
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
            detail: Some(field.audit_detail()),
        })
        .await?;
    if last_attempt {
        audit_lockout(ports, Some(user.id), &principal.client).await?;
    }
    Err(field.wrong())
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

/// Whole seconds, rounded up, so that a client retrying after `Retry-After` is not early.
fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let micros = (until - now).num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
    micros.div_ceil(1_000_000)
}
