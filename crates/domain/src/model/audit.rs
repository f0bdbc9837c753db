use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The security events the service records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    Register,
    Login,
    Lockout,
    Unlock,
    Logout,
    RefreshReuse,
    PasswordChange,
    RoleChange,
    Deactivation,
    Deletion,
    MfaEnabled,
    MfaDisabled,
    MfaFailure,
    RecoveryCodeUsed,
    KeyRotated,
    KeyRetired,
    ClientCreated,
    ClientUpdated,
    ClientSecretReplaced,
    ClientDeleted,
    CodeReused,
    OAuthAuthorized,
    ConsentGranted,
    ConsentWithdrawn,
    SsoSignin,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    MailFailed,
    /// The account's own address was changed (or a try with a wrong password).
    EmailChange,
    /// Mail to one address went over its hourly cap: the rest of the hour is dropped.
    MailSuppressed,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 31] = [
        AuditEvent::Register,
        AuditEvent::Login,
        AuditEvent::Lockout,
        AuditEvent::Unlock,
        AuditEvent::Logout,
        AuditEvent::RefreshReuse,
        AuditEvent::PasswordChange,
        AuditEvent::RoleChange,
        AuditEvent::Deactivation,
        AuditEvent::Deletion,
        AuditEvent::MfaEnabled,
        AuditEvent::MfaDisabled,
        AuditEvent::MfaFailure,
        AuditEvent::RecoveryCodeUsed,
        AuditEvent::KeyRotated,
        AuditEvent::KeyRetired,
        AuditEvent::ClientCreated,
        AuditEvent::ClientUpdated,
        AuditEvent::ClientSecretReplaced,
        AuditEvent::ClientDeleted,
        AuditEvent::CodeReused,
        AuditEvent::OAuthAuthorized,
        AuditEvent::ConsentGranted,
        AuditEvent::ConsentWithdrawn,
        AuditEvent::SsoSignin,
        AuditEvent::PasswordResetRequested,
        AuditEvent::PasswordReset,
        AuditEvent::EmailVerified,
        AuditEvent::MailFailed,
        AuditEvent::EmailChange,
        AuditEvent::MailSuppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Register => "register",
            AuditEvent::Login => "login",
            AuditEvent::Lockout => "lockout",
            AuditEvent::Unlock => "unlock",
            AuditEvent::Logout => "logout",
            AuditEvent::RefreshReuse => "refresh_reuse",
            AuditEvent::PasswordChange => "password_change",
            AuditEvent::RoleChange => "role_change",
            AuditEvent::Deactivation => "deactivation",
            AuditEvent::Deletion => "deletion",
            AuditEvent::MfaEnabled => "mfa_enabled",
            AuditEvent::MfaDisabled => "mfa_disabled",
            AuditEvent::MfaFailure => "mfa_failure",
            AuditEvent::RecoveryCodeUsed => "recovery_code_used",
            AuditEvent::KeyRotated => "key_rotated",
            AuditEvent::KeyRetired => "key_retired",
            AuditEvent::ClientCreated => "client_created",
            AuditEvent::ClientUpdated => "client_updated",
            AuditEvent::ClientSecretReplaced => "client_secret_replaced",
            AuditEvent::ClientDeleted => "client_deleted",
            AuditEvent::CodeReused => "code_reused",
            AuditEvent::OAuthAuthorized => "oauth_authorized",
            AuditEvent::ConsentGranted => "consent_granted",
            AuditEvent::ConsentWithdrawn => "consent_withdrawn",
            AuditEvent::SsoSignin => "sso_signin",
            AuditEvent::PasswordResetRequested => "password_reset_requested",
            AuditEvent::PasswordReset => "password_reset",
            AuditEvent::EmailVerified => "email_verified",
            AuditEvent::MailFailed => "mail_failed",
            AuditEvent::EmailChange => "email_change",
            AuditEvent::MailSuppressed => "mail_suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<AuditEvent> {
        AuditEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<AuditOutcome> {
        match s {
            "success" => Some(AuditOutcome::Success),
            "failure" => Some(AuditOutcome::Failure),
            _ => None,
        }
    }
}

/// One entry of the audit log: who did what to whom, when, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub event: AuditEvent,
    pub outcome: AuditOutcome,
    /// The account the event is about, when one is known.
    pub user_id: Option<Uuid>,
    /// Who caused it, when that is someone else than the user (an admin).
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// A short, fixed description; never a password, token or submitted login.
    pub detail: Option<String>,
}
