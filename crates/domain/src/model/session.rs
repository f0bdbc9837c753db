use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where a request came from: recorded on the sessions it opens and in the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The OAuth client that authenticated this request, if any: the tokens it gets are bound
    /// to it.
    pub oauth_client: Option<Uuid>,
}

/// What a session was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionKind {
    /// A login over the API: an access token and a refresh token.
    #[default]
    Api,
    /// A sign-in on the hosted pages (single sign-on): a cookie, never a token.
    Browser,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Api => "api",
            SessionKind::Browser => "browser",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [SessionKind::Api, SessionKind::Browser]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// A login. Both tokens of a login are bound to its session: revoking the session kills them.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub kind: SessionKind,
    pub user_id: Uuid,
    /// The `jti` of the one refresh token that may be used next.
    pub refresh_jti: Uuid,
    /// The `jti` it replaced, remembered to tell a benign double refresh from a replay.
    pub previous_refresh_jti: Option<Uuid>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether the login proved a second factor besides the password.
    pub mfa: bool,
    /// The OAuth client whose tokens the session holds, if one got them.
    pub client_id: Option<Uuid>,
}

impl Session {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// How its login authenticated, as the `amr` claim names it (RFC 8176).
    pub fn amr(&self) -> Vec<String> {
        let mut amr = vec!["pwd".to_owned()];
        if self.mfa {
            amr.push("otp".to_owned());
        }
        amr
    }
}
