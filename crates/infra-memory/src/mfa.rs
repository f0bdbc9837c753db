//! Second factors in memory: each spend checks and writes under the store's one lock, as the
//! diesel adapter's conditional statements do.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{MfaChallenge, MfaRepository, TotpFactor};
use uuid::Uuid;

use crate::MemoryStore;

/// One of a user's recovery codes.
pub(crate) struct RecoveryCode {
    fingerprint: String,
    spent_at: Option<DateTime<Utc>>,
}

fn fresh_codes(recovery: &[String]) -> Vec<RecoveryCode> {
    recovery
        .iter()
        .map(|code| RecoveryCode {
            fingerprint: code.clone(),
            spent_at: None,
        })
        .collect()
}

impl crate::State {
    fn set_mfa_enabled(&mut self, user_id: Uuid, enabled: bool) {
        if let Some(user) = self.users.get_mut(&user_id) {
            user.mfa_enabled = enabled;
        }
    }
}

#[async_trait]
impl MfaRepository for MemoryStore {
    async fn begin_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        if !state.users.contains_key(&user_id)
            || state.totp.get(&user_id).is_some_and(TotpFactor::is_enabled)
        {
            return Ok(false);
        }
        let factor = TotpFactor {
            user_id,
            sealed_secret: sealed_secret.to_vec(),
            enabled_at: None,
            last_step: None,
            created_at: now,
        };
        state.totp.insert(user_id, factor);
        Ok(true)
    }

    async fn find_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpFactor>> {
        Ok(self.state().totp.get(&user_id).cloned())
    }

    async fn confirm_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        step: i64,
        recovery: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let pending = state
            .totp
            .get_mut(&user_id)
            .filter(|f| !f.is_enabled() && f.sealed_secret == sealed_secret);
        let Some(factor) = pending else {
            return Ok(false);
        };
        factor.enabled_at = Some(now);
        factor.last_step = Some(step);
        state.recovery_codes.insert(user_id, fresh_codes(recovery));
        state.set_mfa_enabled(user_id, true);
        Ok(true)
    }

    async fn spend_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(factor) = state.totp.get_mut(&user_id).filter(|f| f.is_enabled()) else {
            return Ok(false);
        };
        if factor.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        factor.last_step = Some(step);
        Ok(true)
    }

    async fn remove_totp(&self, user_id: Uuid) -> StoreResult<bool> {
        let mut state = self.state();
        state.recovery_codes.remove(&user_id);
        state.challenges.retain(|_, c| c.user_id != user_id);
        state.set_mfa_enabled(user_id, false);
        Ok(state.totp.remove(&user_id).is_some())
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        recovery: &[String],
        _now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        if !state.totp.get(&user_id).is_some_and(TotpFactor::is_enabled) {
            return Ok(false);
        }
        state.recovery_codes.insert(user_id, fresh_codes(recovery));
        Ok(true)
    }

    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let unspent = state.recovery_codes.get_mut(&user_id).and_then(|codes| {
            codes
                .iter_mut()
                .find(|code| code.fingerprint == fingerprint && code.spent_at.is_none())
        });
        Ok(unspent.map(|code| code.spent_at = Some(now)).is_some())
    }

    async fn open_challenge(&self, challenge: &MfaChallenge) -> StoreResult<bool> {
        let mut state = self.state();
        if !state
            .users
            .get(&challenge.user_id)
            .is_some_and(|u| u.is_active)
        {
            return Ok(false);
        }
        state
            .challenges
            .insert(challenge.token_fingerprint.clone(), challenge.clone());
        Ok(true)
    }

    async fn find_challenge(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MfaChallenge>> {
        let state = self.state();
        let live = state
            .challenges
            .get(fingerprint)
            .filter(|c| c.expires_at > now);
        Ok(live.cloned())
    }

    async fn take_challenge(&self, fingerprint: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state();
        if state
            .challenges
            .get(fingerprint)
            .is_none_or(|c| c.expires_at <= now)
        {
            return Ok(false);
        }
        Ok(state.challenges.remove(fingerprint).is_some())
    }

    async fn delete_expired_challenges(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.challenges.len();
        state.challenges.retain(|_, c| c.expires_at > now);
        Ok((before - state.challenges.len()) as u64)
    }

    async fn delete_challenges_for_user(&self, user_id: Uuid) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.challenges.len();
        state.challenges.retain(|_, c| c.user_id != user_id);
        Ok((before - state.challenges.len()) as u64)
    }
}
