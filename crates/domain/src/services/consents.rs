//! The grants people gave apps that are not first-party: listed by their owner, and withdrawn,
//! which ends every session of theirs that holds the app's tokens.

use uuid::Uuid;

use super::auth::AuthService;
use super::ports::Audit;
use crate::error::DomainError;
use crate::model::{AuditEvent, AuditOutcome, Consent, Principal};

/// A grant, with the name of the app it went to (`None` if the app is gone).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantedConsent {
    pub consent: Consent,
    pub client_name: Option<String>,
}

impl AuthService {
    /// The caller's grants, oldest first.
    pub async fn consents(
        &self,
        principal: &Principal,
    ) -> Result<Vec<GrantedConsent>, DomainError> {
        let stores = &self.ports().stores;
        let mut granted = Vec::new();
        for consent in stores.consents.list_consents(principal.user.id).await? {
            let client_name = stores
                .clients
                .find(consent.client_id)
                .await?
                .map(|client| client.name);
            granted.push(GrantedConsent {
                consent,
                client_name,
            });
        }
        Ok(granted)
    }

    /// Withdraws the caller's grant to `client_id`, and revokes that app's tokens of theirs.
    pub async fn withdraw_consent(
        &self,
        principal: &Principal,
        client_id: Uuid,
    ) -> Result<(), DomainError> {
        let stores = &self.ports().stores;
        if !stores
            .consents
            .withdraw_consent(principal.user.id, client_id)
            .await?
        {
            return Err(DomainError::ClientNotFound);
        }
        let now = self.ports().clock.now();
        let revoked = stores
            .sessions
            .revoke_for_client(principal.user.id, client_id, now)
            .await?;
        tracing::info!(user_id = %principal.user.id, %client_id, sessions = revoked, "consent withdrawn");
        self.ports()
            .audit(Audit {
                event: AuditEvent::ConsentWithdrawn,
                outcome: AuditOutcome::Success,
                user_id: Some(principal.user.id),
                actor_id: None,
                client: &principal.client,
                detail: None,
            })
            .await
    }
}
