//! What OAuth 2.0 adds to the user flows: client authentication, the `client_credentials`
//! grant and token introspection (RFC 7662). Registering clients is in `clients.rs`.

use uuid::Uuid;

use super::auth::AuthService;
use crate::error::DomainError;
use crate::model::{
    Claims, ClientInfo, ClientKind, ClientToken, Introspection, LoginOutcome, OAuthClient,
    TokenType,
};

impl AuthService {
    /// The client whose id and secret these are. One answer for an unknown id and a wrong
    /// secret, after the same work.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<OAuthClient, DomainError> {
        let fingerprint = self.ports().mfa.fingerprints.of(secret);
        let client = match parse_client_id(client_id) {
            Some(id) => self.ports().stores.clients.find(id).await?,
            None => None,
        };
        // A public client has no secret: nothing authenticates as it.
        match client.filter(|client| client.secret_fingerprint.as_ref() == Some(&fingerprint)) {
            Some(client) => Ok(client),
            None => {
                tracing::info!("client authentication failed");
                Err(DomainError::InvalidClient)
            }
        }
    }

    /// The public client a `client_id` alone names. A client that has a secret must present
    /// it: naming it is not enough. One answer for an unknown id and a client with a secret.
    pub async fn public_client(&self, client_id: &str) -> Result<OAuthClient, DomainError> {
        let client = match parse_client_id(client_id) {
            Some(id) => self.ports().stores.clients.find(id).await?,
            None => None,
        };
        client
            .filter(|client| client.kind == ClientKind::Public)
            .ok_or_else(|| {
                tracing::info!("client authentication failed");
                DomainError::InvalidClient
            })
    }

    /// The password grant (RFC 6749 §4.3), which RFC 9700 §2.4 says MUST NOT be used: an app
    /// (a `confidential` or `public` client) gets it only where an admin allowed it, and a
    /// request from no client only while the operator has not turned it off. The rules of
    /// `login` apply as they are.
    pub async fn password_grant(
        &self,
        login: &str,
        password: &str,
        client: Option<&OAuthClient>,
        info: &ClientInfo,
    ) -> Result<LoginOutcome, DomainError> {
        let allowed = match client {
            None => self.policy().password_grant,
            Some(client) => client.kind == ClientKind::Service || client.allow_password_grant,
        };
        if !allowed {
            return Err(DomainError::UnauthorizedClient);
        }
        self.login(login, password, info).await
    }

    /// The `client_credentials` grant: an access token whose subject is the client itself,
    /// with no role, no session and no refresh token. Service clients only: an app's tokens
    /// come from its users.
    pub fn client_token(&self, client: &OAuthClient) -> Result<ClientToken, DomainError> {
        if client.kind != ClientKind::Service {
            return Err(DomainError::UnauthorizedClient);
        }
        let now = self.ports().clock.now();
        let policy = self.policy();
        let claims = Claims {
            iss: policy.issuer.clone(),
            aud: policy.audience.clone(),
            sub: client.id,
            exp: (now + policy.access_ttl).timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            sid: None,
            token_type: TokenType::Access,
            role: None,
            amr: Vec::new(),
            client_id: Some(client.id),
            scope: None,
            azp: None,
        };
        Ok(ClientToken {
            access_token: self.ports().tokens.encode(&claims)?,
            expires_in: claims.exp - claims.iat,
        })
    }

    /// RFC 7662: what `token` is worth now, read from the store (never from a cache), or
    /// `None` for anything not live: not ours, expired, a session logged out, a refresh token
    /// already used, a user deactivated or deleted, a client deleted. A service client's own
    /// token, and a refresh token a client holds, are described to that client only (`caller`).
    pub async fn introspect(
        &self,
        token: &str,
        caller: &OAuthClient,
    ) -> Result<Option<Introspection>, DomainError> {
        let Ok(claims) = self.decode(token).await else {
            return Ok(None);
        };
        let now = self.ports().clock.now();
        let leeway = self.policy().leeway.num_seconds();
        let timestamp = now.timestamp();
        if !self.is_ours(&claims)
            || claims.nbf > timestamp + leeway
            || claims.iat > timestamp + leeway
            || timestamp >= claims.exp + leeway
            || !self.within_lifetime(&claims)
        {
            return Ok(None);
        }
        // A service client's own token (an app's user tokens have a session).
        if let Some(client_id) = claims.client_id.filter(|_| claims.sid.is_none()) {
            let live = claims.token_type == TokenType::Access
                && claims.sub == client_id
                && client_id == caller.id
                && self.ports().stores.clients.find(client_id).await?.is_some();
            return Ok(live.then_some(Introspection {
                claims,
                username: None,
            }));
        }
        // A client's refresh token is that client's business alone (its access tokens are for
        // any resource server to ask about).
        if claims.token_type == TokenType::Refresh && claims.azp.is_some_and(|c| c != caller.id) {
            return Ok(None);
        }
        let Some(sid) = claims.sid else {
            return Ok(None);
        };
        let Some(session) = self
            .ports()
            .stores
            .sessions
            .find(sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.is_active(now))
        else {
            return Ok(None);
        };
        if claims.token_type == TokenType::Refresh && claims.jti != session.refresh_jti {
            return Ok(None);
        }
        let Some(user) = self
            .ports()
            .stores
            .users
            .find_by_id(claims.sub)
            .await?
            .filter(|u| u.is_active)
        else {
            return Ok(None);
        };
        // What the user is now, as every request of theirs is judged: not what the token said.
        let role = claims.role.map(|_| user.role);
        Ok(Some(Introspection {
            claims: Claims { role, ..claims },
            username: Some(user.username),
        }))
    }
}

/// Only the id as it was handed out: one client, one spelling.
fn parse_client_id(client_id: &str) -> Option<Uuid> {
    Uuid::parse_str(client_id)
        .ok()
        .filter(|id| id.to_string() == client_id)
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
