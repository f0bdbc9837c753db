//! Authorization codes, spent under the state's one lock as the diesel adapter's conditional
//! UPDATE spends them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{AuthorizationCode, AuthorizationCodeRepository, CodeRedemption, StoreError};
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
