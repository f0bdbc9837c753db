//! Mocks of every port, wired into `Ports`, for the services' unit tests.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{MfaPorts, Ports};
use crate::model::{Claims, Role, Session, TokenType, User};
use crate::policy::AuthPolicy;
use crate::ports::{
    Fingerprints, MockAuditLog, MockAuthorizationCodeRepository, MockClientRepository, MockClock,
    MockConsentRepository, MockKeyGenerator, MockLoginThrottleRepository, MockMailTokenRepository,
    MockMfaRepository, MockOneTimeCodes, MockOutbox, MockPasswordHasher, MockRateLimitStore,
    MockSessionRepository, MockSigningKeyRepository, MockStoreHealth, MockTokenCodec,
    MockUserRepository, PkceTransform, SecretSealer, Stores, Unsealable,
};

/// Links to example.com, the contract's lifetimes, the default per-recipient cap.
pub fn mail_policy() -> super::MailPolicy {
    super::MailPolicy {
        reset_link: "https://auth.example.com/reset-password?token={token}".into(),
        verify_link: "https://auth.example.com/verify-email?token={token}".into(),
        reset_ttl: chrono::Duration::seconds(1800),
        verify_ttl: chrono::Duration::seconds(86_400),
        per_recipient_per_hour: 5,
    }
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

pub struct Mocks {
    pub users: MockUserRepository,
    pub sessions: MockSessionRepository,
    pub throttle: MockLoginThrottleRepository,
    pub hasher: MockPasswordHasher,
    pub tokens: MockTokenCodec,
    pub clock: MockClock,
    pub audit: MockAuditLog,
    pub mfa: MockMfaRepository,
    pub keys: MockSigningKeyRepository,
    pub clients: MockClientRepository,
    pub authorization_codes: MockAuthorizationCodeRepository,
    pub consents: MockConsentRepository,
    pub mail_tokens: MockMailTokenRepository,
    pub outbox: MockOutbox,
    /// Counts nothing over any limit unless a test replaces it.
    pub rate_limits: MockRateLimitStore,
    pub key_generator: MockKeyGenerator,
    pub codes: MockOneTimeCodes,
    pub sealer: FakeSealer,
    pub fingerprints: FakeFingerprints,
}

/// "Seals" by prefixing the purpose, so a test sees what was sealed for whom.
pub struct FakeSealer;

impl SecretSealer for FakeSealer {
    fn seal(&self, secret: &[u8], purpose: &str) -> Vec<u8> {
        [purpose.as_bytes(), b"|", secret].concat()
    }

    fn open(&self, sealed: &[u8], purpose: &str) -> Result<Vec<u8>, Unsealable> {
        let prefix = [purpose.as_bytes(), b"|"].concat();
        sealed
            .strip_prefix(prefix.as_slice())
            .map(<[u8]>::to_vec)
            .ok_or(Unsealable)
    }
}

/// Fingerprints a test can compute: `fp(<secret>)`.
pub struct FakeFingerprints;

impl Fingerprints for FakeFingerprints {
    fn of(&self, secret: &str) -> String {
        format!("fp({secret})")
    }
}

/// "S256" that a test can read: `s256(verifier)`.
pub struct FakePkce;

impl PkceTransform for FakePkce {
    fn challenge_of(&self, verifier: &str) -> String {
        format!("s256({verifier})")
    }
}

impl Mocks {
    /// Mocks with a fixed clock and a codec that names each token after its type and `jti`.
    pub fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let mut tokens = MockTokenCodec::new();
        tokens
            .expect_encode()
            .returning(|claims| Ok(token_name(claims.token_type, claims.jti)));
        tokens
            .expect_encode_id_token()
            .returning(|claims| Ok(format!("IdToken:{}:{}", claims.aud, claims.sid)));
        // Audit entries are accepted silently unless a test replaces this mock to look at them.
        let mut audit = MockAuditLog::new();
        audit.expect_record().returning(|_| Ok(()));
        let mut rate_limits = MockRateLimitStore::new();
        rate_limits.expect_hit().returning(|_, _| Ok(1));
        rate_limits.expect_count().returning(|_, _| Ok(0));
        Self {
            rate_limits,
            audit,
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            throttle: MockLoginThrottleRepository::new(),
            hasher: MockPasswordHasher::new(),
            tokens,
            clock,
            mfa: MockMfaRepository::new(),
            keys: MockSigningKeyRepository::new(),
            clients: MockClientRepository::new(),
            authorization_codes: MockAuthorizationCodeRepository::new(),
            consents: MockConsentRepository::new(),
            mail_tokens: MockMailTokenRepository::new(),
            outbox: MockOutbox::new(),
            key_generator: MockKeyGenerator::new(),
            codes: MockOneTimeCodes::new(),
            sealer: FakeSealer,
            fingerprints: FakeFingerprints,
        }
    }

    /// Makes `decode` return these claims for any token.
    pub fn decoding(mut self, claims: Claims) -> Self {
        self.tokens
            .expect_decode()
            .returning(move |_| Ok(claims.clone()));
        self
    }

    pub fn into_ports(self) -> Ports {
        Ports {
            stores: Stores {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                throttle: Arc::new(self.throttle),
                rate_limits: Arc::new(self.rate_limits),
                audit: Arc::new(self.audit),
                mfa: Arc::new(self.mfa),
                keys: Arc::new(self.keys),
                clients: Arc::new(self.clients),
                authorization_codes: Arc::new(self.authorization_codes),
                consents: Arc::new(self.consents),
                mail_tokens: Arc::new(self.mail_tokens),
                outbox: Arc::new(self.outbox),
                health: Arc::new(MockStoreHealth::new()),
            },
            hasher: Arc::new(self.hasher),
            tokens: Arc::new(self.tokens),
            key_generator: Arc::new(self.key_generator),
            clock: Arc::new(self.clock),
            mfa: MfaPorts {
                codes: Arc::new(self.codes),
                sealer: Arc::new(self.sealer),
                fingerprints: Arc::new(self.fingerprints),
            },
            pkce: Arc::new(FakePkce),
        }
    }
}

/// The policy of `config/default.toml`, as the binary would build it.
pub fn policy() -> AuthPolicy {
    AuthPolicy {
        issuer: "auth-api".into(),
        audience: "auth-api".into(),
        access_ttl: chrono::Duration::seconds(900),
        refresh_ttl: chrono::Duration::seconds(2_592_000),
        refresh_reuse_grace: chrono::Duration::seconds(10),
        leeway: chrono::Duration::zero(),
        max_failed_attempts: 5,
        lockout_duration: chrono::Duration::seconds(900),
        require_verified_email: false,
        password_grant: true,
        code_ttl: chrono::Duration::seconds(60),
        sso_ttl: chrono::Duration::seconds(43200),
        sso_idle: chrono::Duration::seconds(1800),
    }
}

pub fn token_name(token_type: TokenType, jti: Uuid) -> String {
    format!("{token_type:?}:{jti}")
}

pub fn user(role: Role) -> User {
    User {
        id: Uuid::new_v4(),
        username: "Alice_1".into(),
        email: "alice@example.com".into(),
        name: None,
        role,
        is_active: true,
        password_hash: "hash-of-password1".into(),
        locked_until: None,
        mfa_enabled: false,
        email_verified: false,
        created_at: now(),
        updated_at: now(),
    }
}

pub fn session(user: &User) -> Session {
    Session {
        id: Uuid::new_v4(),
        kind: crate::model::SessionKind::Api,
        user_id: user.id,
        refresh_jti: Uuid::new_v4(),
        previous_refresh_jti: None,
        rotated_at: None,
        created_at: now(),
        last_used_at: now(),
        expires_at: now() + chrono::Duration::days(30),
        revoked_at: None,
        user_agent: None,
        ip: None,
        mfa: false,
        client_id: None,
    }
}

pub fn claims(token_type: TokenType, session: &Session, jti: Uuid) -> Claims {
    let t = now().timestamp();
    Claims {
        iss: "auth-api".into(),
        aud: "auth-api".into(),
        sub: session.user_id,
        exp: t + 900,
        iat: t,
        nbf: t,
        jti,
        sid: Some(session.id),
        token_type,
        role: (token_type == TokenType::Access).then_some(Role::User),
        amr: Vec::new(),
        client_id: None,
        scope: None,
        azp: None,
    }
}
