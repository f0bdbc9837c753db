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

pub use error::DomainError;
pub use model::{
    AuditEvent, AuditOutcome, AuditRecord, AuthorizationCode, Claims, ClientChanges, ClientInfo,
    ClientKind, ClientRegistration, ClientToken, CodeRedemption, CreatedClient, DisplayName, Email,
    Introspection, IssuedTokens, KeyAlgorithm, KeyPair, KeyState, Keyring, LiveKey, LoginOutcome,
    Mail, MailKind, MailToken, MfaChallenge, NewUser, OAuthClient, OutboxMessage, Page, Password,
    Principal, PublicJwk, Registration, Role, Scope, Scopes, Session, SharedSecretUse, SigningKey,
    TokenPurpose, TokenType, TotpEnrolment, TotpFactor, User, UserPatch, Username, key_purpose,
    outbox_purpose, totp_purpose, validated,
};
pub use policy::AuthPolicy;
pub use ports::{
    AdminGuard, AdminWrite, Attempt, AttemptLimit, AuditLog, AuthorizationCodeRepository,
    ClientRepository, Clock, ConnectionUsage, Fingerprints, KeyGenerator, LoginThrottleRepository,
    MailError, MailMetrics, MailTokenRepository, Mailer, MfaRepository, OneTimeCodes, Outbox,
    PasswordHasher, RateLimitStore, SecretSealer, SessionRepository, SigningKeyRepository,
    StoreError, StoreHealth, Stores, ThrottleKey, TokenCodec, TokenRejection, Unsealable,
    UserRepository,
};
pub use services::{
    AccountMail, AuthService, DeliveryPolicy, DeliveryReport, Housekeeping, HousekeepingReport,
    KeyPolicy, KeyService, LimitedAction, Lockout, MailDelivery, MailPolicy, MfaPorts, Ports,
    RECOVERY_CODES, RateDecision, RateLimitPolicy, RateLimiter, RecoveryService, SecondFactor,
    UserService,
};
pub use validation::FieldError;
