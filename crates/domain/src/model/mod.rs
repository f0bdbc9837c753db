mod audit;
mod authorization;
mod client;
mod input;
mod keys;
mod mail;
mod mfa;
mod session;
mod token;
mod user;

pub use audit::{AuditEvent, AuditOutcome, AuditRecord};
pub use authorization::{
    AuthorizationCode, AuthorizationRequest, AuthorizationStep, CheckedRequest, CodeRedemption,
    Consent, Prompt, Scope, Scopes,
};
pub use client::{
    ClientChanges, ClientKind, ClientRegistration, CreatedClient, MAX_REDIRECT_URIS, OAuthClient,
    redirect_uri_problem,
};
pub use input::{DisplayName, Email, Password, Username};
pub use keys::{
    KeyAlgorithm, KeyPair, KeyState, Keyring, LiveKey, PublicJwk, SharedSecretUse, SigningKey,
    key_purpose,
};
pub use mail::{Mail, MailKind, MailToken, OutboxMessage, TokenPurpose, outbox_purpose};
pub use mfa::{MfaChallenge, TotpEnrolment, TotpFactor, totp_purpose};
pub use session::{ClientInfo, Session, SessionKind};
pub use token::{
    Claims, ClientToken, IdTokenClaims, Introspection, IssuedTokens, LoginOutcome, PersonClaims,
    Principal, Registration, TokenType, UserInfo,
};
pub use user::{NewUser, Page, Role, User, UserPatch};

/// `value` checked against every rule declared on its type; every broken rule is reported.
/// `field` names errors that have no path of their own (a value judged alone).
pub fn validated<T>(value: T, field: &str) -> Result<garde::Valid<T>, crate::DomainError>
where
    T: garde::Validate<Context = ()>,
{
    garde::Unvalidated::new(value).validate().map_err(|report| {
        crate::DomainError::Validation(crate::validation::field_errors(report, field))
    })
}
