//! Register, login, refresh, logout, revoke and the checks behind every authenticated request.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::keys::KeyService;
use super::mail::AccountMail;
use super::password_proof::{PasswordField, audit_lockout, count_attempt, prove_password};
use super::ports::{Audit, Ports};
use super::users::create_user;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, Claims, ClientInfo, IssuedTokens, LoginOutcome, NewUser, Password,
    Principal, Registration, Role, Session, SessionKind, TokenType, User, validated,
};
use crate::policy::AuthPolicy;
use crate::ports::{ThrottleKey, TokenRejection};
use crate::validation::{EMAIL_MAX_CHARS, clean_user_agent};

/// How often a password change retries its compare-and-swap after the hash changed under it
/// without the password changing (a rehash at login).
const MAX_SWAP_TRIES: usize = 3;
/// A session's `last_used_at` is written at most this often, so that reads stay reads.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// How the password step of a login ended.
pub(super) enum PasswordStep {
    /// The password is the account's, and it needs nothing more.
    Verified(User),
    /// The account has MFA on: the login goes on with a second factor.
    SecondFactor(LoginOutcome),
}

pub struct AuthService {
    ports: Ports,
    policy: AuthPolicy,
    /// Verified against when a login names no account, so that both answers take as long.
    dummy_hash: OnceLock<String>,
    /// Reloads the keyring when a token names a key this replica has not loaded yet.
    keys: Option<Arc<KeyService>>,
    /// Sends new accounts their verification link.
    mail: Option<Arc<AccountMail>>,
}

impl AuthService {
    pub fn new(ports: Ports, policy: AuthPolicy) -> Self {
        Self {
            ports,
            policy,
            dummy_hash: OnceLock::new(),
            keys: None,
            mail: None,
        }
    }

    /// New accounts are sent a link that verifies their address.
    pub fn with_mail(mut self, mail: Arc<AccountMail>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Tokens signed by a key another replica just made are accepted after one reload.
    pub fn with_keys(mut self, keys: Arc<KeyService>) -> Self {
        self.keys = Some(keys);
        self
    }

    pub(super) fn ports(&self) -> &Ports {
        &self.ports
    }

    pub(super) fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// Creates a user account and logs it in; where addresses must be verified first, only
    /// creates it (no session before the address is proven).
    pub async fn register(
        &self,
        new_user: NewUser,
        client: &ClientInfo,
    ) -> Result<Registration, DomainError> {
        let user = create_user(&self.ports, new_user, Role::User, false).await?;
        tracing::info!(user_id = %user.id, "user registered");
        if let Some(mail) = &self.mail {
            // The account exists whatever happens to its mail: a failure here is logged, and
            // `POST /api/auth/email/resend` sends another link.
            if let Err(err) = mail.queue_verification(&user).await {
                tracing::warn!(user_id = %user.id, error = %err, "verification mail not queued");
            }
        }
        self.ports
            .audit(Audit {
                event: AuditEvent::Register,
                outcome: AuditOutcome::Success,
                user_id: Some(user.id),
                actor_id: None,
                client,
                detail: None,
            })
            .await?;
        if self.policy.require_verified_email {
            return Ok(Registration::VerificationRequired(user));
        }
        self.open_session(user, client, false)
            .await
            .map(Registration::Tokens)
    }

    /// `login` is a username or an email. Unknown logins and wrong passwords get the same answer
    /// after the same work; attempts are counted per account, or per login string when no account
    /// matches, so that locking out tells nothing about which accounts exist. An attempt is
    /// counted before its password is checked, so concurrent guesses cannot outrun the lock.
    /// With MFA on, the right password gets an `mfa_token` instead of tokens, and the failure
    /// count stays until the second step completes the login (`complete_mfa_login`).
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, DomainError> {
        match self.password_step(login, password, client).await? {
            PasswordStep::Verified(user) => self
                .open_session(user, client, false)
                .await
                .map(LoginOutcome::Tokens),
            PasswordStep::SecondFactor(outcome) => Ok(outcome),
        }
    }

    /// The rules of `login` up to the session: the account whose password this is, or the
    /// second step it needs. The sign-in page takes the same step.
    pub(super) async fn password_step(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<PasswordStep, DomainError> {
        let login = login.trim().to_lowercase();
        let user = if login.contains('@') {
            self.ports.stores.users.find_by_email(&login).await?
        } else {
            self.ports.stores.users.find_by_username(&login).await?
        };
        let key = match &user {
            Some(user) => ThrottleKey::Account(user.id),
            None => ThrottleKey::UnknownLogin(login.clone()),
        };
        let user_id = user.as_ref().map(|u| u.id);
        // A login string no account could have is not worth a row in the store.
        let counted = user.is_some() || login.chars().count() <= EMAIL_MAX_CHARS;
        let mut last_attempt = false;
        if counted {
            match self.count_attempt(&key).await {
                Ok(last) => last_attempt = last,
                Err(locked) => {
                    self.audit_login(user_id, client, AuditOutcome::Failure, "account locked")
                        .await?;
                    return Err(locked);
                }
            }
        }

        let hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let password_matches = self.password_matches(password, &hash).await?;

        match user {
            Some(mut user) if password_matches => {
                if !user.is_active {
                    self.ports.stores.throttle.clear(&key).await?;
                    self.audit_login(user_id, client, AuditOutcome::Failure, "account disabled")
                        .await?;
                    return Err(DomainError::AccountDisabled);
                }
                if self.policy.require_verified_email && !user.email_verified {
                    self.ports.stores.throttle.clear(&key).await?;
                    self.audit_login(user_id, client, AuditOutcome::Failure, "email not verified")
                        .await?;
                    return Err(DomainError::EmailNotVerified);
                }
                self.rehash_if_outdated(&mut user, password).await;
                if user.mfa_enabled {
                    // The password step completes nothing: its attempt is taken back, and the
                    // failures before it stay until the second factor completes the login.
                    self.ports.stores.throttle.refund(&key).await?;
                    return self.challenge(&user).await.map(PasswordStep::SecondFactor);
                }
                self.ports.stores.throttle.clear(&key).await?;
                tracing::info!(user_id = %user.id, "login succeeded");
                self.audit_login(user_id, client, AuditOutcome::Success, "")
                    .await?;
                Ok(PasswordStep::Verified(user))
            }
            _ => {
                let reason = if user.is_some() {
                    "wrong password"
                } else {
                    "unknown login"
                };
                self.audit_login(user_id, client, AuditOutcome::Failure, reason)
                    .await?;
                if last_attempt {
                    self.audit_lockout(user_id, client).await?;
                }
                tracing::info!("login failed");
                Err(DomainError::InvalidCredentials)
            }
        }
    }

    /// Trades a refresh token for a new pair, rotating the refresh token.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, DomainError> {
        let claims = self.verify_token(refresh_token, TokenType::Refresh).await?;
        // A client's refresh token is that client's; one issued to no client stays clientless.
        // (Judged before the store is read: another client learns nothing of the account.)
        if claims.azp != client.oauth_client {
            return Err(DomainError::InvalidToken);
        }
        let sid = claims.sid.ok_or(DomainError::InvalidToken)?;
        let now = self.ports.clock.now();
        let (mut session, user) = self
            .ports
            .stores
            .sessions
            .find_with_user(sid)
            .await?
            // A browser session holds a cookie, never tokens.
            .filter(|(session, _)| {
                session.user_id == claims.sub
                    && session.kind == SessionKind::Api
                    && session.is_active(now)
            })
            .ok_or(DomainError::TokenRevoked)?;
        if !user.is_active {
            return Err(DomainError::AccountDisabled);
        }
        if self.policy.require_verified_email && !user.email_verified {
            return Err(DomainError::EmailNotVerified);
        }

        if claims.jti != session.refresh_jti {
            // The lookup may be this server's memory, a moment behind a rotation another server
            // made: whether this is a reuse is judged on the stored row only.
            session = self.live_session(&claims, now).await?;
        }
        if claims.jti == session.refresh_jti {
            let next = Uuid::new_v4();
            let expires_at = now + self.policy.refresh_ttl;
            let rotated = self
                .ports
                .stores
                .sessions
                .rotate_refresh(session.id, claims.jti, next, now, expires_at)
                .await?;
            if rotated {
                session.previous_refresh_jti = Some(session.refresh_jti);
                session.refresh_jti = next;
                session.rotated_at = Some(now);
                session.last_used_at = now;
                session.expires_at = expires_at;
                return self.issue(user, &session, claims.azp, claims.scope.clone(), now);
            }
            // A concurrent refresh of the same token won: judge this one against its result.
            session = self.live_session(&claims, now).await?;
        }

        if self.within_reuse_grace(&session, claims.jti, now) {
            // Two tabs refreshing at once: hand out the current refresh token again.
            return self.issue(user, &session, claims.azp, claims.scope.clone(), now);
        }
        self.ports.stores.sessions.revoke(session.id, now).await?;
        tracing::warn!(user_id = %user.id, session_id = %session.id, "refresh token reused; session revoked");
        self.ports
            .audit(Audit {
                event: AuditEvent::RefreshReuse,
                outcome: AuditOutcome::Failure,
                user_id: Some(user.id),
                actor_id: None,
                client,
                detail: Some("rotated refresh token presented again; session revoked"),
            })
            .await?;
        Err(DomainError::RefreshTokenReused)
    }

    /// Checks an access token against the store: its session must be live and its user active.
    pub async fn authenticate(
        &self,
        access_token: &str,
        client: ClientInfo,
    ) -> Result<Principal, DomainError> {
        let claims = self.verify_token(access_token, TokenType::Access).await?;
        if claims.client_id.is_some() && claims.sid.is_none() {
            // A service client's token: good for introspection, never for a user's endpoints.
            return Err(DomainError::Forbidden);
        }
        // An app's token reaches this service's own endpoints only if the app is first-party.
        if let Some(app) = claims.client_id {
            let client = self
                .ports
                .stores
                .clients
                .find(app)
                .await?
                .ok_or(DomainError::TokenRevoked)?;
            if !client.first_party {
                return Err(DomainError::InsufficientScope);
            }
        }
        let (session, user) = self.live_user_session(&claims).await?;
        Ok(Principal {
            user,
            session_id: session.id,
            client,
        })
    }

    /// The live API session of a user's access token, and its active user (the session's
    /// last use written now and then).
    pub(super) async fn live_user_session(
        &self,
        claims: &Claims,
    ) -> Result<(Session, User), DomainError> {
        let sid = claims.sid.ok_or(DomainError::InvalidToken)?;
        let now = self.ports.clock.now();
        let (session, user) = self
            .ports
            .stores
            .sessions
            .find_with_user(sid)
            .await?
            .filter(|(session, user)| {
                session.user_id == claims.sub
                    && session.kind == SessionKind::Api
                    && session.is_active(now)
                    && user.is_active
            })
            .ok_or(DomainError::TokenRevoked)?;
        if now - session.last_used_at >= Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            self.ports.stores.sessions.touch(session.id, now).await?;
        }
        Ok((session, user))
    }

    /// Ends the caller's session: both its tokens stop working at once.
    pub async fn logout(&self, principal: &Principal) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        self.ports
            .stores
            .sessions
            .revoke(principal.session_id, now)
            .await?;
        tracing::info!(user_id = %principal.user.id, session_id = %principal.session_id, "logged out");
        self.audit_self(principal, AuditEvent::Logout, AuditOutcome::Success, None)
            .await
    }

    /// Ends every session of the caller.
    pub async fn logout_all(&self, principal: &Principal) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        let count = self
            .ports
            .stores
            .sessions
            .revoke_all_for_user(principal.user.id, None, now)
            .await?;
        tracing::info!(user_id = %principal.user.id, sessions = count, "logged out everywhere");
        self.audit_self(
            principal,
            AuditEvent::Logout,
            AuditOutcome::Success,
            Some("every session"),
        )
        .await
    }

    /// RFC 7009: revokes the session of any token this service issued; says nothing about tokens
    /// it did not issue. Expired tokens still name their session, which is revoked too. A token
    /// an OAuth client holds is that client's to revoke (RFC 7009 §2.1): anyone else changes
    /// nothing.
    pub async fn revoke_token(&self, token: &str, client: &ClientInfo) -> Result<(), DomainError> {
        let Ok(claims) = self.decode(token).await else {
            return Ok(());
        };
        if claims.azp.is_some() && claims.azp != client.oauth_client {
            return Ok(());
        }
        let Some(sid) = claims.sid.filter(|_| self.is_ours(&claims)) else {
            return Ok(());
        };
        if let Some(session) = self.ports.stores.sessions.find(sid).await?
            && session.user_id == claims.sub
        {
            let now = self.ports.clock.now();
            // Only a revoke that ended something is worth a record: replays add nothing.
            if !self.ports.stores.sessions.revoke(session.id, now).await? {
                return Ok(());
            }
            tracing::info!(user_id = %session.user_id, session_id = %session.id, "token revoked");
            self.ports
                .audit(Audit {
                    event: AuditEvent::Logout,
                    outcome: AuditOutcome::Success,
                    user_id: Some(session.user_id),
                    actor_id: None,
                    client,
                    detail: Some("token revoked"),
                })
                .await?;
        }
        Ok(())
    }

    /// Changes the caller's password and ends every other session of theirs. A wrong
    /// `current_password` counts towards the account's lockout like a failed login; the change
    /// itself is a compare-and-swap on the hash the caller proved, so of concurrent changes made
    /// with one `current_password` exactly one succeeds.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), DomainError> {
        let user = &principal.user;
        prove_password(
            &self.ports,
            self.policy.lockout(),
            principal,
            Some(current_password),
            PasswordField::CurrentPassword,
            AuditEvent::PasswordChange,
        )
        .await?;
        let new_password = validated(Password::from(new_password), "new_password")?.into_inner();
        let now = self.ports.clock.now();
        let new_hash = self.ports.hasher.hash(new_password.as_str()).await?;
        let mut proven = user.password_hash.clone();
        // The swap fails when the hash changed since it was read. A rehash at login changes it
        // without changing the password: the caller's password is checked against the hash
        // stored now, and the swap tried again from it. Another change of the password makes
        // the caller's password wrong, so exactly one of several concurrent changes wins.
        for _ in 0..MAX_SWAP_TRIES {
            let swapped = self
                .ports
                .stores
                .users
                .replace_password_hash(user.id, &proven, &new_hash, now)
                .await?;
            if swapped {
                return self.password_changed(principal, now).await;
            }
            let stored = self
                .ports
                .stores
                .users
                .find_by_id(user.id)
                .await?
                .ok_or(DomainError::TokenRevoked)?;
            if !self
                .password_matches(current_password, &stored.password_hash)
                .await?
            {
                break;
            }
            proven = stored.password_hash;
        }
        Err(PasswordField::CurrentPassword.wrong())
    }

    async fn password_changed(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let user = &principal.user;
        self.ports
            .stores
            .sessions
            .revoke_all_for_user(user.id, Some(principal.session_id), now)
            .await?;
        tracing::info!(user_id = %user.id, "password changed");
        self.audit_self(
            principal,
            AuditEvent::PasswordChange,
            AuditOutcome::Success,
            None,
        )
        .await
    }

    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, DomainError> {
        let now = self.ports.clock.now();
        Ok(self
            .ports
            .stores
            .sessions
            .list_active_for_user(principal.user.id, now)
            .await?)
    }

    /// Ends one of the caller's own live sessions.
    pub async fn end_session(
        &self,
        principal: &Principal,
        session_id: Uuid,
    ) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        let session = self
            .ports
            .stores
            .sessions
            .find(session_id)
            .await?
            .filter(|s| s.user_id == principal.user.id && s.is_active(now))
            .ok_or(DomainError::SessionNotFound)?;
        self.ports.stores.sessions.revoke(session.id, now).await?;
        self.audit_self(
            principal,
            AuditEvent::Logout,
            AuditOutcome::Success,
            Some("one session ended by its owner"),
        )
        .await
    }

    /// An event about the caller's own account.
    async fn audit_self(
        &self,
        principal: &Principal,
        event: AuditEvent,
        outcome: AuditOutcome,
        detail: Option<&'static str>,
    ) -> Result<(), DomainError> {
        self.ports
            .audit(Audit {
                event,
                outcome,
                user_id: Some(principal.user.id),
                actor_id: None,
                client: &principal.client,
                detail,
            })
            .await
    }

    async fn audit_login(
        &self,
        user_id: Option<Uuid>,
        client: &ClientInfo,
        outcome: AuditOutcome,
        detail: &'static str,
    ) -> Result<(), DomainError> {
        self.ports
            .audit(Audit {
                event: AuditEvent::Login,
                outcome,
                user_id,
                actor_id: None,
                client,
                detail: (!detail.is_empty()).then_some(detail),
            })
            .await
    }

    /// Counts an attempt under `key` before it is judged. Returns whether it was the last one
    /// before the lock; fails with `AccountLocked` if the key is locked.
    pub(super) async fn count_attempt(&self, key: &ThrottleKey) -> Result<bool, DomainError> {
        count_attempt(&self.ports, self.policy.lockout(), key).await
    }

    /// A failed last attempt locked its key when it was counted: record that it did.
    pub(super) async fn audit_login_success(
        &self,
        user: &User,
        client: &ClientInfo,
        detail: &'static str,
    ) -> Result<(), DomainError> {
        tracing::info!(user_id = %user.id, "login succeeded");
        self.audit_login(Some(user.id), client, AuditOutcome::Success, detail)
            .await
    }

    pub(super) async fn audit_lockout(
        &self,
        user_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), DomainError> {
        audit_lockout(&self.ports, user_id, client).await
    }

    pub(super) async fn password_matches(
        &self,
        password: &str,
        hash: &str,
    ) -> Result<bool, DomainError> {
        self.ports.hasher.verify(password, hash).await
    }

    /// After a successful login, brings the stored hash to the configured parameters (and
    /// `user` with it). Never fails the login: an outdated hash still verifies, and the next
    /// login tries again.
    async fn rehash_if_outdated(&self, user: &mut User, password: &str) {
        if !self.ports.hasher.needs_rehash(&user.password_hash) {
            return;
        }
        let rehashed = match self.ports.hasher.hash(password).await {
            Ok(new_hash) => {
                let now = self.ports.clock.now();
                self.ports
                    .stores
                    .users
                    .replace_password_hash(user.id, &user.password_hash, &new_hash, now)
                    .await
                    .map(|swapped| swapped.then_some(new_hash))
                    .map_err(DomainError::from)
            }
            Err(err) => Err(err),
        };
        match rehashed {
            Ok(Some(new_hash)) => {
                user.password_hash = new_hash;
                tracing::info!(user_id = %user.id, "password rehashed with the configured parameters")
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(user_id = %user.id, error = %err, "rehash failed; the login goes on")
            }
        }
    }

    async fn dummy_hash(&self) -> Result<String, DomainError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.ports.hasher.hash(&Uuid::new_v4().to_string()).await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    /// Opens a session for `user`, whose password (`user.password_hash`) the caller verified;
    /// `mfa`: the login proved a second factor too.
    pub(super) async fn open_session(
        &self,
        user: User,
        client: &ClientInfo,
        mfa: bool,
    ) -> Result<IssuedTokens, DomainError> {
        let session = self.new_session(Uuid::new_v4(), &user, client, mfa);
        self.open(session, user, client, None).await
    }

    /// A session of `user`'s, not stored yet, with this id.
    pub(super) fn new_session(
        &self,
        id: Uuid,
        user: &User,
        client: &ClientInfo,
        mfa: bool,
    ) -> Session {
        let now = self.ports.clock.now();
        Session {
            id,
            kind: SessionKind::Api,
            user_id: user.id,
            refresh_jti: Uuid::new_v4(),
            previous_refresh_jti: None,
            rotated_at: None,
            created_at: now,
            last_used_at: now,
            expires_at: now + self.policy.refresh_ttl,
            revoked_at: None,
            user_agent: client.user_agent.as_ref().map(|ua| clean_user_agent(ua)),
            ip: client.ip.clone(),
            mfa,
            client_id: client.oauth_client,
        }
    }

    /// Stores `session` and issues its tokens, for `client.oauth_client` if one authenticated.
    pub(super) async fn open(
        &self,
        session: Session,
        user: User,
        client: &ClientInfo,
        scope: Option<String>,
    ) -> Result<IssuedTokens, DomainError> {
        self.store_session(&session, &user).await?;
        self.issue(
            user,
            &session,
            client.oauth_client,
            scope,
            session.created_at,
        )
    }

    /// Stores `session` of `user`, whose password (`user.password_hash`) the caller verified.
    pub(super) async fn store_session(
        &self,
        session: &Session,
        user: &User,
    ) -> Result<(), DomainError> {
        // No session before the address is verified, where that is required (a second step
        // that completes after an address change too).
        if self.policy.require_verified_email && !user.email_verified {
            return Err(DomainError::EmailNotVerified);
        }
        // Opened only while the password just verified is still the account's: a login that
        // lost a race with a password change, a deactivation, a deletion or an address change
        // opens nothing.
        if !self
            .ports
            .stores
            .sessions
            .open(
                session,
                &user.password_hash,
                self.policy.require_verified_email,
            )
            .await?
        {
            return Err(DomainError::InvalidCredentials);
        }
        Ok(())
    }

    /// A new access token and the session's current refresh token, for the client `azp` if
    /// one authenticated; with `scope`, an app's tokens of the code grant (`client_id` set).
    fn issue(
        &self,
        user: User,
        session: &Session,
        azp: Option<Uuid>,
        scope: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, DomainError> {
        let access_exp = now + self.policy.access_ttl;
        let access = Claims {
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            sub: user.id,
            exp: access_exp.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            sid: Some(session.id),
            token_type: TokenType::Access,
            role: Some(user.role),
            amr: session.amr(),
            client_id: azp.filter(|_| scope.is_some()),
            scope,
            azp,
        };
        let refresh = Claims {
            exp: session.expires_at.timestamp(),
            jti: session.refresh_jti,
            token_type: TokenType::Refresh,
            role: None,
            amr: Vec::new(),
            ..access.clone()
        };
        Ok(IssuedTokens {
            access_token: self.ports.tokens.encode(&access)?,
            access_expires_in: access.exp - access.iat,
            refresh_token: self.ports.tokens.encode(&refresh)?,
            refresh_expires_in: refresh.exp - refresh.iat,
            user,
        })
    }

    pub(super) fn is_ours(&self, claims: &Claims) -> bool {
        claims.iss == self.policy.issuer && claims.aud == self.policy.audience
    }

    /// The token's claims if one of the published keys signed it; a key this replica has not
    /// loaded yet is looked for once.
    pub(super) async fn decode(&self, token: &str) -> Result<Claims, TokenRejection> {
        match self.ports.tokens.decode(token) {
            Err(TokenRejection::UnknownKey) => match &self.keys {
                Some(keys) if keys.reload_for_unknown_kid().await.unwrap_or(false) => {
                    self.ports.tokens.decode(token)
                }
                _ => Err(TokenRejection::UnknownKey),
            },
            decoded => decoded,
        }
    }

    /// Every check of a token that needs no store: issuer, audience, type and time.
    pub(super) async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
    ) -> Result<Claims, DomainError> {
        let claims = self
            .decode(token)
            .await
            .map_err(|_| DomainError::InvalidToken)?;
        if !self.is_ours(&claims) {
            return Err(DomainError::InvalidToken);
        }
        if claims.token_type != expected {
            return Err(DomainError::WrongTokenType);
        }
        let now = self.ports.clock.now().timestamp();
        let leeway = self.policy.leeway.num_seconds();
        if claims.nbf > now + leeway || claims.iat > now + leeway {
            return Err(DomainError::InvalidToken);
        }
        if now >= claims.exp + leeway {
            return Err(DomainError::TokenExpired);
        }
        if !self.within_lifetime(&claims) {
            return Err(DomainError::InvalidToken);
        }
        Ok(claims)
    }

    /// A token never outlives its type's configured lifetime (plus the leeway): one whose
    /// `exp` lies further from its `iat` was not made by this configuration. (An `iat` in the
    /// future is refused with `nbf`'s, so the bound holds from now.)
    pub(super) fn within_lifetime(&self, claims: &Claims) -> bool {
        let lifetime = match claims.token_type {
            TokenType::Access => self.policy.access_ttl,
            TokenType::Refresh => self.policy.refresh_ttl,
        };
        claims.exp.saturating_sub(claims.iat)
            <= lifetime.num_seconds() + self.policy.leeway.num_seconds()
    }

    async fn live_session(
        &self,
        claims: &Claims,
        now: DateTime<Utc>,
    ) -> Result<Session, DomainError> {
        self.ports
            .stores
            .sessions
            .find(claims.sid.ok_or(DomainError::InvalidToken)?)
            .await?
            .filter(|s| s.user_id == claims.sub && s.is_active(now))
            .ok_or(DomainError::TokenRevoked)
    }

    fn within_reuse_grace(&self, session: &Session, jti: Uuid, now: DateTime<Utc>) -> bool {
        session.previous_refresh_jti == Some(jti)
            && session
                .rotated_at
                .is_some_and(|at| now - at < self.policy.refresh_reuse_grace)
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
