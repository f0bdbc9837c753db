//! The messages the service sends, and how they are queued: a message that carries a token is
//! queued with its token in one write; the outbox delivers it later (`MailDelivery`).

use std::sync::Arc;

use chrono::{Duration, DurationRound};
use html_escape::encode_text;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ports::{Audit, Ports};
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, Mail, MailKind, MailToken, OutboxMessage, TokenPurpose,
    User, outbox_purpose,
};
use crate::ports::MailMetrics;

/// What the messages say, how long their links work, and how much mail one address gets.
#[derive(Debug, Clone)]
pub struct MailPolicy {
    /// The reset page's URL with `{token}` where the token goes.
    pub reset_link: String,
    /// The verification page's URL with `{token}` where the token goes.
    pub verify_link: String,
    pub reset_ttl: Duration,
    pub verify_ttl: Duration,
    /// Messages of any kind one recipient address gets per hour; the rest are dropped.
    pub per_recipient_per_hour: u32,
}

/// Writes and queues the service's messages. A message says only the service's own words and
/// the account's username: nothing else a user typed, so that nobody can make the service mail
/// their text to someone else's inbox.
pub struct AccountMail {
    ports: Ports,
    policy: MailPolicy,
    metrics: Option<Arc<dyn MailMetrics>>,
}

/// A new token sent by mail: 256 random bits (two v4 UUIDs' 244, at least), as 64 hex digits.
fn new_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The per-recipient cap counts in buckets this long; the current one and the six before it
/// hold every message of the last hour, whatever the minute.
const RECIPIENT_BUCKET_MINUTES: i64 = 10;
const RECIPIENT_EARLIER_BUCKETS: i32 = 6;

impl AccountMail {
    pub fn new(ports: Ports, policy: MailPolicy) -> Self {
        Self {
            ports,
            policy,
            metrics: None,
        }
    }

    /// Messages dropped by the per-recipient cap are counted here.
    pub fn with_metrics(mut self, metrics: Arc<dyn MailMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Queues a reset link for `user`, voiding any older one.
    pub async fn queue_reset(&self, user: &User) -> Result<(), DomainError> {
        if !self
            .within_cap(&user.email, MailKind::PasswordReset, user.id)
            .await?
        {
            return Ok(());
        }
        let ttl = self.policy.reset_ttl;
        let (token, link) = self.link(&self.policy.reset_link);
        let minutes = ttl.num_minutes().max(1);
        let username = &user.username;
        let mail = Mail {
            to: user.email.clone(),
            subject: "Reset your password".into(),
            text: format!(
                "Hello {username},\n\n\
                 Someone asked to reset the password of your account {username}. If it was you, \
                 open this link within {minutes} minutes and choose a new password:\n\n{link}\n\n\
                 The link works once. If you did not ask, ignore this message: your password \
                 stays as it is.\n",
            ),
            html: html_page(
                "Reset your password",
                &format!(
                    "<p>Hello {username},</p>\
                     <p>Someone asked to reset the password of your account <b>{username}</b>. \
                     If it was you, open this link within {minutes} minutes and choose a new \
                     password:</p>\
                     <p><a href=\"{href}\">Choose a new password</a></p>\
                     <p>The link works once. If you did not ask, ignore this message: your \
                     password stays as it is.</p>",
                    username = encode_text(username),
                    href = html_escape::encode_double_quoted_attribute(&link),
                ),
            ),
        };
        self.queue_with_token(user, TokenPurpose::PasswordReset, &token, ttl, mail)
            .await
    }

    /// Queues a link that proves `user` reads mail at their current address.
    pub async fn queue_verification(&self, user: &User) -> Result<(), DomainError> {
        if !self
            .within_cap(&user.email, MailKind::EmailVerification, user.id)
            .await?
        {
            return Ok(());
        }
        let ttl = self.policy.verify_ttl;
        let (token, link) = self.link(&self.policy.verify_link);
        let hours = ttl.num_hours().max(1);
        let username = &user.username;
        let mail = Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            text: format!(
                "Hello {username},\n\n\
                 Please confirm that this is the address of your account {username}: open \
                 this link within {hours} hours and press the button on the page.\n\n{link}\n\n\
                 If you did not make this account, ignore this message.\n",
            ),
            html: html_page(
                "Confirm your email address",
                &format!(
                    "<p>Hello {username},</p>\
                     <p>Please confirm that this is the address of your account \
                     <b>{username}</b>: open this link within {hours} hours and press the button \
                     on the page.</p>\
                     <p><a href=\"{href}\">Confirm my address</a></p>\
                     <p>If you did not make this account, ignore this message.</p>",
                    username = encode_text(username),
                    href = html_escape::encode_double_quoted_attribute(&link),
                ),
            ),
        };
        self.queue_with_token(user, TokenPurpose::EmailVerification, &token, ttl, mail)
            .await
    }

    /// Tells the account's old address that its mail goes elsewhere now; carries no token and
    /// not the new address, which whoever changed it chose.
    pub async fn queue_address_changed(
        &self,
        old_email: &str,
        user: &User,
    ) -> Result<(), DomainError> {
        if !self
            .within_cap(old_email, MailKind::EmailChanged, user.id)
            .await?
        {
            return Ok(());
        }
        let username = &user.username;
        let mail = Mail {
            to: old_email.to_owned(),
            subject: "Your email address was changed".into(),
            text: format!(
                "Hello {username},\n\n\
                 The email address of your account {username} was changed: mail for the \
                 account no longer comes to this address.\n\n\
                 If you did not make this change, contact your administrator at once.\n",
            ),
            html: html_page(
                "Your email address was changed",
                &format!(
                    "<p>Hello {username},</p>\
                     <p>The email address of your account <b>{username}</b> was changed: mail \
                     for the account no longer comes to this address.</p>\
                     <p>If you did not make this change, contact your administrator at once.</p>",
                    username = encode_text(username),
                ),
            ),
        };
        let message = self.message(MailKind::EmailChanged, Some(user.id), &mail)?;
        self.ports.stores.outbox.enqueue(&message).await?;
        tracing::info!(user_id = %user.id, "address change notice queued");
        Ok(())
    }

    /// Queues a request for a reset link to `email`, answered later by the outbox worker
    /// (`answer_reset_request`): the request itself does the same one write whether or not an
    /// account has the address, so neither its answer nor its timing tells.
    pub async fn queue_reset_request(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), DomainError> {
        let request = ResetRequest {
            email: email.to_owned(),
            ip: client.ip.clone(),
            request_id: client.request_id.clone(),
        };
        let plain = serde_json::to_vec(&request)
            .map_err(|err| DomainError::Internal(format!("cannot encode a request: {err}")))?;
        let message = self.sealed(MailKind::ResetRequest, None, &plain);
        Ok(self.ports.stores.outbox.enqueue(&message).await?)
    }

    /// Answers a queued reset request: a link for an active account with that address, nothing
    /// otherwise; audited either way, with the request's origin.
    pub(super) async fn answer_reset_request(
        &self,
        message: &OutboxMessage,
    ) -> Result<(), DomainError> {
        let request: ResetRequest = self.open(message)?;
        let user = self
            .ports
            .stores
            .users
            .find_by_email(&request.email)
            .await?
            .filter(|user| user.is_active);
        let (outcome, detail) = match &user {
            Some(user) => {
                self.queue_reset(user).await?;
                (AuditOutcome::Success, "reset link queued")
            }
            None => (AuditOutcome::Failure, "no active account has this address"),
        };
        let client = ClientInfo {
            ip: request.ip,
            request_id: request.request_id,
            ..ClientInfo::default()
        };
        self.ports
            .audit(Audit {
                event: AuditEvent::PasswordResetRequested,
                outcome,
                user_id: user.as_ref().map(|u| u.id),
                actor_id: None,
                client: &client,
                detail: Some(detail),
            })
            .await
    }

    /// Counts one message to `address`, and lets it go while the messages counted for that
    /// address over the last hour (its bucket and the six before: seventy minutes at most, so
    /// never fewer than any sixty) are within the cap. Past it the message is dropped: counted
    /// each time, audited once (the first one over; a drop also counts, so a flood keeps the
    /// address closed until it has been quiet for an hour). The count in this bucket is one
    /// atomic hit: of concurrent messages, exactly the cap's remainder goes.
    async fn within_cap(
        &self,
        address: &str,
        kind: MailKind,
        user_id: Uuid,
    ) -> Result<bool, DomainError> {
        let now = self.ports.clock.now();
        let bucket = Duration::minutes(RECIPIENT_BUCKET_MINUTES);
        let current = now
            .duration_trunc(bucket)
            .map_err(|err| DomainError::Internal(format!("cannot compute a mail window: {err}")))?;
        let address = address.to_lowercase();
        let key = |start: chrono::DateTime<chrono::Utc>| {
            format!("mail_recipient:{address}:{}", start.timestamp())
        };
        let limits = &self.ports.stores.rate_limits;
        let mut count = limits.hit(&key(current), current).await?;
        for n in 1..=RECIPIENT_EARLIER_BUCKETS {
            let start = current - bucket * n;
            count += limits.count(&key(start), start).await?;
        }
        let cap = self.policy.per_recipient_per_hour;
        if count <= cap {
            return Ok(true);
        }
        tracing::warn!(%user_id, kind = kind.as_str(), "mail to one address over its hourly cap; dropped");
        if let Some(metrics) = &self.metrics {
            metrics.suppressed(kind);
        }
        if count == cap + 1 {
            self.ports
                .audit(Audit {
                    event: AuditEvent::MailSuppressed,
                    outcome: AuditOutcome::Failure,
                    user_id: Some(user_id),
                    actor_id: None,
                    client: &ClientInfo::default(),
                    detail: Some(
                        "hourly cap of one recipient reached; more mail this hour is dropped",
                    ),
                })
                .await?;
        }
        Ok(false)
    }

    /// A fresh token and the link that carries it.
    fn link(&self, template: &str) -> (String, String) {
        let token = new_token();
        let link = template.replace("{token}", &token);
        (token, link)
    }

    async fn queue_with_token(
        &self,
        user: &User,
        purpose: TokenPurpose,
        token: &str,
        ttl: Duration,
        mail: Mail,
    ) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        let stored = MailToken {
            fingerprint: self.ports.mfa.fingerprints.of(token),
            user_id: user.id,
            purpose,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        let kind = match purpose {
            TokenPurpose::PasswordReset => MailKind::PasswordReset,
            TokenPurpose::EmailVerification => MailKind::EmailVerification,
        };
        let message = self.message(kind, Some(user.id), &mail)?;
        if self
            .ports
            .stores
            .mail_tokens
            .issue(&stored, &message)
            .await?
        {
            tracing::info!(user_id = %user.id, kind = kind.as_str(), "mail queued");
        } else {
            tracing::info!(user_id = %user.id, kind = kind.as_str(), "no mail: the account is not active");
        }
        Ok(())
    }

    /// The outbox row of `mail`, its body sealed: it may carry a token.
    fn message(
        &self,
        kind: MailKind,
        user_id: Option<Uuid>,
        mail: &Mail,
    ) -> Result<OutboxMessage, DomainError> {
        let plain = serde_json::to_vec(mail)
            .map_err(|err| DomainError::Internal(format!("cannot encode a mail: {err}")))?;
        Ok(self.sealed(kind, user_id, &plain))
    }

    fn sealed(&self, kind: MailKind, user_id: Option<Uuid>, plain: &[u8]) -> OutboxMessage {
        let id = Uuid::new_v4();
        let now = self.ports.clock.now();
        OutboxMessage {
            id,
            kind,
            user_id,
            sealed_mail: self.ports.mfa.sealer.seal(plain, &outbox_purpose(id)),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }

    /// What an outbox row holds, opened.
    pub(super) fn open<T: serde::de::DeserializeOwned>(
        &self,
        message: &OutboxMessage,
    ) -> Result<T, DomainError> {
        self.ports
            .mfa
            .sealer
            .open(&message.sealed_mail, &outbox_purpose(message.id))
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| DomainError::Internal("a queued message cannot be opened".into()))
    }
}

/// "Send a reset link to this address", as queued: the address and where the request came from.
#[derive(Serialize, Deserialize)]
struct ResetRequest {
    email: String,
    ip: Option<String>,
    request_id: Option<String>,
}

/// A plain, self-contained HTML body: no images, no scripts, no external styles.
fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body style=\"font-family: sans-serif; line-height: 1.5; max-width: 36em\">\
         <h1 style=\"font-size: 1.3em\">{title}</h1>{body}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
