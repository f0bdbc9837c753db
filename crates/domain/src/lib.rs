//! The rules of auth-api: entities, the ports the service needs from the outside world, and the
//! services that apply every business rule. Nothing here knows about HTTP, SQL, JWT libraries or
//! bcrypt; adapters implement the ports.

pub mod error;
pub mod model;
pub mod policy;
pub mod ports;
pub mod services;
pub mod validation;

#[cfg(feature = "contract-tests")]
pub mod contract;

pub use error::{DomainError, Refusal};
pub use model::{
    AuditEvent, AuditOutcome, AuditRecord, AuthorizationCode, AuthorizationRequest,
    AuthorizationStep, CheckedRequest, Claims, ClientChanges, ClientInfo, ClientKind,
    ClientRegistration, ClientToken, CodeRedemption, Consent, CreatedClient, DisplayName, Email,
    IdTokenClaims, Introspection, IssuedTokens, KeyAlgorithm, KeyPair, KeyState, Keyring, LiveKey,
    LoginOutcome, Mail, MailKind, MailToken, MfaChallenge, NewUser, OAuthClient, OutboxMessage,
    Page, Password, Principal, Prompt, PublicJwk, Registration, Role, Scope, Scopes, Session,
    SessionKind, SharedSecretUse, SigningKey, TokenPurpose, TokenType, TotpEnrolment, TotpFactor,
    User, UserInfo, UserPatch, Username, key_purpose, outbox_purpose, totp_purpose, validated,
};
pub use policy::AuthPolicy;
pub use ports::{
    AdminGuard, AdminWrite, Attempt, AttemptLimit, AuditLog, AuthorizationCodeRepository,
    ClientRepository, Clock, ConnectionUsage, ConsentRepository, Fingerprints, KeyGenerator,
    LoginThrottleRepository, MailError, MailMetrics, MailTokenRepository, Mailer, MfaRepository,
    OneTimeCodes, Outbox, PasswordHasher, PkceTransform, RateLimitStore, SecretSealer,
    SessionRepository, SigningKeyRepository, StoreError, StoreHealth, Stores, ThrottleKey,
    TokenCodec, TokenRejection, Unsealable, UserRepository,
};
pub use services::{
    AccountMail, AuthService, BrowserSession, BrowserSignIn, CodeExchange, CodeTokens,
    DeliveryPolicy, DeliveryReport, Grant, GrantedConsent, Housekeeping, HousekeepingReport,
    KeyPolicy, KeyService, LimitedAction, Lockout, MailDelivery, MailPolicy, MfaPorts, Ports,
    RECOVERY_CODES, RateDecision, RateLimitPolicy, RateLimiter, RecoveryService, SecondFactor,
    UserService,
};
pub use validation::FieldError;
