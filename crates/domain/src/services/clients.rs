//! The clients admins register: service accounts, server-side apps and public apps, their
//! redirect URIs and their secrets (shown once, stored as keyed fingerprints).

use uuid::Uuid;

use super::auth::AuthService;
use super::ports::Audit;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientChanges, ClientKind, ClientRegistration, CreatedClient,
    MAX_REDIRECT_URIS, OAuthClient, Principal, redirect_uri_problem,
};
use crate::validation::{FieldError, is_hidden};

/// A client's name: what an admin recognises it by.
const CLIENT_NAME_MAX_CHARS: usize = 100;
/// v4 UUIDs in a client secret (244 random bits): guessing is hopeless, so a keyed fingerprint
/// is enough to store it, where a password needs a slow hash.
const CLIENT_SECRET_UUIDS: usize = 2;

impl AuthService {
    /// An admin registers a client; its secret, if its kind has one, is in the answer and
    /// nowhere else.
    pub async fn create_client(
        &self,
        actor: &Principal,
        registration: ClientRegistration,
    ) -> Result<CreatedClient, DomainError> {
        ensure_admin(actor)?;
        let mut errors = Vec::new();
        let name = checked_name(&registration.name, &mut errors);
        check_uris(
            registration.kind,
            "redirect_uris",
            &registration.redirect_uris,
            &mut errors,
        );
        check_uris(
            registration.kind,
            "post_logout_redirect_uris",
            &registration.post_logout_redirect_uris,
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let secret = registration.kind.has_secret().then(new_secret);
        let now = self.ports().clock.now();
        let client = OAuthClient {
            id: Uuid::new_v4(),
            name,
            kind: registration.kind,
            secret_fingerprint: secret.as_ref().map(|s| self.ports().mfa.fingerprints.of(s)),
            redirect_uris: registration.redirect_uris,
            post_logout_redirect_uris: registration.post_logout_redirect_uris,
            first_party: registration.first_party,
            require_par: registration.require_par,
            allow_password_grant: registration.allow_password_grant,
            created_at: now,
            updated_at: now,
        };
        self.ports().stores.clients.insert(&client).await?;
        tracing::info!(client_id = %client.id, kind = client.kind.as_str(), "client created");
        self.audit_client(actor, AuditEvent::ClientCreated).await?;
        Ok(CreatedClient { client, secret })
    }

    /// Changes the given fields of a client and nothing else (a change made meanwhile to
    /// another field stays). Its kind never changes, so the rules checked here still hold
    /// when the change lands.
    pub async fn update_client(
        &self,
        actor: &Principal,
        id: Uuid,
        changes: ClientChanges,
    ) -> Result<OAuthClient, DomainError> {
        ensure_admin(actor)?;
        let clients = &self.ports().stores.clients;
        let client = clients.find(id).await?.ok_or(DomainError::ClientNotFound)?;
        let mut errors = Vec::new();
        let name = changes
            .name
            .as_deref()
            .map(|name| checked_name(name, &mut errors));
        for (field, uris) in [
            ("redirect_uris", &changes.redirect_uris),
            (
                "post_logout_redirect_uris",
                &changes.post_logout_redirect_uris,
            ),
        ] {
            if let Some(uris) = uris {
                check_uris(client.kind, field, uris, &mut errors);
            }
        }
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let changes = ClientChanges { name, ..changes };
        if !clients
            .update(id, &changes, self.ports().clock.now())
            .await?
        {
            return Err(DomainError::ClientNotFound);
        }
        tracing::info!(client_id = %id, "client changed");
        self.audit_client(actor, AuditEvent::ClientUpdated).await?;
        clients.find(id).await?.ok_or(DomainError::ClientNotFound)
    }

    /// A new secret for a client that has one; the old one stops working at once.
    pub async fn new_client_secret(
        &self,
        actor: &Principal,
        id: Uuid,
    ) -> Result<CreatedClient, DomainError> {
        ensure_admin(actor)?;
        let clients = &self.ports().stores.clients;
        let client = clients.find(id).await?.ok_or(DomainError::ClientNotFound)?;
        if !client.kind.has_secret() {
            return Err(DomainError::Validation(vec![FieldError::new(
                "kind",
                "no_secret",
                "a public client has no secret: it proves itself with PKCE",
            )]));
        }
        let secret = new_secret();
        let fingerprint = self.ports().mfa.fingerprints.of(&secret);
        if !clients
            .set_secret(id, &fingerprint, self.ports().clock.now())
            .await?
        {
            return Err(DomainError::ClientNotFound);
        }
        tracing::info!(client_id = %id, "client secret replaced");
        self.audit_client(actor, AuditEvent::ClientSecretReplaced)
            .await?;
        let client = clients.find(id).await?.ok_or(DomainError::ClientNotFound)?;
        Ok(CreatedClient {
            client,
            secret: Some(secret),
        })
    }

    /// Every client, oldest first (admins only).
    pub async fn clients(&self, actor: &Principal) -> Result<Vec<OAuthClient>, DomainError> {
        ensure_admin(actor)?;
        Ok(self.ports().stores.clients.list().await?)
    }

    /// Deletes a client: its secret and every token it holds stop working at once.
    pub async fn delete_client(&self, actor: &Principal, id: Uuid) -> Result<(), DomainError> {
        ensure_admin(actor)?;
        if !self.ports().stores.clients.delete(id).await? {
            return Err(DomainError::ClientNotFound);
        }
        tracing::info!(client_id = %id, "client deleted");
        self.audit_client(actor, AuditEvent::ClientDeleted).await
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

/// The name trimmed, or a field error.
fn checked_name(name: &str, errors: &mut Vec<FieldError>) -> String {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > CLIENT_NAME_MAX_CHARS
        || name.chars().any(is_hidden)
    {
        errors.push(FieldError::new(
            "name",
            "invalid",
            "must be 1 to 100 characters, without control or format characters",
        ));
    }
    name.to_owned()
}

/// A service client has no redirect URIs (it never sends a browser anywhere); an app's are
/// each a valid redirect URI, at most 20, no two alike.
fn check_uris(kind: ClientKind, field: &str, uris: &[String], errors: &mut Vec<FieldError>) {
    if kind == ClientKind::Service && !uris.is_empty() {
        errors.push(FieldError::new(
            field,
            "not_allowed",
            "a service client uses client_credentials only: it has no redirect URIs",
        ));
        return;
    }
    if uris.len() > MAX_REDIRECT_URIS {
        errors.push(FieldError::new(field, "too_many", "at most 20"));
        return;
    }
    for (index, uri) in uris.iter().enumerate() {
        if let Some(problem) = redirect_uri_problem(uri) {
            errors.push(FieldError::new(
                &format!("{field}[{index}]"),
                "invalid_uri",
                problem,
            ));
        } else if uris[..index].contains(uri) {
            errors.push(FieldError::new(
                &format!("{field}[{index}]"),
                "duplicate",
                "is listed twice",
            ));
        }
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
#[path = "clients_tests.rs"]
mod tests;
