//! In-memory adapters. `MemoryStore`: every repository port over one mutex-guarded state, fast
//! and dependency-free, for tests; it keeps nothing across restarts. `MemoryRateLimitStore`: the
//! rate limiter's counts for a single process.

mod authorization;
mod keys;
mod mail;
mod mfa;
mod rate_limit;

pub use rate_limit::MemoryRateLimitStore;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{
    AdminGuard, AdminWrite, Attempt, AttemptLimit, AuditLog, AuditRecord, LoginThrottleRepository,
    Page, RateLimitStore, Role, Session, SessionRepository, StoreError, StoreHealth, Stores,
    ThrottleKey, User, UserPatch, UserRepository,
};
use uuid::Uuid;

/// The attempts counted under one key.
struct Throttle {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    users: HashMap<Uuid, User>,
    sessions: HashMap<Uuid, Session>,
    throttles: HashMap<ThrottleKey, Throttle>,
    audit: Vec<AuditRecord>,
    totp: HashMap<Uuid, domain::TotpFactor>,
    recovery_codes: HashMap<Uuid, Vec<mfa::RecoveryCode>>,
    challenges: HashMap<String, domain::MfaChallenge>,
    keys: Vec<domain::SigningKey>,
    clients: Vec<domain::OAuthClient>,
    authorization_codes: HashMap<String, authorization::StoredCode>,
    consents: HashMap<(Uuid, Uuid), domain::Consent>,
    mail_tokens: HashMap<String, domain::MailToken>,
    outbox: Vec<mail::Queued>,
}

impl State {
    /// What storage reports of a user: the stored row plus the lock of its throttle.
    fn view(&self, user: &User) -> User {
        let locked_until = self
            .throttles
            .get(&ThrottleKey::Account(user.id))
            .and_then(|t| t.locked_until);
        User {
            locked_until,
            ..user.clone()
        }
    }

    /// The unique indexes: lower-cased username, and email.
    fn conflicts(&self, id: Uuid, username: &str, email: &str) -> bool {
        let username = username.to_lowercase();
        self.users
            .values()
            .any(|u| u.id != id && (u.username.to_lowercase() == username || u.email == email))
    }

    /// Writes the fields `changes` names, as the diesel adapter's one UPDATE does.
    fn apply(
        &mut self,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let Some(user) = self.users.get(&id) else {
            return Ok(false);
        };
        let username = changes
            .username
            .as_ref()
            .map_or(user.username.as_str(), |u| u.as_str());
        let email = changes
            .email
            .as_ref()
            .map_or(user.email.as_str(), |e| e.as_str());
        if self.conflicts(id, username, email) {
            return Err(StoreError::Conflict);
        }
        let user = self.users.get_mut(&id).expect("looked up above");
        if let Some(username) = &changes.username {
            user.username = username.as_str().to_owned();
        }
        if let Some(email) = &changes.email {
            user.email = email.as_str().to_owned();
        }
        if let Some(name) = &changes.name {
            user.name = name.as_ref().map(|n| n.as_str().to_owned());
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(is_active) = changes.is_active {
            user.is_active = is_active;
        }
        if let Some(email_verified) = changes.email_verified {
            user.email_verified = email_verified;
        }
        user.updated_at = updated_at;
        Ok(true)
    }

    /// Removes the user and everything of theirs; whether there was such a user.
    fn remove_user(&mut self, id: Uuid) -> bool {
        self.sessions.retain(|_, s| s.user_id != id);
        self.totp.remove(&id);
        self.recovery_codes.remove(&id);
        self.challenges.retain(|_, c| c.user_id != id);
        self.mail_tokens.retain(|_, t| t.user_id != id);
        self.authorization_codes
            .retain(|_, stored| stored.code.user_id != id);
        self.consents.retain(|(user, _), _| *user != id);
        self.outbox.retain(|q| q.message.user_id != Some(id));
        self.users.remove(&id).is_some()
    }

    fn is_active_admin(&self, id: Uuid) -> bool {
        self.users
            .get(&id)
            .is_some_and(|u| u.is_active && u.role == Role::Admin)
    }

    fn has_other_active_admin(&self, id: Uuid) -> bool {
        self.users
            .values()
            .any(|u| u.id != id && u.is_active && u.role == Role::Admin)
    }

    /// Why an admin's write to `id` must not land now, if it must not.
    fn refuses(&self, guard: AdminGuard, id: Uuid) -> Option<AdminWrite> {
        if !self.is_active_admin(guard.actor) {
            Some(AdminWrite::ActorNotAdmin)
        } else if guard.keep_another_admin && !self.has_other_active_admin(id) {
            Some(AdminWrite::LastAdmin)
        } else {
            None
        }
    }

    fn find_user(&self, matches: impl Fn(&User) -> bool) -> Option<User> {
        self.users
            .values()
            .find(|u| matches(u))
            .map(|u| self.view(u))
    }
}

/// One store; clone it to hand the same state to every port.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    rate_limits: Arc<MemoryRateLimitStore>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every storage port, on this store.
    pub fn stores(&self) -> Stores {
        Stores::of(self.clone())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent: every write is one statement.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn insert(&self, user: &User) -> StoreResult<()> {
        let mut state = self.state();
        if state.users.contains_key(&user.id)
            || state.conflicts(user.id, &user.username, &user.email)
        {
            return Err(StoreError::Conflict);
        }
        let stored = User {
            locked_until: None,
            mfa_enabled: false,
            ..user.clone()
        };
        state.users.insert(user.id, stored);
        Ok(())
    }

    async fn find_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let state = self.state();
        Ok(state.users.get(&id).map(|u| state.view(u)))
    }

    async fn find_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let wanted = username.to_lowercase();
        Ok(self
            .state()
            .find_user(|u| u.username.to_lowercase() == wanted))
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        Ok(self.state().find_user(|u| u.email == email))
    }

    async fn update(
        &self,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.state().apply(id, changes, updated_at)
    }

    async fn update_as_admin(
        &self,
        guard: AdminGuard,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<AdminWrite> {
        let mut state = self.state();
        if let Some(refused) = state.refuses(guard, id) {
            return Ok(refused);
        }
        Ok(match state.apply(id, changes, updated_at)? {
            true => AdminWrite::Written,
            false => AdminWrite::NoSuchUser,
        })
    }

    async fn replace_password_hash(
        &self,
        id: Uuid,
        current: &str,
        new: &str,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        match self.state().users.get_mut(&id) {
            Some(user) if user.password_hash == current => {
                user.password_hash = new.to_owned();
                user.updated_at = updated_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_as_admin(&self, guard: AdminGuard, id: Uuid) -> StoreResult<AdminWrite> {
        let mut state = self.state();
        if let Some(refused) = state.refuses(guard, id) {
            return Ok(refused);
        }
        Ok(match state.remove_user(id) {
            true => AdminWrite::Written,
            false => AdminWrite::NoSuchUser,
        })
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<User>> {
        let state = self.state();
        let mut users: Vec<&User> = state.users.values().collect();
        users.sort_by_key(|u| (u.created_at, u.id));
        let skip = (page.saturating_sub(1) as usize).saturating_mul(per_page as usize);
        Ok(Page {
            items: users
                .iter()
                .skip(skip)
                .take(per_page as usize)
                .map(|u| state.view(u))
                .collect(),
            page,
            per_page,
            total: users.len() as u64,
        })
    }

    async fn count_active_with_role(&self, role: Role) -> StoreResult<u64> {
        let state = self.state();
        Ok(state
            .users
            .values()
            .filter(|u| u.is_active && u.role == role)
            .count() as u64)
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn open(
        &self,
        session: &Session,
        password_hash: &str,
        require_verified: bool,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let proven = state.users.get(&session.user_id).is_some_and(|u| {
            u.is_active
                && u.password_hash == password_hash
                && u.mfa_enabled == session.mfa
                && (u.email_verified || !require_verified)
        });
        if !proven {
            return Ok(false);
        }
        if state.sessions.contains_key(&session.id) {
            return Err(StoreError::Other("duplicate session id".into()));
        }
        state.sessions.insert(session.id, session.clone());
        Ok(true)
    }

    async fn find(&self, id: Uuid) -> StoreResult<Option<Session>> {
        Ok(self.state().sessions.get(&id).cloned())
    }

    async fn find_with_user(&self, id: Uuid) -> StoreResult<Option<(Session, User)>> {
        let state = self.state();
        Ok(state.sessions.get(&id).and_then(|session| {
            let user = state.users.get(&session.user_id)?;
            Some((session.clone(), state.view(user)))
        }))
    }

    async fn rotate_refresh(
        &self,
        id: Uuid,
        current: Uuid,
        next: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        match state.sessions.get_mut(&id) {
            Some(s) if s.refresh_jti == current && s.revoked_at.is_none() => {
                s.previous_refresh_jti = Some(current);
                s.refresh_jti = next;
                s.rotated_at = Some(now);
                s.last_used_at = now;
                s.expires_at = expires_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(s) = self.state().sessions.get_mut(&id) {
            s.last_used_at = now;
        }
        Ok(())
    }

    async fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        match self.state().sessions.get_mut(&id) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut state = self.state();
        let mut count = 0;
        for s in state.sessions.values_mut() {
            if s.user_id == user_id && s.revoked_at.is_none() && Some(s.id) != keep {
                s.revoked_at = Some(now);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn revoke_for_client(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut state = self.state();
        let mut count = 0;
        for s in state.sessions.values_mut() {
            if s.user_id == user_id && s.client_id == Some(client_id) && s.revoked_at.is_none() {
                s.revoked_at = Some(now);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn list_active_for_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let state = self.state();
        let mut live: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.is_active(now))
            .cloned()
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(live)
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state();
        let count = state.sessions.len();
        state.sessions.retain(|_, s| s.expires_at >= before);
        Ok((count - state.sessions.len()) as u64)
    }
}

#[async_trait]
impl LoginThrottleRepository for MemoryStore {
    async fn count_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        limit: AttemptLimit,
    ) -> StoreResult<Attempt> {
        let mut state = self.state();
        let entry = state.throttles.entry(key.clone()).or_insert(Throttle {
            count: 0,
            locked_until: None,
            updated_at: now,
        });
        match entry.locked_until {
            Some(until) if until > now => return Ok(Attempt::Locked { until }),
            Some(_) => {
                entry.count = 0;
                entry.locked_until = None;
            }
            None => {}
        }
        entry.count += 1;
        entry.updated_at = now;
        let last = entry.count >= limit.max_attempts;
        if last {
            entry.locked_until = Some(limit.lock_until);
        }
        Ok(Attempt::Counted { last })
    }

    async fn delete_stale(
        &self,
        updated_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.throttles.len();
        state.throttles.retain(|_, t| {
            t.updated_at >= updated_before || t.locked_until.is_some_and(|until| until > now)
        });
        Ok((before - state.throttles.len()) as u64)
    }

    async fn clear(&self, key: &ThrottleKey) -> StoreResult<()> {
        self.state().throttles.remove(key);
        Ok(())
    }

    async fn refund(&self, key: &ThrottleKey) -> StoreResult<()> {
        if let Some(throttle) = self.state().throttles.get_mut(key).filter(|t| t.count > 0) {
            throttle.count -= 1;
            throttle.locked_until = None;
        }
        Ok(())
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        self.rate_limits.hit(key, window_start).await
    }

    async fn count(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        self.rate_limits.count(key, window_start).await
    }

    async fn delete_windows_before(&self, window_start: DateTime<Utc>) -> StoreResult<u64> {
        self.rate_limits.delete_windows_before(window_start).await
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, record: &AuditRecord) -> StoreResult<()> {
        self.state().audit.push(record.clone());
        Ok(())
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<AuditRecord>> {
        let state = self.state();
        let mut records: Vec<&AuditRecord> = state.audit.iter().collect();
        records.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
        let skip = (page.saturating_sub(1) as usize).saturating_mul(per_page as usize);
        Ok(Page {
            items: records
                .iter()
                .skip(skip)
                .take(per_page as usize)
                .map(|r| (*r).clone())
                .collect(),
            page,
            per_page,
            total: records.len() as u64,
        })
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state();
        let count = state.audit.len();
        state.audit.retain(|r| r.at >= before);
        Ok((count - state.audit.len()) as u64)
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    fn connections(&self) -> Option<domain::ConnectionUsage> {
        None
    }
}

#[cfg(test)]
mod contract {
    use super::MemoryStore;

    domain::storage_contract_tests!(async { (MemoryStore::new().stores(), ()) });
}
