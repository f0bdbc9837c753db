//! Service clients and what OAuth 2.0 adds to the user flows: the `client_credentials` grant,
//! client authentication and token introspection (RFC 7662).

use uuid::Uuid;

use super::auth::AuthService;
use super::ports::Audit;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, Claims, ClientToken, CreatedClient, Introspection, Principal,
    ServiceClient, TokenType,
};
use crate::validation::{FieldError, is_hidden};

/// A client's name: what an admin recognises it by.
const CLIENT_NAME_MAX_CHARS: usize = 100;
/// v4 UUIDs in a client secret (244 random bits): guessing is hopeless, so a keyed fingerprint
/// is enough to store it, where a password needs a slow hash.
const CLIENT_SECRET_UUIDS: usize = 2;

impl AuthService {
    /// An admin registers a service client; its secret is in the answer and nowhere else.
    pub async fn create_client(
        &self,
        actor: &Principal,
        name: &str,
    ) -> Result<CreatedClient, DomainError> {
        ensure_admin(actor)?;
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > CLIENT_NAME_MAX_CHARS
            || name.chars().any(is_hidden)
        {
            return Err(DomainError::Validation(vec![FieldError::new(
                "name",
                "invalid",
                "must be 1 to 100 characters, without control or format characters",
            )]));
        }
        let secret = new_secret();
        let client = ServiceClient {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            secret_fingerprint: self.ports().mfa.fingerprints.of(&secret),
            created_at: self.ports().clock.now(),
        };
        self.ports().stores.clients.insert(&client).await?;
        tracing::info!(client_id = %client.id, "service client created");
        self.audit_client(actor, AuditEvent::ClientCreated).await?;
        Ok(CreatedClient { client, secret })
    }

    /// Every service client, oldest first (admins only).
    pub async fn clients(&self, actor: &Principal) -> Result<Vec<ServiceClient>, DomainError> {
        ensure_admin(actor)?;
        Ok(self.ports().stores.clients.list().await?)
    }

    /// Deletes a service client: its secret and every token it holds stop working at once.
    pub async fn delete_client(&self, actor: &Principal, id: Uuid) -> Result<(), DomainError> {
        ensure_admin(actor)?;
        if !self.ports().stores.clients.delete(id).await? {
            return Err(DomainError::ClientNotFound);
        }
        tracing::info!(client_id = %id, "service client deleted");
        self.audit_client(actor, AuditEvent::ClientDeleted).await
    }

    /// The client whose id and secret these are. One answer for an unknown id and a wrong
    /// secret, after the same work.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ServiceClient, DomainError> {
        let fingerprint = self.ports().mfa.fingerprints.of(secret);
        // Only the id as it was handed out: one client, one spelling.
        let id = Uuid::parse_str(client_id)
            .ok()
            .filter(|id| id.to_string() == client_id);
        let client = match id {
            Some(id) => self.ports().stores.clients.find(id).await?,
            None => None,
        };
        match client.filter(|client| client.secret_fingerprint == fingerprint) {
            Some(client) => Ok(client),
            None => {
                tracing::info!("client authentication failed");
                Err(DomainError::InvalidClient)
            }
        }
    }

    /// The `client_credentials` grant: an access token whose subject is the client itself,
    /// with no role, no session and no refresh token.
    pub fn client_token(&self, client: &ServiceClient) -> Result<ClientToken, DomainError> {
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
        caller: &ServiceClient,
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
        if let Some(client_id) = claims.client_id {
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

    async fn audit_client(&self, actor: &Principal, event: AuditEvent) -> Result<(), DomainError> {
        self.ports()
            .audit(Audit {
                event,
                outcome: AuditOutcome::Success,
                user_id: None,
                actor_id: Some(actor.user.id),
                client: &actor.client,
                detail: None,
            })
            .await
    }
}

fn ensure_admin(actor: &Principal) -> Result<(), DomainError> {
    if actor.user.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden)
    }
}

/// Random bits from the operating system (through v4 UUIDs), as 64 hex digits.
fn new_secret() -> String {
    (0..CLIENT_SECRET_UUIDS)
        .map(|_| Uuid::new_v4().simple().to_string())
        .collect()
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
