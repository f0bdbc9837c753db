//! Multi-factor authentication with TOTP: enrolment, confirmation, recovery codes, turning it
//! off, and checking a second factor. Every code is spent in the store (a time step once per
//! user, a recovery code once), and every wrong code counts towards the account's lockout like
//! a wrong password.

use chrono::Duration;
use uuid::Uuid;

use super::auth::AuthService;
use super::password_proof::{PasswordField, prove_password};
use super::ports::Audit;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, IssuedTokens, LoginOutcome, MfaChallenge, Principal,
    TotpEnrolment, User, totp_purpose,
};
use crate::ports::ThrottleKey;
use crate::validation::FieldError;

/// How many recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// How long the second step of a login may take.
const CHALLENGE_SECONDS: i64 = 300;

/// What a user offers as their second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactor<'a> {
    /// A six-digit code from the authenticator app.
    Code(&'a str),
    /// One of the recovery codes shown when MFA was turned on.
    RecoveryCode(&'a str),
}

impl SecondFactor<'_> {
    fn field(self) -> &'static str {
        match self {
            SecondFactor::Code(_) => "code",
            SecondFactor::RecoveryCode(_) => "recovery_code",
        }
    }
}

/// A recovery code as people type it: case and separators do not matter.
fn normalised_recovery_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Ten new codes, `xxxxx-xxxxx` in lower-case hex: 40 random bits each (from UUID v4's
/// generator), enough against guessing that is rate-limited and counts towards the lockout.
fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let hex = Uuid::new_v4().simple().to_string();
            format!("{}-{}", &hex[..5], &hex[5..10])
        })
        .collect()
}

async fn clear_failures(service: &AuthService, user: &User) -> Result<(), DomainError> {
    let key = ThrottleKey::Account(user.id);
    Ok(service.ports().stores.throttle.clear(&key).await?)
}

fn invalid_code(field: &str) -> DomainError {
    DomainError::Validation(vec![FieldError::new(
        field,
        "invalid_code",
        "the code is wrong, or was used already",
    )])
}

impl AuthService {
    /// Starts TOTP enrolment for the caller, who proves their password again (a wrong one
    /// counts towards the lockout). A pending enrolment is replaced; an enabled factor stays.
    pub async fn enrol_totp(
        &self,
        principal: &Principal,
        password: &str,
    ) -> Result<TotpEnrolment, DomainError> {
        let user = &principal.user;
        self.prove_password(principal, password, AuditEvent::MfaEnabled)
            .await?;
        let mfa = &self.ports().stores.mfa;
        if mfa
            .find_totp(user.id)
            .await?
            .is_some_and(|f| f.is_enabled())
        {
            return Err(DomainError::MfaAlreadyEnabled);
        }
        let codes = &self.ports().mfa.codes;
        let secret = codes.new_secret();
        let sealed = self
            .ports()
            .mfa
            .sealer
            .seal(&secret, &totp_purpose(user.id));
        let now = self.ports().clock.now();
        if !mfa.begin_totp(user.id, &sealed, now).await? {
            return Err(DomainError::MfaAlreadyEnabled);
        }
        codes.enrolment(&secret, &user.username)
    }

    /// Turns the caller's pending factor on with a first code from it; returns the recovery
    /// codes, shown this once. Every other session of the caller is revoked.
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
    ) -> Result<Vec<String>, DomainError> {
        let user = &principal.user;
        let factor = self
            .ports()
            .stores
            .mfa
            .find_totp(user.id)
            .await?
            .ok_or(DomainError::MfaNotEnabled)?;
        if factor.is_enabled() {
            return Err(DomainError::MfaAlreadyEnabled);
        }
        let last_attempt = self.count_attempt(&ThrottleKey::Account(user.id)).await?;
        let Some(step) = self.step_of(user, &factor.sealed_secret, code)? else {
            if last_attempt {
                self.audit_lockout(Some(user.id), &principal.client).await?;
            }
            return Err(self
                .wrong_code(&principal.user, &principal.client, "code")
                .await);
        };
        let recovery = new_recovery_codes();
        let now = self.ports().clock.now();
        let confirmed = self
            .ports()
            .stores
            .mfa
            .confirm_totp(
                user.id,
                &factor.sealed_secret,
                step,
                &self.fingerprints_of(&recovery),
                now,
            )
            .await?;
        if !confirmed {
            // Confirmed meanwhile by another request, or removed: judged on what is there now.
            return Err(match self.ports().stores.mfa.find_totp(user.id).await? {
                Some(_) => DomainError::MfaAlreadyEnabled,
                None => DomainError::MfaNotEnabled,
            });
        }
        clear_failures(self, user).await?;
        self.ports()
            .stores
            .sessions
            .revoke_all_for_user(user.id, Some(principal.session_id), now)
            .await?;
        self.audit_mfa(
            &principal.user,
            &principal.client,
            AuditEvent::MfaEnabled,
            AuditOutcome::Success,
            None,
        )
        .await?;
        Ok(recovery)
    }

    /// Turns the caller's MFA off; they prove their password and a current code.
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        password: &str,
        code: &str,
    ) -> Result<(), DomainError> {
        self.prove_password(principal, password, AuditEvent::MfaDisabled)
            .await?;
        self.prove_second_factor(principal, SecondFactor::Code(code))
            .await?;
        if !self
            .ports()
            .stores
            .mfa
            .remove_totp(principal.user.id)
            .await?
        {
            return Err(DomainError::MfaNotEnabled);
        }
        self.audit_mfa(
            &principal.user,
            &principal.client,
            AuditEvent::MfaDisabled,
            AuditOutcome::Success,
            None,
        )
        .await
    }

    /// A new set of recovery codes for a current code; the old ones die.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        code: &str,
    ) -> Result<Vec<String>, DomainError> {
        self.prove_second_factor(principal, SecondFactor::Code(code))
            .await?;
        let recovery = new_recovery_codes();
        let now = self.ports().clock.now();
        let replaced = self
            .ports()
            .stores
            .mfa
            .replace_recovery_codes(principal.user.id, &self.fingerprints_of(&recovery), now)
            .await?;
        if !replaced {
            return Err(DomainError::MfaNotEnabled);
        }
        Ok(recovery)
    }

    /// The first step of a login with MFA on, once the password was right: a single-use token
    /// bound to this login (to its user and the password hash it proved; removing the factor
    /// deletes it).
    pub(super) async fn challenge(&self, user: &User) -> Result<LoginOutcome, DomainError> {
        // 244 random bits; the store keeps only a keyed fingerprint.
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let now = self.ports().clock.now();
        let challenge = MfaChallenge {
            token_fingerprint: self.ports().mfa.fingerprints.of(&token),
            user_id: user.id,
            password_fingerprint: self.ports().mfa.fingerprints.of(&user.password_hash),
            created_at: now,
            expires_at: now + Duration::seconds(CHALLENGE_SECONDS),
        };
        // Opened only while the account is active: a deactivation landing meanwhile leaves none.
        if !self.ports().stores.mfa.open_challenge(&challenge).await? {
            return Err(DomainError::AccountDisabled);
        }
        tracing::info!(user_id = %user.id, "password verified; a second factor is required");
        Ok(LoginOutcome::MfaRequired {
            mfa_token: token,
            expires_in: CHALLENGE_SECONDS,
        })
    }

    /// The second step of a login: the `mfa_token` of its first step and a second factor. The
    /// token works once; a wrong code leaves it for another try, within the lockout. The token
    /// is taken before the factor is judged, so requests racing on one token judge (and spend)
    /// one factor, not one each; a wrong factor puts the token back.
    pub async fn complete_mfa_login(
        &self,
        mfa_token: &str,
        factor: SecondFactor<'_>,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, DomainError> {
        let user = self.second_step(mfa_token, factor, client).await?;
        let issued = self.open_session(user, client, true).await?;
        self.audit_login_success(&issued.user, client, "with a second factor")
            .await?;
        Ok(issued)
    }

    /// The rules of `complete_mfa_login` up to the session: the account whose login this
    /// completes. The sign-in page takes the same step.
    pub(super) async fn second_step(
        &self,
        mfa_token: &str,
        factor: SecondFactor<'_>,
        client: &ClientInfo,
    ) -> Result<User, DomainError> {
        let now = self.ports().clock.now();
        let fingerprint = self.ports().mfa.fingerprints.of(mfa_token);
        let stores = &self.ports().stores;
        let challenge = stores
            .mfa
            .find_challenge(&fingerprint, now)
            .await?
            .ok_or(DomainError::InvalidMfaToken)?;
        // The password proven by the first step must still be the account's, and the account
        // active (a deactivation ends the logins waiting here).
        let fingerprints = &self.ports().mfa.fingerprints;
        let user = stores
            .users
            .find_by_id(challenge.user_id)
            .await?
            .filter(|user| {
                user.is_active
                    && fingerprints.of(&user.password_hash) == challenge.password_fingerprint
            })
            .ok_or(DomainError::InvalidMfaToken)?;
        // No session before verification (where required): refused before anything is spent.
        if self.policy().require_verified_email && !user.email_verified {
            return Err(DomainError::EmailNotVerified);
        }
        if !stores.mfa.take_challenge(&fingerprint, now).await? {
            return Err(DomainError::InvalidMfaToken);
        }
        if let Err(err) = self.spend_second_factor(&user, client, factor).await {
            if err == DomainError::MfaNotEnabled {
                return Err(DomainError::InvalidMfaToken);
            }
            // Not spent: the login may try again with the same token, until it expires (or
            // the account is deactivated, which puts nothing back).
            stores.mfa.open_challenge(&challenge).await?;
            return Err(err);
        }
        Ok(user)
    }

    /// Checks the caller's second factor and spends it: a time step once, a recovery code once.
    /// A wrong or spent one counts towards the lockout and is audited.
    pub async fn prove_second_factor(
        &self,
        principal: &Principal,
        factor: SecondFactor<'_>,
    ) -> Result<(), DomainError> {
        self.spend_second_factor(&principal.user, &principal.client, factor)
            .await
    }

    async fn spend_second_factor(
        &self,
        user: &User,
        client: &ClientInfo,
        factor: SecondFactor<'_>,
    ) -> Result<(), DomainError> {
        let mfa = &self.ports().stores.mfa;
        let enabled = mfa
            .find_totp(user.id)
            .await?
            .filter(|f| f.is_enabled())
            .ok_or(DomainError::MfaNotEnabled)?;
        let last_attempt = self.count_attempt(&ThrottleKey::Account(user.id)).await?;
        let spent = match factor {
            SecondFactor::Code(code) => match self.step_of(user, &enabled.sealed_secret, code)? {
                Some(step) => mfa.spend_totp_step(user.id, step).await?,
                None => false,
            },
            SecondFactor::RecoveryCode(code) => {
                let fingerprint = self
                    .ports()
                    .mfa
                    .fingerprints
                    .of(&normalised_recovery_code(code));
                let now = self.ports().clock.now();
                mfa.spend_recovery_code(user.id, &fingerprint, now).await?
            }
        };
        if !spent {
            if last_attempt {
                self.audit_lockout(Some(user.id), client).await?;
            }
            return Err(self.wrong_code(user, client, factor.field()).await);
        }
        // A right second factor is the whole proof: the failures before it are forgotten.
        clear_failures(self, user).await?;
        if let SecondFactor::RecoveryCode(_) = factor {
            self.audit_mfa(
                user,
                client,
                AuditEvent::RecoveryCodeUsed,
                AuditOutcome::Success,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// An admin turns a user's MFA off (a lost authenticator and lost recovery codes).
    pub async fn reset_mfa(&self, actor: &Principal, user_id: Uuid) -> Result<(), DomainError> {
        if !actor.user.is_admin() {
            return Err(DomainError::Forbidden);
        }
        if self
            .ports()
            .stores
            .users
            .find_by_id(user_id)
            .await?
            .is_none()
        {
            return Err(DomainError::UserNotFound);
        }
        if !self.ports().stores.mfa.remove_totp(user_id).await? {
            return Err(DomainError::MfaNotEnabled);
        }
        self.ports()
            .audit(Audit {
                event: AuditEvent::MfaDisabled,
                outcome: AuditOutcome::Success,
                user_id: Some(user_id),
                actor_id: Some(actor.user.id),
                client: &actor.client,
                detail: Some("reset by an admin"),
            })
            .await
    }

    /// The time step `code` is for, with the user's secret opened.
    fn step_of(&self, user: &User, sealed: &[u8], code: &str) -> Result<Option<i64>, DomainError> {
        let secret = self
            .ports()
            .mfa
            .sealer
            .open(sealed, &totp_purpose(user.id))
            .map_err(|err| DomainError::Internal(err.to_string()))?;
        let now = self.ports().clock.now().timestamp();
        Ok(self.ports().mfa.codes.step_of(&secret, code.trim(), now))
    }

    fn fingerprints_of(&self, recovery: &[String]) -> Vec<String> {
        let fingerprints = &self.ports().mfa.fingerprints;
        recovery
            .iter()
            .map(|code| fingerprints.of(&normalised_recovery_code(code)))
            .collect()
    }

    /// Checks the caller's password again, counting the attempt like a login.
    async fn prove_password(
        &self,
        principal: &Principal,
        password: &str,
        event: AuditEvent,
    ) -> Result<(), DomainError> {
        prove_password(
            self.ports(),
            self.policy().lockout(),
            principal,
            Some(password),
            PasswordField::Password,
            event,
        )
        .await
    }

    /// Audits a wrong code and says so; an audit that fails is the answer instead.
    async fn wrong_code(&self, user: &User, client: &ClientInfo, field: &str) -> DomainError {
        let audited = self
            .audit_mfa(
                user,
                client,
                AuditEvent::MfaFailure,
                AuditOutcome::Failure,
                None,
            )
            .await;
        audited.err().unwrap_or_else(|| invalid_code(field))
    }

    async fn audit_mfa(
        &self,
        user: &User,
        client: &ClientInfo,
        event: AuditEvent,
        outcome: AuditOutcome,
        detail: Option<&'static str>,
    ) -> Result<(), DomainError> {
        self.ports()
            .audit(Audit {
                event,
                outcome,
                user_id: Some(user.id),
                actor_id: None,
                client,
                detail,
            })
            .await
    }
}

#[cfg(test)]
#[path = "mfa_tests.rs"]
mod tests;
