//! Single sign-on: a sign-in on the hosted pages opens a session of kind `browser`, named by a
//! cookie, under the same rules as a login over the API (the same password step, the same second
//! step). While it lives (its lifetime, and an idle limit), authorizing any client needs no new
//! sign-in.
//!
//! The cookie is the session's id and a keyed fingerprint of the id and the session's random
//! refresh `jti` (never handed out for a browser session): the store alone cannot make one, and a
//! revoked or expired session makes its cookie worthless.

use chrono::Duration;
use uuid::Uuid;

use super::auth::{AuthService, PasswordStep};
use super::mfa::SecondFactor;
use super::ports::Audit;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, LoginOutcome, Session, SessionKind, User,
};

/// A session's `last_used_at` is written at most this often.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// How a sign-in on the pages ended.
#[derive(Debug)]
pub enum BrowserSignIn {
    SignedIn(Box<BrowserSession>),
    /// The account has MFA on: the second step's page takes this token and a code.
    SecondFactor {
        mfa_token: String,
    },
}

/// A live browser session, its user, and the cookie that names it.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session: Session,
    pub user: User,
    pub cookie: String,
}

impl AuthService {
    /// The sign-in page's password step: `login`'s rules exactly (lockout, enumeration safety,
    /// deactivation, verified addresses, MFA).
    pub async fn browser_sign_in(
        &self,
        login: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<BrowserSignIn, DomainError> {
        match self.password_step(login, password, client).await? {
            PasswordStep::Verified(user) => self
                .open_browser_session(user, client, false)
                .await
                .map(|signed| BrowserSignIn::SignedIn(Box::new(signed))),
            PasswordStep::SecondFactor(LoginOutcome::MfaRequired { mfa_token, .. }) => {
                Ok(BrowserSignIn::SecondFactor { mfa_token })
            }
            PasswordStep::SecondFactor(LoginOutcome::Tokens(_)) => {
                Err(DomainError::Internal("a password step gave tokens".into()))
            }
        }
    }

    /// The sign-in page's second step: `complete_mfa_login`'s rules exactly.
    pub async fn browser_second_step(
        &self,
        mfa_token: &str,
        factor: SecondFactor<'_>,
        client: &ClientInfo,
    ) -> Result<BrowserSession, DomainError> {
        let user = self.second_step(mfa_token, factor, client).await?;
        let signed_in = self.open_browser_session(user, client, true).await?;
        self.audit_login_success(&signed_in.user, client, "with a second factor")
            .await?;
        Ok(signed_in)
    }

    /// The live browser session `cookie` names, if any: not revoked, not past its lifetime,
    /// not idle for longer than the idle limit, and its user active.
    pub async fn browser_session(
        &self,
        cookie: &str,
    ) -> Result<Option<BrowserSession>, DomainError> {
        let Some(id) = cookie
            .split_once('.')
            .and_then(|(id, _)| Uuid::try_parse(id).ok())
        else {
            return Ok(None);
        };
        let now = self.ports().clock.now();
        let Some((session, user)) = self.ports().stores.sessions.find_with_user(id).await? else {
            return Ok(None);
        };
        let idle = now - session.last_used_at >= self.policy().sso_idle;
        if session.kind != SessionKind::Browser
            || !session.is_active(now)
            || idle
            || !user.is_active
            || !same(cookie, &self.cookie_of(&session))
        {
            return Ok(None);
        }
        if now - session.last_used_at >= Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            self.ports().stores.sessions.touch(session.id, now).await?;
        }
        Ok(Some(BrowserSession {
            cookie: cookie.to_owned(),
            session,
            user,
        }))
    }

    async fn open_browser_session(
        &self,
        user: User,
        client: &ClientInfo,
        mfa: bool,
    ) -> Result<BrowserSession, DomainError> {
        let session = Session {
            kind: SessionKind::Browser,
            expires_at: self.ports().clock.now() + self.policy().sso_ttl,
            ..self.new_session(Uuid::new_v4(), &user, client, mfa)
        };
        self.store_session(&session, &user).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, "signed in on the pages");
        self.ports()
            .audit(Audit {
                event: AuditEvent::SsoSignin,
                outcome: AuditOutcome::Success,
                user_id: Some(user.id),
                actor_id: None,
                client,
                detail: None,
            })
            .await?;
        Ok(BrowserSession {
            cookie: self.cookie_of(&session),
            session,
            user,
        })
    }

    fn cookie_of(&self, session: &Session) -> String {
        let mac = self.ports().mfa.fingerprints.of(&format!(
            "browser-session:{}:{}",
            session.id, session.refresh_jti
        ));
        format!("{}.{mac}", session.id.simple())
    }
}

/// Compares in time that depends on the lengths only.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
#[path = "browser_tests.rs"]
mod tests;
