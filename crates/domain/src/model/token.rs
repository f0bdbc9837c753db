use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ClientInfo, Role, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// An OpenID Connect ID token (Core §2): who signed in, when and how, for which client; with
/// the `email` and `profile` scopes, those claims too. Never accepted as an access token (it
/// has no `type`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: Uuid,
    /// The client's id.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<String>,
    pub azp: String,
    pub sid: Uuid,
    #[serde(flatten)]
    pub person: PersonClaims,
}

/// What the `email` and `profile` scopes say of a person (OpenID Connect Core §5.4), in the ID
/// token and at userinfo alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PersonClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

impl PersonClaims {
    /// The claims `scopes` reach of `user`.
    pub fn of(user: &User, scopes: &super::Scopes) -> Self {
        use super::Scope;
        let (email, profile) = (
            scopes.contains(Scope::Email),
            scopes.contains(Scope::Profile),
        );
        PersonClaims {
            email: email.then(|| user.email.clone()),
            email_verified: email.then_some(user.email_verified),
            name: profile.then(|| user.name.clone()).flatten(),
            preferred_username: profile.then(|| user.username.clone()),
            updated_at: profile.then(|| user.updated_at.timestamp()),
        }
    }
}

/// The claims of both token types. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
    /// The session both user tokens are bound to; service clients' tokens have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// How the login authenticated (RFC 8176): access tokens only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The client the token was issued to: a service client's own tokens
    /// (`client_credentials`, whose `sub` is the client and which have no `sid`), and a user's
    /// tokens an app got with the authorization code grant (with `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
    /// The scopes an app's user tokens were granted (the authorization code grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A user's tokens obtained by an authenticated OAuth client (OpenID Connect's "authorized
    /// party"): only that client may refresh them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<Uuid>,
}

/// What `/oauth/userinfo` says of the person behind an access token (OpenID Connect Core
/// §5.3): `sub`, and the claims of the scopes the token was granted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserInfo {
    pub sub: Uuid,
    #[serde(flatten)]
    pub person: PersonClaims,
}

/// The answer to register, login and refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: User,
}

/// What registering gets: a session, or, where addresses must be verified first, only the
/// account.
#[derive(Debug, Clone)]
pub enum Registration {
    Tokens(IssuedTokens),
    VerificationRequired(User),
}

/// What a login with the right password gets.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    Tokens(IssuedTokens),
    /// The account has MFA on: the login goes on with this token and a second factor.
    MfaRequired {
        mfa_token: String,
        expires_in: i64,
    },
}

/// Who is calling: the result of checking an access token against the store.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: Uuid,
    /// Where this request came from.
    pub client: ClientInfo,
}

/// What a token is worth right now (RFC 7662): `None` for anything not live.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspection {
    pub claims: Claims,
    /// The user's name, for user tokens.
    pub username: Option<String>,
}

/// A service client's access token.
#[derive(Debug, Clone)]
pub struct ClientToken {
    pub access_token: String,
    pub expires_in: i64,
}
