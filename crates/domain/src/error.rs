use crate::validation::FieldError;

/// Why an authorization request is refused, and where the person goes with the news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// RFC 6749 §4.1.2.1's `error` (or OpenID Connect Core §3.1.2.6's).
    pub error: &'static str,
    pub description: String,
    /// The client's redirect URI and the request's `state`, once both the client and the URI
    /// are known good; until then the error is shown on a page and never redirected (§4.1.2.1:
    /// an open redirector otherwise).
    pub redirect: Option<(String, Option<String>)>,
}

/// Everything that can go wrong in the service, in the service's own words. The HTTP layer maps each
/// variant to one status and one stable `code`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DomainError {
    #[error("the request breaks {} rule(s)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("the username is already taken")]
    UsernameTaken,
    #[error("the email is already taken")]
    EmailTaken,
    #[error("the login or the password is wrong")]
    InvalidCredentials,
    #[error("the account is locked after too many failed logins")]
    AccountLocked { retry_after_seconds: u64 },
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token is of the wrong type for this use")]
    WrongTokenType,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the token has been revoked")]
    TokenRevoked,
    #[error("the refresh token was already used; its session is revoked")]
    RefreshTokenReused,
    #[error("not allowed")]
    Forbidden,
    /// An app's token used where its scopes do not reach (RFC 6750 §3.1).
    #[error("this token's scopes do not reach this endpoint")]
    InsufficientScope,
    #[error("no such user")]
    UserNotFound,
    #[error("no such session")]
    SessionNotFound,
    #[error("the last active admin cannot lose admin rights")]
    LastAdmin,
    #[error("the mfa_token is not valid: log in again")]
    InvalidMfaToken,
    #[error("multi-factor authentication is on already")]
    MfaAlreadyEnabled,
    #[error("multi-factor authentication is not on")]
    MfaNotEnabled,
    #[error(
        "the reset token is not valid: it is unknown, used, expired or replaced by a newer one"
    )]
    InvalidResetToken,
    #[error(
        "the verification token is not valid: it is unknown, used, expired, or for another address"
    )]
    InvalidVerificationToken,
    #[error(
        "the email address is not verified yet: use the link sent to it, or reset the password by mail"
    )]
    EmailNotVerified,
    #[error("no such signing key")]
    KeyNotFound,
    #[error("the signing key cannot be retired: {reason}")]
    KeyInUse { reason: String },
    #[error(
        "tokens are signed with JWT_SECRET_KEY (an HS algorithm): there are no key pairs to rotate"
    )]
    SharedSecretSigning,
    #[error(
        "the signing keys in the database cannot be decrypted with this JWT_SECRET_KEY: \
         start with the secret they were made with"
    )]
    KeysUnreadable,
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not use this grant (OAuth's `unauthorized_client`).
    #[error("this client may not use this grant")]
    UnauthorizedClient,
    #[error("no such client")]
    ClientNotFound,
    /// OAuth's `invalid_grant` for an authorization code.
    #[error(
        "the authorization code is not valid: unknown, used, expired, or issued for another \
         client, redirect URI or code verifier"
    )]
    InvalidGrant,
    /// An authorization request refused (RFC 6749 §4.1.2.1), in OAuth's words.
    #[error("the authorization request is refused: {}", .0.error)]
    AuthorizationRefused(Box<Refusal>),
    #[error("too many requests")]
    RateLimited {
        limit: u32,
        retry_after_seconds: u64,
    },
    #[error("the storage is unavailable")]
    Unavailable,
    /// Too much work is queued (password hashing under a flood): shed it rather than pile up.
    #[error("the server is busy")]
    Overloaded,
    /// Unexpected failure; the text is for logs only, never for a client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => DomainError::Unavailable,
            // A conflict that reaches here escaped the service's own checks: report it as such.
            StoreError::Conflict => DomainError::Internal("unexpected uniqueness conflict".into()),
            StoreError::Other(msg) => DomainError::Internal(msg),
        }
    }
}

/// How storage fails, as far as the domain cares.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write.
    #[error("uniqueness conflict")]
    Conflict,
    /// The store cannot be reached right now.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
