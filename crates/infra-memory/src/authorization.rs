//! Authorization codes, spent under the state's one lock as the diesel adapter's conditional
//! UPDATE spends them; and the consents people gave clients.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{
    AuthorizationCode, AuthorizationCodeRepository, CodeRedemption, Consent, ConsentRepository,
    Scopes, StoreError,
};
use uuid::Uuid;

use crate::MemoryStore;

/// A code and what became of it.
pub(crate) struct StoredCode {
    pub code: AuthorizationCode,
    /// The session its first use recorded.
    spent_for: Option<Uuid>,
    replayed: bool,
}

#[async_trait]
impl AuthorizationCodeRepository for MemoryStore {
    async fn insert(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let mut state = self.state();
        if state.authorization_codes.contains_key(&code.fingerprint) {
            return Err(StoreError::Conflict);
        }
        state.authorization_codes.insert(
            code.fingerprint.clone(),
            StoredCode {
                code: code.clone(),
                spent_for: None,
                replayed: false,
            },
        );
        Ok(())
    }

    async fn redeem(
        &self,
        fingerprint: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption> {
        let mut state = self.state();
        let Some(stored) = state.authorization_codes.get_mut(fingerprint) else {
            return Ok(CodeRedemption::Unknown);
        };
        match stored.spent_for {
            Some(first) => {
                stored.replayed = true;
                Ok(CodeRedemption::Replayed {
                    session_id: first,
                    code: stored.code.clone(),
                })
            }
            None if now < stored.code.expires_at => {
                stored.spent_for = Some(session_id);
                Ok(CodeRedemption::Redeemed(stored.code.clone()))
            }
            None => Ok(CodeRedemption::Unknown),
        }
    }

    async fn replayed(&self, fingerprint: &str) -> StoreResult<bool> {
        Ok(self
            .state()
            .authorization_codes
            .get(fingerprint)
            .is_some_and(|stored| stored.replayed))
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state();
        let count = state.authorization_codes.len();
        state
            .authorization_codes
            .retain(|_, stored| stored.code.expires_at >= before);
        Ok((count - state.authorization_codes.len()) as u64)
    }
}

#[async_trait]
impl ConsentRepository for MemoryStore {
    async fn find_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<Option<Scopes>> {
        Ok(self
            .state()
            .consents
            .get(&(user_id, client_id))
            .map(|c| c.scopes.clone()))
    }

    async fn grant_consent(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        scopes: &Scopes,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut state = self.state();
        // As the tables' foreign keys: a grant names an existing user and client.
        if !state.users.contains_key(&user_id) || !state.clients.iter().any(|c| c.id == client_id) {
            return Err(StoreError::Other("no such user or client".into()));
        }
        state.consents.insert(
            (user_id, client_id),
            Consent {
                client_id,
                scopes: scopes.clone(),
                granted_at: at,
            },
        );
        Ok(())
    }

    async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>> {
        let mut consents: Vec<Consent> = self
            .state()
            .consents
            .iter()
            .filter(|((user, _), _)| *user == user_id)
            .map(|(_, consent)| consent.clone())
            .collect();
        consents.sort_by_key(|c| (c.granted_at, c.client_id));
        Ok(consents)
    }

    async fn withdraw_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<bool> {
        Ok(self
            .state()
            .consents
            .remove(&(user_id, client_id))
            .is_some())
    }
}
