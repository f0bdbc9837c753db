//! The authorization code flow (RFC 6749 §4.1, PKCE by RFC 7636, OpenID Connect Core §3.1):
//! the scopes a client may ask for and the codes it exchanges for tokens.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A scope this service grants; anything else asked for is refused, never ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// An OpenID Connect request: an ID token comes with the tokens.
    OpenId,
    /// `name`, `preferred_username`, `updated_at`.
    Profile,
    /// `email`, `email_verified`.
    Email,
    /// A refresh token comes with the tokens.
    OfflineAccess,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::OfflineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::OfflineAccess => "offline_access",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == value)
    }
}

/// A set of scopes, always written in one order, so that a grant of `email openid` and a
/// request for `openid email` are the same set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// RFC 6749 §3.3: space-delimited names. The first unknown name is the error.
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .split(' ')
            .filter(|name| !name.is_empty())
            .map(|name| Scope::parse(name).ok_or_else(|| name.to_owned()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scopes)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `self` is in `granted`.
    pub fn is_within(&self, granted: &Scopes) -> bool {
        self.0.is_subset(&granted.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().collect())
    }
}

/// What `/oauth/authorize` is asked, each parameter as it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
}

/// OpenID Connect Core §3.1.2.1's `prompt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show no page: answer at once, with an error if a page would be needed.
    pub none: bool,
    /// Sign in again, whatever browser session there is.
    pub login: bool,
    /// Ask for consent again, whatever was granted.
    pub consent: bool,
}

/// A request whose every parameter follows the rules: the client, its redirect URI, the
/// scopes, the PKCE challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest {
    pub client: crate::model::OAuthClient,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    /// Seconds: a sign-in older than this must be made again.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

/// What a person allowed a client (not first-party) to have.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub client_id: Uuid,
    pub scopes: Scopes,
    pub granted_at: DateTime<Utc>,
}

/// What an authorization needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizationStep {
    /// The person signs in (again) first.
    SignIn,
    /// The person is asked whether the client may have these scopes.
    Consent,
    /// Done: the code for the redirect.
    Code(String),
}

/// An authorization code as it is stored: its fingerprint, never the code, and everything it
/// is bound to (RFC 6749 §4.1.3, RFC 7636 §4.6, OpenID Connect Core §3.1.3.7).
#[derive(Clone, PartialEq)]
pub struct AuthorizationCode {
    pub fingerprint: String,
    pub client_id: Uuid,
    /// The exchange must name this exact string.
    pub redirect_uri: String,
    pub user_id: Uuid,
    /// The browser session the person signed in with: the code is worth nothing once it ends.
    pub browser_session: Uuid,
    pub scopes: Scopes,
    /// BASE64URL(SHA-256(code_verifier)); S256 is the only method.
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// When the person last proved who they are (the ID token's `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// How they proved it (RFC 8176 names).
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

// Hand-written so that the fingerprint never reaches a log line through `{:?}`.
impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("scopes", &self.scopes.to_string())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What spending a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// Its first use: the code is spent now, and the session its tokens will belong to is
    /// recorded with it.
    Redeemed(AuthorizationCode),
    /// It was spent before (RFC 6749 §4.1.2: the tokens it gave must be revoked): the session
    /// the first use recorded, and the code, now marked replayed.
    Replayed {
        session_id: Uuid,
        code: AuthorizationCode,
    },
    /// No such code, or it expired.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_in_any_order_and_write_in_one() {
        let asked = Scopes::parse("email openid  offline_access").unwrap();
        assert_eq!(asked.to_string(), "openid email offline_access");
        assert_eq!(asked, Scopes::parse("offline_access openid email").unwrap());
        assert!(Scopes::parse("openid email").unwrap().is_within(&asked));
        assert!(!Scopes::parse("profile").unwrap().is_within(&asked));
        assert_eq!(Scopes::parse("openid admin"), Err("admin".to_owned()));
        assert_eq!(Scopes::parse("OPENID"), Err("OPENID".to_owned()));
        assert!(Scopes::parse("").unwrap().is_empty());
    }
}
