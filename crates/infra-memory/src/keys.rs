//! Signing keys and service clients in memory: each state change checks and writes under the
//! store's one lock, as the diesel adapter's conditional statements do.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{
    ClientChanges, ClientRepository, KeyState, OAuthClient, SigningKey, SigningKeyRepository,
};
use uuid::Uuid;

use crate::MemoryStore;

impl crate::State {
    fn key_in(&mut self, kid: &str, states: &[KeyState]) -> Option<&mut SigningKey> {
        self.keys
            .iter_mut()
            .find(|k| k.kid == kid && states.contains(&k.state))
    }
}

#[async_trait]
impl SigningKeyRepository for MemoryStore {
    async fn list(&self) -> StoreResult<Vec<SigningKey>> {
        Ok(self.state().keys.clone())
    }

    async fn insert_next(&self, key: &SigningKey) -> StoreResult<bool> {
        let mut state = self.state();
        if state
            .keys
            .iter()
            .any(|k| k.state == KeyState::Next || k.kid == key.kid)
        {
            return Ok(false);
        }
        state.keys.push(SigningKey {
            state: KeyState::Next,
            ..key.clone()
        });
        Ok(true)
    }

    async fn rotate<'a>(
        &self,
        current: Option<&'a str>,
        next: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let current_holds = match current {
            Some(kid) => state.key_in(kid, &[KeyState::Current]).is_some(),
            None => !state.keys.iter().any(|k| k.state == KeyState::Current),
        };
        if !current_holds || state.key_in(next, &[KeyState::Next]).is_none() {
            return Ok(false);
        }
        if let Some(kid) = current {
            let old = state.key_in(kid, &[KeyState::Current]).expect("checked");
            old.state = KeyState::Previous;
            old.deactivated_at = Some(now);
        }
        let new = state.key_in(next, &[KeyState::Next]).expect("checked");
        new.state = KeyState::Current;
        new.activated_at = Some(now);
        Ok(true)
    }

    async fn retire(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state();
        Ok(
            match state.key_in(kid, &[KeyState::Next, KeyState::Previous]) {
                Some(key) => {
                    key.state = KeyState::Retired;
                    key.retired_at = Some(now);
                    true
                }
                None => false,
            },
        )
    }
}

#[async_trait]
impl ClientRepository for MemoryStore {
    async fn insert(&self, client: &OAuthClient) -> StoreResult<()> {
        self.state().clients.push(client.clone());
        Ok(())
    }

    async fn find(&self, id: Uuid) -> StoreResult<Option<OAuthClient>> {
        Ok(self.state().clients.iter().find(|c| c.id == id).cloned())
    }

    async fn list(&self) -> StoreResult<Vec<OAuthClient>> {
        let mut clients = self.state().clients.clone();
        clients.sort_by_key(|c| (c.created_at, c.id));
        Ok(clients)
    }

    async fn update(
        &self,
        id: Uuid,
        changes: &ClientChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(client) = state.clients.iter_mut().find(|c| c.id == id) else {
            return Ok(false);
        };
        if let Some(name) = &changes.name {
            client.name = name.clone();
        }
        if let Some(uris) = &changes.redirect_uris {
            client.redirect_uris = uris.clone();
        }
        if let Some(uris) = &changes.post_logout_redirect_uris {
            client.post_logout_redirect_uris = uris.clone();
        }
        if let Some(first_party) = changes.first_party {
            client.first_party = first_party;
        }
        if let Some(require_par) = changes.require_par {
            client.require_par = require_par;
        }
        if let Some(allow) = changes.allow_password_grant {
            client.allow_password_grant = allow;
        }
        client.updated_at = now;
        Ok(true)
    }

    async fn set_secret(
        &self,
        id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        match state
            .clients
            .iter_mut()
            .find(|c| c.id == id && c.kind.has_secret())
        {
            Some(client) => {
                client.secret_fingerprint = Some(fingerprint.to_owned());
                client.updated_at = now;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete(&self, id: Uuid) -> StoreResult<bool> {
        let mut state = self.state();
        let before = state.clients.len();
        state.clients.retain(|c| c.id != id);
        state
            .authorization_codes
            .retain(|_, stored| stored.code.client_id != id);
        state.consents.retain(|(_, client), _| *client != id);
        Ok(state.clients.len() < before)
    }
}
