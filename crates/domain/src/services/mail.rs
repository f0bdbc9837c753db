//! The messages the service sends, and how they are queued: a message that carries a token is
//! queued with its token in one write; the outbox delivers it later (`MailDelivery`).

use chrono::Duration;
use html_escape::encode_text;
use uuid::Uuid;

use super::ports::Ports;
use crate::error::DomainError;
use crate::model::{Mail, MailKind, MailToken, OutboxMessage, TokenPurpose, User, outbox_purpose};

/// What the messages say and how long their links work.
#[derive(Debug, Clone)]
pub struct MailPolicy {
    /// The reset page's URL with `{token}` where the token goes.
    pub reset_link: String,
    /// The verification page's URL with `{token}` where the token goes.
    pub verify_link: String,
    pub reset_ttl: Duration,
    pub verify_ttl: Duration,
}

/// Writes and queues the service's messages.
pub struct AccountMail {
    ports: Ports,
    policy: MailPolicy,
}

/// A new token sent by mail: 256 random bits (two v4 UUIDs' 244, at least), as 64 hex digits.
fn new_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl AccountMail {
    pub fn new(ports: Ports, policy: MailPolicy) -> Self {
        Self { ports, policy }
    }

    /// Queues a reset link for `user`, voiding any older one.
    pub async fn queue_reset(&self, user: &User) -> Result<(), DomainError> {
        let ttl = self.policy.reset_ttl;
        let (token, link) = self.link(&self.policy.reset_link);
        let minutes = ttl.num_minutes().max(1);
        let mail = Mail {
            to: user.email.clone(),
            subject: "Reset your password".into(),
            text: format!(
                "Hello {name},\n\n\
                 Someone asked to reset the password of your account {username}. If it was you, \
                 open this link within {minutes} minutes and choose a new password:\n\n{link}\n\n\
                 The link works once. If you did not ask, ignore this message: your password \
                 stays as it is.\n",
                name = display_name(user),
                username = user.username,
            ),
            html: html_page(
                "Reset your password",
                &format!(
                    "<p>Hello {name},</p>\
                     <p>Someone asked to reset the password of your account <b>{username}</b>. \
                     If it was you, open this link within {minutes} minutes and choose a new \
                     password:</p>\
                     <p><a href=\"{href}\">Choose a new password</a></p>\
                     <p>The link works once. If you did not ask, ignore this message: your \
                     password stays as it is.</p>",
                    name = encode_text(display_name(user)),
                    username = encode_text(&user.username),
                    href = html_escape::encode_double_quoted_attribute(&link),
                ),
            ),
        };
        self.queue_with_token(user, TokenPurpose::PasswordReset, &token, ttl, mail)
            .await
    }

    /// Queues a link that proves `user` reads mail at their current address.
    pub async fn queue_verification(&self, user: &User) -> Result<(), DomainError> {
        let ttl = self.policy.verify_ttl;
        let (token, link) = self.link(&self.policy.verify_link);
        let hours = ttl.num_hours().max(1);
        let mail = Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            text: format!(
                "Hello {name},\n\n\
                 Please confirm that {email} is the address of your account {username}: open \
                 this link within {hours} hours and press the button on the page.\n\n{link}\n\n\
                 If you did not make this account, ignore this message.\n",
                name = display_name(user),
                email = user.email,
                username = user.username,
            ),
            html: html_page(
                "Confirm your email address",
                &format!(
                    "<p>Hello {name},</p>\
                     <p>Please confirm that {email} is the address of your account \
                     <b>{username}</b>: open this link within {hours} hours and press the button \
                     on the page.</p>\
                     <p><a href=\"{href}\">Confirm my address</a></p>\
                     <p>If you did not make this account, ignore this message.</p>",
                    name = encode_text(display_name(user)),
                    email = encode_text(&user.email),
                    username = encode_text(&user.username),
                    href = html_escape::encode_double_quoted_attribute(&link),
                ),
            ),
        };
        self.queue_with_token(user, TokenPurpose::EmailVerification, &token, ttl, mail)
            .await
    }

    /// Tells the account's old address where its mail goes now; carries no token.
    pub async fn queue_address_changed(
        &self,
        old_email: &str,
        user: &User,
    ) -> Result<(), DomainError> {
        let mail = Mail {
            to: old_email.to_owned(),
            subject: "Your email address was changed".into(),
            text: format!(
                "Hello {name},\n\n\
                 The email address of your account {username} was changed from {old} to {new}. \
                 Mail for the account now goes to the new address.\n\n\
                 If you did not make this change, contact your administrator at once.\n",
                name = display_name(user),
                username = user.username,
                old = old_email,
                new = user.email,
            ),
            html: html_page(
                "Your email address was changed",
                &format!(
                    "<p>Hello {name},</p>\
                     <p>The email address of your account <b>{username}</b> was changed from \
                     {old} to {new}. Mail for the account now goes to the new address.</p>\
                     <p>If you did not make this change, contact your administrator at once.</p>",
                    name = encode_text(display_name(user)),
                    username = encode_text(&user.username),
                    old = encode_text(old_email),
                    new = encode_text(&user.email),
                ),
            ),
        };
        let message = self.message(MailKind::EmailChanged, user.id, &mail)?;
        self.ports.stores.outbox.enqueue(&message).await?;
        tracing::info!(user_id = %user.id, "address change notice queued");
        Ok(())
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
        let message = self.message(kind, user.id, &mail)?;
        self.ports
            .stores
            .mail_tokens
            .issue(&stored, &message)
            .await?;
        tracing::info!(user_id = %user.id, kind = kind.as_str(), "mail queued");
        Ok(())
    }

    /// The outbox row of `mail`, its body sealed: it may carry a token.
    fn message(
        &self,
        kind: MailKind,
        user_id: Uuid,
        mail: &Mail,
    ) -> Result<OutboxMessage, DomainError> {
        let id = Uuid::new_v4();
        let plain = serde_json::to_vec(mail)
            .map_err(|err| DomainError::Internal(format!("cannot encode a mail: {err}")))?;
        let now = self.ports.clock.now();
        Ok(OutboxMessage {
            id,
            kind,
            user_id: Some(user_id),
            sealed_mail: self.ports.mfa.sealer.seal(&plain, &outbox_purpose(id)),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        })
    }
}

fn display_name(user: &User) -> &str {
    user.name.as_deref().unwrap_or(&user.username)
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

    #[test]
    fn the_html_part_escapes_what_a_user_chose() {
        let page = html_page("t", &encode_text("<script>x</script>"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }
}
