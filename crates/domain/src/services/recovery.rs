//! Account recovery and address verification: what the links sent by mail let their holder do.
//! A token is random, stored only as a keyed fingerprint, works once, expires, and a newer one of
//! the same purpose voids the older.

use std::sync::Arc;

use uuid::Uuid;

use super::mail::AccountMail;
use super::ports::{Audit, Ports};
use super::users::ensure_admin;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, Email, Password, Principal, TokenPurpose, User, validated,
};

pub struct RecoveryService {
    ports: Ports,
    mail: Arc<AccountMail>,
}

impl RecoveryService {
    pub fn new(ports: Ports, mail: Arc<AccountMail>) -> Self {
        Self { ports, mail }
    }

    /// Queues a request for a reset link to `email`, answered by the outbox worker: a link
    /// when an active account has the address, nothing otherwise. The request does the same one
    /// write either way, so neither the answer nor its timing tells whether the address is known.
    pub async fn forgot_password(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), DomainError> {
        let email = validated(Email::from(email), "email")?.into_inner();
        self.mail.queue_reset_request(email.as_str(), client).await
    }

    /// An admin sends a user a reset link.
    pub async fn send_reset(&self, actor: &Principal, id: Uuid) -> Result<(), DomainError> {
        ensure_admin(actor)?;
        let user = self
            .ports
            .stores
            .users
            .find_by_id(id)
            .await?
            .ok_or(DomainError::UserNotFound)?;
        self.mail.queue_reset(&user).await?;
        self.ports
            .audit(Audit {
                event: AuditEvent::PasswordResetRequested,
                outcome: AuditOutcome::Success,
                user_id: Some(user.id),
                actor_id: Some(actor.user.id),
                client: &actor.client,
                detail: Some("reset link queued by an admin"),
            })
            .await
    }

    /// Sets a new password with a reset token: at once, the token is spent, the password set,
    /// every session revoked and the lockout cleared. The link came to the account's address,
    /// so using it also proves that address.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), DomainError> {
        let new_password = validated(Password::from(new_password), "new_password")?.into_inner();
        let fingerprint = self.ports.mfa.fingerprints.of(token);
        let now = self.ports.clock.now();
        // Refused before the hasher runs: a guessed token costs no hashing.
        if self
            .ports
            .stores
            .mail_tokens
            .find(&fingerprint, TokenPurpose::PasswordReset, now)
            .await?
            .is_none()
        {
            return Err(DomainError::InvalidResetToken);
        }
        let new_hash = self.ports.hasher.hash(new_password.as_str()).await?;
        let user_id = self
            .ports
            .stores
            .mail_tokens
            .redeem_reset(&fingerprint, &new_hash, now)
            .await?
            .ok_or(DomainError::InvalidResetToken)?;
        tracing::info!(%user_id, "password reset by mail; every session revoked");
        self.ports
            .audit(Audit {
                event: AuditEvent::PasswordReset,
                outcome: AuditOutcome::Success,
                user_id: Some(user_id),
                actor_id: None,
                client,
                detail: None,
            })
            .await
    }

    /// Marks the address the token was sent to as verified, while it is still the account's.
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<User, DomainError> {
        let fingerprint = self.ports.mfa.fingerprints.of(token);
        let now = self.ports.clock.now();
        let user_id = self
            .ports
            .stores
            .mail_tokens
            .redeem_verification(&fingerprint, now)
            .await?
            .ok_or(DomainError::InvalidVerificationToken)?;
        tracing::info!(%user_id, "email address verified");
        self.ports
            .audit(Audit {
                event: AuditEvent::EmailVerified,
                outcome: AuditOutcome::Success,
                user_id: Some(user_id),
                actor_id: None,
                client,
                detail: None,
            })
            .await?;
        self.ports
            .stores
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(DomainError::InvalidVerificationToken)
    }

    /// A new verification link for the caller's address (voiding the older one); nothing when
    /// it is verified already.
    pub async fn resend_verification(&self, principal: &Principal) -> Result<(), DomainError> {
        if principal.user.email_verified {
            return Ok(());
        }
        self.mail.queue_verification(&principal.user).await
    }
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
