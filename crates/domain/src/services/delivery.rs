//! Delivers the outbox: claims what is due, hands it to the mailer, and retries with growing
//! pauses until the message goes out or its attempts are spent. Any number of servers may run it
//! at once: a claim is held by one of them.

use std::sync::Arc;

use chrono::Duration;

use super::mail::AccountMail;
use super::ports::{Audit, Ports};
use crate::error::DomainError;
use crate::model::{AuditEvent, AuditOutcome, ClientInfo, Mail, MailKind, OutboxMessage};
use crate::ports::{MailError, Mailer};

/// How hard the outbox tries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts before a message is given up.
    pub max_attempts: u32,
    /// The pause after the first failed attempt; each next one is twice as long.
    pub first_retry: Duration,
    /// The longest pause between two attempts.
    pub max_retry: Duration,
    /// How long a claim holds a message: longer than an attempt can take.
    pub lease: Duration,
    /// Messages claimed per round.
    pub batch: u32,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: u32,
    pub retried: u32,
    pub given_up: u32,
}

pub struct MailDelivery {
    ports: Ports,
    mailer: Arc<dyn Mailer>,
    /// Answers the queued requests for reset links.
    mail: Arc<AccountMail>,
    policy: DeliveryPolicy,
}

impl MailDelivery {
    pub fn new(
        ports: Ports,
        mailer: Arc<dyn Mailer>,
        mail: Arc<AccountMail>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self {
            ports,
            mailer,
            mail,
            policy,
        }
    }

    /// One round: every message due now, until none is left or a round's batch is done.
    pub async fn run_once(&self) -> Result<DeliveryReport, DomainError> {
        let now = self.ports.clock.now();
        let claimed = self
            .ports
            .stores
            .outbox
            .claim_due(now, now + self.policy.lease, self.policy.batch)
            .await?;
        let mut report = DeliveryReport::default();
        for message in claimed {
            if message.kind == MailKind::ResetRequest {
                self.answer(&message).await?;
                continue;
            }
            match self.attempt(&message).await {
                Ok(()) => {
                    self.ports.stores.outbox.remove(message.id).await?;
                    tracing::info!(message_id = %message.id, kind = message.kind.as_str(), "mail sent");
                    report.sent += 1;
                }
                Err(MailError::Transient(reason))
                    if message.attempts < self.policy.max_attempts =>
                {
                    let next = self.ports.clock.now() + self.pause_after(message.attempts);
                    self.ports.stores.outbox.retry_at(message.id, next).await?;
                    tracing::warn!(
                        message_id = %message.id,
                        attempts = message.attempts,
                        %reason,
                        "mail not sent; trying again later"
                    );
                    report.retried += 1;
                }
                Err(err) => {
                    self.give_up(&message, &err).await?;
                    report.given_up += 1;
                }
            }
        }
        Ok(report)
    }

    async fn attempt(&self, message: &OutboxMessage) -> Result<(), MailError> {
        let mail: Mail = self
            .mail
            .open(message)
            .map_err(|_| MailError::Permanent("the stored message cannot be opened".into()))?;
        self.mailer.send(&mail).await
    }

    /// A request for a reset link: answered (a link queued, or nothing for an unknown
    /// address), then removed; tried again after a pause if the store failed meanwhile.
    async fn answer(&self, message: &OutboxMessage) -> Result<(), DomainError> {
        match self.mail.answer_reset_request(message).await {
            Ok(()) => {
                self.ports.stores.outbox.remove(message.id).await?;
            }
            Err(err) if message.attempts < self.policy.max_attempts => {
                let next = self.ports.clock.now() + self.pause_after(message.attempts);
                self.ports.stores.outbox.retry_at(message.id, next).await?;
                tracing::warn!(message_id = %message.id, error = %err, "reset request not answered; trying again later");
            }
            Err(err) => {
                // Given up like a message: removed, logged, audited (`mail_failed`).
                self.give_up(message, &MailError::Transient(err.to_string()))
                    .await?;
            }
        }
        Ok(())
    }

    /// 1, 2, 4 … times the first pause, at most the longest.
    fn pause_after(&self, attempts: u32) -> Duration {
        let factor = 1_i32 << attempts.saturating_sub(1).min(20);
        (self.policy.first_retry * factor).min(self.policy.max_retry)
    }

    async fn give_up(&self, message: &OutboxMessage, err: &MailError) -> Result<(), DomainError> {
        if !self.ports.stores.outbox.remove(message.id).await? {
            return Ok(());
        }
        tracing::error!(
            message_id = %message.id,
            kind = message.kind.as_str(),
            attempts = message.attempts,
            error = %err,
            "mail given up"
        );
        self.ports
            .audit(Audit {
                event: AuditEvent::MailFailed,
                outcome: AuditOutcome::Failure,
                user_id: message.user_id,
                actor_id: None,
                client: &ClientInfo::default(),
                detail: Some(match err {
                    MailError::Transient(_) => "given up after the last attempt",
                    MailError::Permanent(_) => "refused for good",
                }),
            })
            .await
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
