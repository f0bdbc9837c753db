//! The authorization code grant (RFC 6749 §4.1 with PKCE, RFC 7636): a code is issued to a
//! person signed in through a browser session and exchanged, once, by the client it was issued
//! to, at the redirect URI it was sent to, with the verifier of its challenge.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::auth::AuthService;
use super::browser::BrowserSession;
use super::ports::Audit;
use crate::error::{DomainError, Refusal};
use crate::model::{
    AuditEvent, AuditOutcome, AuthorizationCode, AuthorizationRequest, AuthorizationStep,
    CheckedRequest, ClientInfo, ClientKind, CodeRedemption, IdTokenClaims, IssuedTokens,
    OAuthClient, PersonClaims, Prompt, Scope, Scopes, Session, TokenType, User, UserInfo,
};

/// v4 UUIDs in a code: 244 random bits, beyond RFC 6749 §10.10's 128.
const CODE_UUIDS: usize = 2;
/// `state` and `nonce` are the client's to choose, within reason: they travel in URLs.
const MAX_STATE_BYTES: usize = 1024;
const MAX_NONCE_BYTES: usize = 512;
/// A hint is a login: a username or an address.
const MAX_LOGIN_HINT_BYTES: usize = 320;

/// Refuses with a page: the client or its redirect URI is not known good.
fn on_page(error: &'static str, description: &str) -> DomainError {
    DomainError::AuthorizationRefused(Box::new(Refusal {
        error,
        description: description.to_owned(),
        redirect: None,
    }))
}

/// Refuses by sending the person back to the client.
fn back_to(request: &CheckedRequest, error: &'static str, description: &str) -> DomainError {
    DomainError::AuthorizationRefused(Box::new(Refusal {
        error,
        description: description.to_owned(),
        redirect: Some((request.redirect_uri.clone(), request.state.clone())),
    }))
}

/// What an authorization grants, as the authorization endpoint decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub client_id: Uuid,
    pub redirect_uri: String,
    pub user_id: Uuid,
    /// The browser session the person signed in with.
    pub browser_session: Uuid,
    pub scopes: Scopes,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
}

/// What the token endpoint is given for the code grant.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: &'a str,
}

/// The tokens a code gave.
#[derive(Debug, Clone)]
pub struct CodeTokens {
    pub tokens: IssuedTokens,
    /// With the `openid` scope.
    pub id_token: Option<String>,
    pub scopes: Scopes,
    /// The session the tokens belong to (the ID token's `sid`).
    pub session_id: Uuid,
}

impl AuthService {
    /// Checks an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core
    /// §3.1.2.1). Until the client and its redirect URI are known good, a refusal is for a page;
    /// after, for the client. PKCE S256 is required of every client; `pushed`: the request
    /// came through PAR (a client with `require_par` must use it).
    pub async fn check_authorization(
        &self,
        request: &AuthorizationRequest,
        pushed: bool,
    ) -> Result<CheckedRequest, DomainError> {
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(|| on_page("invalid_request", "client_id is missing"))?;
        let client = match Uuid::try_parse(client_id) {
            Ok(id) if id.to_string() == client_id => self.ports().stores.clients.find(id).await?,
            _ => None,
        }
        // A service client has no users to sign in.
        .filter(|client| client.kind != ClientKind::Service)
        .ok_or_else(|| on_page("invalid_client", "no such client"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| on_page("invalid_request", "redirect_uri is missing"))?;
        if !client.accepts_redirect(redirect_uri) {
            return Err(on_page(
                "invalid_request",
                "redirect_uri is not one of this client's redirect URIs",
            ));
        }
        let state = request.state.clone().filter(|s| !s.is_empty());
        let mut checked = CheckedRequest {
            client,
            redirect_uri: redirect_uri.to_owned(),
            scopes: Scopes::default(),
            // Kept even when too long, so that the refusal carries the state it was sent with
            // (cut, it would not be the client's).
            state,
            nonce: None,
            code_challenge: String::new(),
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
        };
        if checked
            .state
            .as_ref()
            .is_some_and(|s| s.len() > MAX_STATE_BYTES)
        {
            checked.state = None;
            return Err(back_to(
                &checked,
                "invalid_request",
                "state is longer than 1024 bytes",
            ));
        }
        if checked.client.require_par && !pushed {
            return Err(back_to(
                &checked,
                "invalid_request",
                "this client must push its authorization requests (PAR, RFC 9126)",
            ));
        }
        match request.response_type.as_deref() {
            Some("code") => {}
            None => {
                return Err(back_to(
                    &checked,
                    "invalid_request",
                    "response_type is missing",
                ));
            }
            Some(_) => {
                return Err(back_to(
                    &checked,
                    "unsupported_response_type",
                    "response_type must be code",
                ));
            }
        }
        checked.scopes =
            Scopes::parse(request.scope.as_deref().unwrap_or_default()).map_err(|unknown| {
                back_to(
                    &checked,
                    "invalid_scope",
                    &format!("unknown scope {unknown:?}"),
                )
            })?;
        checked.code_challenge = match (
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        ) {
            (Some(challenge), Some("S256")) if is_challenge(challenge) => challenge.to_owned(),
            (Some(_), Some("S256")) => {
                return Err(back_to(
                    &checked,
                    "invalid_request",
                    "code_challenge must be 43 base64url characters (S256)",
                ));
            }
            (None, _) => {
                return Err(back_to(
                    &checked,
                    "invalid_request",
                    "code_challenge is required (PKCE with S256)",
                ));
            }
            (Some(_), _) => {
                return Err(back_to(
                    &checked,
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
        };
        checked.nonce = request.nonce.clone().filter(|n| !n.is_empty());
        if checked
            .nonce
            .as_ref()
            .is_some_and(|n| n.len() > MAX_NONCE_BYTES)
        {
            return Err(back_to(
                &checked,
                "invalid_request",
                "nonce is longer than 512 bytes",
            ));
        }
        checked.prompt = parse_prompt(request.prompt.as_deref()).ok_or_else(|| {
            back_to(
                &checked,
                "invalid_request",
                "prompt is none, login or consent; none alone",
            )
        })?;
        checked.max_age = match request.max_age.as_deref() {
            None | Some("") => None,
            // Any non-negative number of seconds; beyond what a clock holds is no limit.
            Some(value) if value.bytes().all(|b| b.is_ascii_digit()) => {
                Some(value.parse::<i64>().unwrap_or(i64::MAX))
            }
            Some(_) => {
                return Err(back_to(
                    &checked,
                    "invalid_request",
                    "max_age is a number of seconds",
                ));
            }
        };
        checked.login_hint = request
            .login_hint
            .clone()
            .filter(|hint| !hint.is_empty() && hint.len() <= MAX_LOGIN_HINT_BYTES);
        Ok(checked)
    }

    /// What a checked request needs next, for the browser session there is (if any). With
    /// `prompt=none` it never needs a page: the need is the refusal (`login_required`,
    /// `consent_required`).
    pub async fn authorize(
        &self,
        request: &CheckedRequest,
        browser: Option<&BrowserSession>,
        info: &ClientInfo,
    ) -> Result<AuthorizationStep, DomainError> {
        let now = self.ports().clock.now();
        let signed_in = browser.filter(|b| {
            !request.prompt.login
                && request
                    .max_age
                    .is_none_or(|max| (now - b.session.created_at).num_seconds() <= max)
        });
        let Some(browser) = signed_in else {
            if request.prompt.none {
                return Err(back_to(
                    request,
                    "login_required",
                    "the person is not signed in",
                ));
            }
            return Ok(AuthorizationStep::SignIn);
        };
        if !request.client.first_party {
            let granted = self
                .ports()
                .stores
                .consents
                .find_consent(browser.user.id, request.client.id)
                .await?;
            let covered = granted.is_some_and(|g| request.scopes.is_within(&g));
            if !covered || request.prompt.consent {
                if request.prompt.none {
                    return Err(back_to(
                        request,
                        "consent_required",
                        "the person has not consented to these scopes",
                    ));
                }
                return Ok(AuthorizationStep::Consent);
            }
        }
        self.authorized(request, browser, info).await
    }

    /// The person allowed the client the scopes asked for: remembered, and the code given.
    pub async fn consent(
        &self,
        request: &CheckedRequest,
        browser: &BrowserSession,
        info: &ClientInfo,
    ) -> Result<AuthorizationStep, DomainError> {
        let now = self.ports().clock.now();
        self.ports()
            .stores
            .consents
            .grant_consent(browser.user.id, request.client.id, &request.scopes, now)
            .await?;
        self.audit_authorization(AuditEvent::ConsentGranted, browser, info)
            .await?;
        self.authorized(request, browser, info).await
    }

    /// The person declined: the client hears `access_denied`.
    pub fn denied(&self, request: &CheckedRequest) -> DomainError {
        back_to(request, "access_denied", "the person declined")
    }

    async fn authorized(
        &self,
        request: &CheckedRequest,
        browser: &BrowserSession,
        info: &ClientInfo,
    ) -> Result<AuthorizationStep, DomainError> {
        let code = self
            .issue_code(Grant {
                client_id: request.client.id,
                redirect_uri: request.redirect_uri.clone(),
                user_id: browser.user.id,
                browser_session: browser.session.id,
                scopes: request.scopes.clone(),
                code_challenge: request.code_challenge.clone(),
                nonce: request.nonce.clone(),
                auth_time: browser.session.created_at,
                amr: browser.session.amr(),
            })
            .await?;
        self.audit_authorization(AuditEvent::OAuthAuthorized, browser, info)
            .await?;
        Ok(AuthorizationStep::Code(code))
    }

    async fn audit_authorization(
        &self,
        event: AuditEvent,
        browser: &BrowserSession,
        info: &ClientInfo,
    ) -> Result<(), DomainError> {
        self.ports()
            .audit(Audit {
                event,
                outcome: AuditOutcome::Success,
                user_id: Some(browser.user.id),
                actor_id: None,
                client: info,
                detail: None,
            })
            .await
    }

    /// A new code for `grant`: returned once, stored as its fingerprint, alive for the code
    /// lifetime of the policy.
    pub async fn issue_code(&self, grant: Grant) -> Result<String, DomainError> {
        let code: String = (0..CODE_UUIDS)
            .map(|_| Uuid::new_v4().simple().to_string())
            .collect();
        let now = self.ports().clock.now();
        let stored = AuthorizationCode {
            fingerprint: self.ports().mfa.fingerprints.of(&code),
            client_id: grant.client_id,
            redirect_uri: grant.redirect_uri,
            user_id: grant.user_id,
            browser_session: grant.browser_session,
            scopes: grant.scopes,
            code_challenge: grant.code_challenge,
            nonce: grant.nonce,
            auth_time: grant.auth_time,
            amr: grant.amr,
            created_at: now,
            expires_at: now + self.policy().code_ttl,
        };
        self.ports()
            .stores
            .authorization_codes
            .insert(&stored)
            .await?;
        Ok(code)
    }

    /// The code grant. `client` is the client the request comes from (authenticated, or a
    /// public client named by its id). The code is spent by this call whatever follows; a code
    /// spent before revokes the session its first use opened (RFC 6749 §4.1.2).
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        exchange: CodeExchange<'_>,
        info: &ClientInfo,
    ) -> Result<CodeTokens, DomainError> {
        if client.kind == ClientKind::Service {
            return Err(DomainError::UnauthorizedClient);
        }
        let fingerprint = self.ports().mfa.fingerprints.of(exchange.code);
        let session_id = Uuid::new_v4();
        let now = self.ports().clock.now();
        let codes = &self.ports().stores.authorization_codes;
        let code = match codes.redeem(&fingerprint, session_id, now).await? {
            CodeRedemption::Unknown => return Err(DomainError::InvalidGrant),
            CodeRedemption::Replayed { session_id, code } => {
                self.code_reused(session_id, &code, info).await?;
                return Err(DomainError::InvalidGrant);
            }
            CodeRedemption::Redeemed(code) => code,
        };
        // Bound to its client, its redirect URI and its challenge (RFC 6749 §4.1.3, RFC 7636
        // §4.6): anything else and the code is spent for nothing.
        if code.client_id != client.id
            || code.redirect_uri != exchange.redirect_uri
            || !is_verifier(exchange.code_verifier)
            || self.ports().pkce.challenge_of(exchange.code_verifier) != code.code_challenge
        {
            tracing::info!(client_id = %client.id, "authorization code refused");
            return Err(DomainError::InvalidGrant);
        }
        // Worth nothing once the sign-in behind it ended (a sign-out, a password change), or
        // the consent was withdrawn.
        let browser = self
            .standing_sign_in(client, &code, now)
            .await?
            .ok_or(DomainError::InvalidGrant)?;
        let user = self
            .ports()
            .stores
            .users
            .find_by_id(code.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(DomainError::InvalidGrant)?;
        let info = ClientInfo {
            oauth_client: Some(client.id),
            ..info.clone()
        };
        let session = self.new_session(session_id, &user, &info, browser.mfa);
        let tokens = self
            .open(session, user, &info, Some(code.scopes.to_string()))
            .await
            .map_err(|err| match err {
                DomainError::InvalidCredentials => DomainError::InvalidGrant,
                other => other,
            })?;
        // A replay that landed between the redemption and this session found nothing to
        // revoke: it is seen here, and the session goes.
        if codes.replayed(&fingerprint).await? {
            self.code_reused(session_id, &code, &info).await?;
            return Err(DomainError::InvalidGrant);
        }
        // Likewise a sign-out, or a consent withdrawn, that landed while the session opened:
        // read again after it, and the session goes.
        if self.standing_sign_in(client, &code, now).await?.is_none() {
            self.ports().stores.sessions.revoke(session_id, now).await?;
            return Err(DomainError::InvalidGrant);
        }
        let id_token = code
            .scopes
            .contains(Scope::OpenId)
            .then(|| self.id_token(client, &code, &tokens.user, session_id, now))
            .transpose()?;
        Ok(CodeTokens {
            tokens,
            id_token,
            scopes: code.scopes,
            session_id,
        })
    }

    /// The browser session a code came from, while it lives and, for an app that is not
    /// first-party, the person's consent still covers the code's scopes.
    async fn standing_sign_in(
        &self,
        client: &OAuthClient,
        code: &AuthorizationCode,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, DomainError> {
        let stores = &self.ports().stores;
        let Some(browser) = stores
            .sessions
            .find(code.browser_session)
            .await?
            .filter(|s| s.user_id == code.user_id && s.is_active(now))
        else {
            return Ok(None);
        };
        if client.first_party {
            return Ok(Some(browser));
        }
        let granted = stores
            .consents
            .find_consent(code.user_id, client.id)
            .await?;
        Ok(granted
            .is_some_and(|g| code.scopes.is_within(&g))
            .then_some(browser))
    }

    /// The ID token of a code's sign-in (OpenID Connect Core §2, §5.4: the scopes' claims).
    fn id_token(
        &self,
        client: &OAuthClient,
        code: &AuthorizationCode,
        user: &User,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<String, DomainError> {
        let claims = IdTokenClaims {
            iss: self.policy().issuer.clone(),
            sub: user.id,
            aud: client.id.to_string(),
            exp: (now + self.policy().access_ttl).timestamp(),
            iat: now.timestamp(),
            auth_time: code.auth_time.timestamp(),
            nonce: code.nonce.clone(),
            amr: code.amr.clone(),
            azp: client.id.to_string(),
            sid: session_id,
            person: PersonClaims::of(user, &code.scopes),
        };
        self.ports().tokens.encode_id_token(&claims)
    }

    /// OpenID Connect's userinfo (Core §5.3): the person behind an app's access token granted
    /// `openid`, and the claims of its other scopes. The token must be live, as everywhere.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, DomainError> {
        let claims = self.verify_token(access_token, TokenType::Access).await?;
        let scopes = claims
            .scope
            .as_deref()
            .and_then(|granted| Scopes::parse(granted).ok())
            .unwrap_or_default();
        if !scopes.contains(Scope::OpenId) {
            return Err(DomainError::InsufficientScope);
        }
        if let Some(app) = claims.client_id {
            self.ports()
                .stores
                .clients
                .find(app)
                .await?
                .ok_or(DomainError::TokenRevoked)?;
        }
        let (_, user) = self.live_user_session(&claims).await?;
        Ok(UserInfo {
            sub: user.id,
            person: PersonClaims::of(&user, &scopes),
        })
    }

    /// A code used again: what its first use gave is revoked, and the event recorded.
    async fn code_reused(
        &self,
        session_id: Uuid,
        code: &AuthorizationCode,
        info: &ClientInfo,
    ) -> Result<(), DomainError> {
        let now = self.ports().clock.now();
        self.ports().stores.sessions.revoke(session_id, now).await?;
        tracing::warn!(client_id = %code.client_id, user_id = %code.user_id, "authorization code reused; its tokens revoked");
        self.ports()
            .audit(Audit {
                event: AuditEvent::CodeReused,
                outcome: AuditOutcome::Failure,
                user_id: Some(code.user_id),
                actor_id: None,
                client: info,
                detail: Some("authorization code presented again; the tokens it gave are revoked"),
            })
            .await
    }
}

/// `none`, or any of `login` and `consent`; unknown values are refused, not ignored.
fn parse_prompt(value: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    for word in value
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
    {
        match word {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => return None,
        }
    }
    (!prompt.none || !(prompt.login || prompt.consent)).then_some(prompt)
}

/// An S256 challenge: BASE64URL of 32 bytes, unpadded.
fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
#[path = "authorization_tests.rs"]
mod tests;
