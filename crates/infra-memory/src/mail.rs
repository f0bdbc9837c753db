//! Mail tokens and the outbox in memory: each redemption and each claim checks and writes under
//! the store's one lock, as the diesel adapter's transactions do.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{MailToken, MailTokenRepository, Outbox, OutboxMessage, ThrottleKey, TokenPurpose};
use uuid::Uuid;

use crate::MemoryStore;

/// A queued message and the end of the claim that holds it, if any.
pub(crate) struct Queued {
    pub(crate) message: OutboxMessage,
    claimed_until: Option<DateTime<Utc>>,
}

impl crate::State {
    /// Takes the unexpired token of `purpose` with this fingerprint.
    fn take_token(
        &mut self,
        fingerprint: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Option<MailToken> {
        let live = self
            .mail_tokens
            .get(fingerprint)
            .is_some_and(|t| t.purpose == purpose && t.expires_at > now);
        live.then(|| self.mail_tokens.remove(fingerprint)).flatten()
    }
}

#[async_trait]
impl MailTokenRepository for MemoryStore {
    async fn issue(&self, token: &MailToken, message: &OutboxMessage) -> StoreResult<bool> {
        let mut state = self.state();
        if !state.users.get(&token.user_id).is_some_and(|u| u.is_active) {
            return Ok(false);
        }
        state
            .mail_tokens
            .retain(|_, t| !(t.user_id == token.user_id && t.purpose == token.purpose));
        state
            .mail_tokens
            .insert(token.fingerprint.clone(), token.clone());
        state.outbox.push(Queued {
            message: message.clone(),
            claimed_until: None,
        });
        Ok(true)
    }

    async fn find(
        &self,
        fingerprint: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MailToken>> {
        Ok(self
            .state()
            .mail_tokens
            .get(fingerprint)
            .filter(|t| t.purpose == purpose && t.expires_at > now)
            .cloned())
    }

    async fn redeem_reset(
        &self,
        fingerprint: &str,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut state = self.state();
        let Some(token) = state.take_token(fingerprint, TokenPurpose::PasswordReset, now) else {
            return Ok(None);
        };
        let Some(user) = state
            .users
            .get_mut(&token.user_id)
            .filter(|u| u.is_active && u.email == token.email)
        else {
            return Ok(None);
        };
        user.password_hash = new_hash.to_owned();
        user.updated_at = now;
        user.email_verified = true;
        for session in state.sessions.values_mut() {
            if session.user_id == token.user_id && session.revoked_at.is_none() {
                session.revoked_at = Some(now);
            }
        }
        state.throttles.remove(&ThrottleKey::Account(token.user_id));
        Ok(Some(token.user_id))
    }

    async fn redeem_verification(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut state = self.state();
        let Some(token) = state.take_token(fingerprint, TokenPurpose::EmailVerification, now)
        else {
            return Ok(None);
        };
        let Some(user) = state
            .users
            .get_mut(&token.user_id)
            .filter(|u| u.is_active && u.email == token.email)
        else {
            return Ok(None);
        };
        user.email_verified = true;
        user.updated_at = now;
        Ok(Some(token.user_id))
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.mail_tokens.len();
        state.mail_tokens.retain(|_, t| t.expires_at > now);
        Ok((before - state.mail_tokens.len()) as u64)
    }

    async fn void_for_user(&self, user_id: Uuid) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.mail_tokens.len();
        state.mail_tokens.retain(|_, t| t.user_id != user_id);
        Ok((before - state.mail_tokens.len()) as u64)
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn enqueue(&self, message: &OutboxMessage) -> StoreResult<()> {
        self.state().outbox.push(Queued {
            message: message.clone(),
            claimed_until: None,
        });
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let mut state = self.state();
        state
            .outbox
            .sort_by_key(|q| (q.message.next_attempt_at, q.message.created_at));
        let mut claimed = Vec::new();
        for queued in state.outbox.iter_mut() {
            if claimed.len() >= limit as usize {
                break;
            }
            let free = queued.claimed_until.is_none_or(|until| until <= now);
            if free && queued.message.next_attempt_at <= now {
                queued.claimed_until = Some(lease_until);
                queued.message.attempts += 1;
                claimed.push(queued.message.clone());
            }
        }
        Ok(claimed)
    }

    async fn remove(&self, id: Uuid) -> StoreResult<bool> {
        let mut state = self.state();
        let before = state.outbox.len();
        state.outbox.retain(|q| q.message.id != id);
        Ok(state.outbox.len() < before)
    }

    async fn retry_at(&self, id: Uuid, next_attempt_at: DateTime<Utc>) -> StoreResult<()> {
        if let Some(queued) = self.state().outbox.iter_mut().find(|q| q.message.id == id) {
            queued.claimed_until = None;
            queued.message.next_attempt_at = next_attempt_at;
        }
        Ok(())
    }

    async fn pending(&self) -> StoreResult<u64> {
        Ok(self.state().outbox.len() as u64)
    }
}
