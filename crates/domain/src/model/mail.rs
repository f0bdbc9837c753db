use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Carries a password reset link.
    PasswordReset,
    /// Carries an address verification link.
    EmailVerification,
    /// Tells the old address that the account's address changed; carries no token.
    EmailChanged,
    /// Not a message: a request for a reset link to an address, answered by the outbox worker.
    ResetRequest,
}

impl MailKind {
    pub const ALL: [MailKind; 4] = [
        MailKind::PasswordReset,
        MailKind::EmailVerification,
        MailKind::EmailChanged,
        MailKind::ResetRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::EmailVerification => "email_verification",
            MailKind::EmailChanged => "email_changed",
            MailKind::ResetRequest => "reset_request",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// A message ready to go: one recipient, a plain-text and an HTML part.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

// Hand-written: a body may hold a token, which must never reach a log line.
impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A message waiting in the outbox. The mail itself is sealed: it may carry a token.
#[derive(Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub kind: MailKind,
    /// The account it is about, for the audit record of a message given up.
    pub user_id: Option<Uuid>,
    /// The `Mail` (or, for a `ResetRequest`, the request), sealed for `outbox_purpose(id)`.
    pub sealed_mail: Vec<u8>,
    /// Delivery attempts made so far (a claim counts one).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What a queued mail is sealed for: one message's body opens for that message only.
pub fn outbox_purpose(id: Uuid) -> String {
    format!("outbox:{id}")
}

/// What a token sent by mail lets its holder do, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
        }
    }

    pub fn parse(s: &str) -> Option<TokenPurpose> {
        [TokenPurpose::PasswordReset, TokenPurpose::EmailVerification]
            .into_iter()
            .find(|purpose| purpose.as_str() == s)
    }
}

/// A single-use token sent by mail, as stored: a keyed fingerprint, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailToken {
    pub fingerprint: String,
    pub user_id: Uuid,
    pub purpose: TokenPurpose,
    /// The address it was sent to: a verification proves this address, and only while it is
    /// still the account's.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
