//! The signing keys' life: the first key of a new installation, rotation (by hand and when
//! due), retirement once nothing they signed can still be live, and the keyring every replica
//! reloads from the store. No rotation ever logs anyone out: a key that stops signing keeps
//! verifying until the last token it signed has expired.
//!
//! `JWT_SECRET_KEY` signing (HMAC mode) has a row of its own in the store (`hs-…`, with the HS
//! algorithm configured when it started signing), with no key material:
//! it is current while the secret signs, and goes through the same life after. So shared-secret
//! tokens are accepted exactly while such a row is current or previous: an installation that
//! never signed with the secret refuses them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::ports::{Audit, Ports};
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, KeyAlgorithm, KeyState, Keyring, LiveKey, Principal,
    PublicJwk, SharedSecretUse, SigningKey, key_purpose,
};

/// How often a start tries again when other replicas keep changing the keys under it.
const MAX_ROTATION_TRIES: usize = 3;
/// A rotation asked for this soon after another landed is the same event (requests sent
/// together, an operator's double click): it answers the key that one made current.
const ROTATION_COALESCE_MILLIS: i64 = 1000;

/// The tunable rules of signing keys, read from configuration by the binary.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    pub algorithm: KeyAlgorithm,
    /// A current key older than this is rotated; `None`: only by hand.
    pub rotate_after: Option<Duration>,
    /// The longest a token lives (its lifetime plus the leeway): a key that stopped signing
    /// this long ago has no live token left.
    pub token_lifetime: Duration,
    /// A token with an unknown `kid` reloads the keys at most this often.
    pub unknown_kid_reload_interval: Duration,
}

/// What this replica last loaded.
#[derive(Default)]
struct Loaded {
    at: Option<DateTime<Utc>>,
    /// Which reload it came from.
    generation: u64,
    published: Arc<Vec<PublicJwk>>,
    current: Option<(String, DateTime<Utc>)>,
    /// What the installed keyring was made of: a reload that finds the same installs nothing
    /// (the codec's verified-token cache lives on).
    installed: Option<(Vec<(String, KeyState)>, SharedSecretUse)>,
}

pub struct KeyService {
    ports: Ports,
    policy: KeyPolicy,
    loaded: Mutex<Loaded>,
    generation: AtomicU64,
}

impl KeyService {
    pub fn new(ports: Ports, policy: KeyPolicy) -> Self {
        Self {
            ports,
            policy,
            loaded: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// Brings the store in line with the configured algorithm and loads the keyring. A new
    /// installation gets its first key here; a changed algorithm gets a key of its own that
    /// signs from now on, the old one verifying what it signed until that expires; in HMAC mode
    /// a key pair that was signing stops (and verifies until its tokens expire).
    pub async fn start(&self) -> Result<(), DomainError> {
        // A server with another secret writes nothing: its keys would stop the others.
        self.ensure_readable(&self.ports.stores.keys.list().await?)?;
        for _ in 0..MAX_ROTATION_TRIES {
            if self.converge().await? {
                return self.reload().await;
            }
        }
        Err(DomainError::Internal(
            "the signing keys kept changing under this server at start".into(),
        ))
    }

    /// One step towards the configured algorithm; `true` once there.
    async fn converge(&self) -> Result<bool, DomainError> {
        let now = self.ports.clock.now();
        let keys = self.ports.stores.keys.list().await?;
        let current = find(&keys, KeyState::Current);
        let next = find(&keys, KeyState::Next);
        if self.policy.algorithm.is_shared_secret() {
            if current.is_some_and(|c| c.algorithm.is_shared_secret()) {
                return Ok(true);
            }
            // The secret takes over from a key pair (or starts): its row becomes current.
            if let Some(next) = next.filter(|n| !n.algorithm.is_shared_secret()) {
                self.ports.stores.keys.retire(&next.kid, now).await?;
            }
            self.ports
                .stores
                .keys
                .insert_next(&self.shared_secret_row(now))
                .await?;
            let keys = self.ports.stores.keys.list().await?;
            if let Some(row) = keys
                .iter()
                .find(|k| k.state == KeyState::Next && !is_key_pair(k))
            {
                let from = find(&keys, KeyState::Current).map(|c| c.kid.clone());
                self.ports
                    .stores
                    .keys
                    .rotate(from.as_deref(), &row.kid, now)
                    .await?;
            }
            return Ok(false);
        }
        if current.is_some_and(|c| c.algorithm == self.policy.algorithm) {
            self.ensure_next(&keys).await?;
            return Ok(true);
        }
        let from = current.map(|c| c.kid.clone());
        self.promote_next(from.as_deref(), &keys).await?;
        Ok(false)
    }

    /// The `next` key of the configured algorithm, made if there is none (a `next` of another
    /// algorithm signed nothing and is retired).
    async fn ensure_next(&self, keys: &[SigningKey]) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        match find(keys, KeyState::Next) {
            Some(next) if next.algorithm == self.policy.algorithm => return Ok(()),
            Some(next) => {
                self.ports.stores.keys.retire(&next.kid, now).await?;
            }
            None => {}
        }
        let key = self.new_key(now).await?;
        // Another replica may have made one meanwhile: theirs is as good.
        self.ports.stores.keys.insert_next(&key).await?;
        Ok(())
    }

    /// Makes the `next` key current (after making one if needed) while `current` still is.
    /// Returns whether this call rotated.
    async fn promote_next(
        &self,
        current: Option<&str>,
        keys: &[SigningKey],
    ) -> Result<bool, DomainError> {
        self.ensure_next(keys).await?;
        let keys = self.ports.stores.keys.list().await?;
        let Some(next) = find(&keys, KeyState::Next) else {
            return Ok(false);
        };
        if find(&keys, KeyState::Current).map(|c| c.kid.as_str()) != current {
            return Ok(false);
        }
        let now = self.ports.clock.now();
        let rotated = self
            .ports
            .stores
            .keys
            .rotate(current, &next.kid, now)
            .await?;
        if rotated {
            tracing::info!(kid = %next.kid, previous = ?current, "signing key rotated");
            let keys = self.ports.stores.keys.list().await?;
            self.ensure_next(&keys).await?;
        }
        Ok(rotated)
    }

    /// The row that stands for `JWT_SECRET_KEY` signing: no key material, never published.
    fn shared_secret_row(&self, now: DateTime<Utc>) -> SigningKey {
        let kid = format!("hs-{}", Uuid::new_v4().simple());
        SigningKey {
            public: PublicJwk {
                kty: "oct".into(),
                kid: kid.clone(),
                alg: self.policy.algorithm,
                key_use: "sig".into(),
                crv: None,
                x: None,
                y: None,
                n: None,
                e: None,
            },
            kid,
            algorithm: self.policy.algorithm,
            state: KeyState::Next,
            sealed_private: Vec::new(),
            created_at: now,
            activated_at: None,
            deactivated_at: None,
            retired_at: None,
        }
    }

    async fn new_key(&self, now: DateTime<Utc>) -> Result<SigningKey, DomainError> {
        let kid = Uuid::new_v4().simple().to_string();
        let pair = self
            .ports
            .key_generator
            .generate(self.policy.algorithm, &kid)
            .await?;
        Ok(SigningKey {
            sealed_private: self
                .ports
                .mfa
                .sealer
                .seal(&pair.private_der, &key_purpose(&kid)),
            kid,
            algorithm: self.policy.algorithm,
            state: KeyState::Next,
            public: pair.public,
            created_at: now,
            activated_at: None,
            deactivated_at: None,
            retired_at: None,
        })
    }

    /// Every key, retired ones too, oldest first. `actor`: the admin who asked, if any.
    pub async fn list(&self, actor: Option<&Principal>) -> Result<Vec<SigningKey>, DomainError> {
        admin_id(actor)?;
        Ok(self.ports.stores.keys.list().await?)
    }

    /// The `next` key becomes current and a new `next` is made; the old current verifies what
    /// it signed until that expires. `actor`: the admin who asked, if any. Returns the new
    /// current key. Rotation is one event: requests that meet one under way, or come within
    /// `ROTATION_COALESCE_MILLIS` of one, on any replica, answer its key and rotate nothing.
    pub async fn rotate(
        &self,
        actor: Option<&Principal>,
        client: &ClientInfo,
    ) -> Result<SigningKey, DomainError> {
        let actor = admin_id(actor)?;
        if self.policy.algorithm.is_shared_secret() {
            return Err(DomainError::SharedSecretSigning);
        }
        let keys = self.ports.stores.keys.list().await?;
        // Read after the keys: a rotation that landed while this request was on its way is
        // seen with a time before this one (read before, it would look like one from the
        // future, and be rotated past).
        let now = self.ports.clock.now();
        self.ensure_readable(&keys)?;
        let current = find(&keys, KeyState::Current);
        // Measured on this replica's clock against another's record, within the bound either
        // way (replica clocks a little apart); a rotation far in the future is no recent one.
        let just_rotated = current
            .and_then(|c| rotated_at(&keys, c))
            .is_some_and(|at| (now - at).abs() < Duration::milliseconds(ROTATION_COALESCE_MILLIS));
        // Losing to a concurrent rotation is a rotation all the same: the key that won signs.
        if !just_rotated
            && self
                .promote_next(current.map(|c| c.kid.as_str()), &keys)
                .await?
        {
            self.audit(AuditEvent::KeyRotated, actor, client, "rotated")
                .await?;
        }
        self.reload().await?;
        find(&self.ports.stores.keys.list().await?, KeyState::Current)
            .cloned()
            .ok_or_else(|| DomainError::Internal("no current key after a rotation".into()))
    }

    /// Retires `kid`: it is no longer published and its tokens are refused. Refused for the
    /// current key, and for a previous key whose tokens could still be live unless `force`.
    pub async fn retire(
        &self,
        kid: &str,
        force: bool,
        actor: Option<&Principal>,
        client: &ClientInfo,
    ) -> Result<SigningKey, DomainError> {
        let actor = admin_id(actor)?;
        let now = self.ports.clock.now();
        let keys = self.ports.stores.keys.list().await?;
        self.ensure_readable(&keys)?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(DomainError::KeyNotFound)?;
        match key.state {
            KeyState::Retired => return Ok(key.clone()),
            KeyState::Current => {
                return Err(DomainError::KeyInUse {
                    reason: "it is the current key: rotate first".into(),
                });
            }
            KeyState::Previous if !force => {
                if let Some(until) = self.live_tokens_until(key)
                    && until > now
                {
                    return Err(DomainError::KeyInUse {
                        reason: format!(
                            "tokens it signed may be live until {} (use --force to retire it anyway)",
                            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    });
                }
            }
            KeyState::Previous | KeyState::Next => {}
        }
        if !self.ports.stores.keys.retire(kid, now).await? {
            return Err(DomainError::KeyInUse {
                reason: "it changed state meanwhile: list the keys again".into(),
            });
        }
        if key.state == KeyState::Next && !self.policy.algorithm.is_shared_secret() {
            // A successor is published at once, long before it signs.
            self.ensure_next(&self.ports.stores.keys.list().await?)
                .await?;
        }
        self.reload().await?;
        self.audit(AuditEvent::KeyRetired, actor, client, "retired")
            .await?;
        let mut retired = key.clone();
        retired.state = KeyState::Retired;
        retired.retired_at = Some(now);
        Ok(retired)
    }

    /// The periodic work of every replica: rotates when the current key is due, retires the
    /// previous keys nothing live was signed with, and reloads.
    pub async fn maintain(&self, client: &ClientInfo) -> Result<(), DomainError> {
        let now = self.ports.clock.now();
        let keys = self.ports.stores.keys.list().await?;
        self.ensure_readable(&keys)?;
        if !self.policy.algorithm.is_shared_secret()
            && let Some(rotate_after) = self.policy.rotate_after
            && let Some(current) = find(&keys, KeyState::Current)
            && current
                .activated_at
                .is_some_and(|at| now - at >= rotate_after)
            && self.promote_next(Some(&current.kid), &keys).await?
        {
            self.audit(AuditEvent::KeyRotated, None, client, "rotated when due")
                .await?;
        }
        for key in keys.iter().filter(|k| k.state == KeyState::Previous) {
            if self
                .live_tokens_until(key)
                .is_some_and(|until| until <= now)
                && self.ports.stores.keys.retire(&key.kid, now).await?
            {
                tracing::info!(kid = %key.kid, "signing key retired: nothing it signed is live");
                self.audit(AuditEvent::KeyRetired, None, client, "retired when expired")
                    .await?;
            }
        }
        if !self.policy.algorithm.is_shared_secret() {
            self.ensure_next(&self.ports.stores.keys.list().await?)
                .await?;
        }
        self.reload().await
    }

    /// Every key still in use opens with this server's secret; else nothing may be written.
    fn ensure_readable(&self, keys: &[SigningKey]) -> Result<(), DomainError> {
        for key in keys
            .iter()
            .filter(|k| is_key_pair(k) && k.state.is_published())
        {
            self.open(key)?;
        }
        Ok(())
    }

    fn open(&self, key: &SigningKey) -> Result<Vec<u8>, DomainError> {
        self.ports
            .mfa
            .sealer
            .open(&key.sealed_private, &key_purpose(&key.kid))
            .map_err(|_| DomainError::KeysUnreadable)
    }

    /// Loads the published keys into the token codec. Fails when a key cannot be opened (the
    /// store was sealed under another `JWT_SECRET_KEY`).
    pub async fn reload(&self) -> Result<(), DomainError> {
        // Reloads may overlap (the periodic one, an unknown kid): the newest read wins.
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.ports.clock.now();
        let keys = self.ports.stores.keys.list().await?;
        let shared_secret = if self.policy.algorithm.is_shared_secret() {
            SharedSecretUse::Sign
        } else {
            // Only while the secret's own row says it signed within a token's lifetime.
            match keys
                .iter()
                .filter(|k| !is_key_pair(k) && k.state == KeyState::Previous)
                .filter_map(|k| k.deactivated_at)
                .max()
            {
                Some(until) if now < until + self.policy.token_lifetime => {
                    SharedSecretUse::AcceptIssuedBefore(until.timestamp())
                }
                _ => SharedSecretUse::Refuse,
            }
        };
        let mut live = Vec::new();
        for key in keys
            .iter()
            .filter(|k| is_key_pair(k) && k.state.is_published())
        {
            let private_der = self.open(key)?;
            let signs = key.state == KeyState::Current && shared_secret != SharedSecretUse::Sign;
            live.push(LiveKey {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                public: key.public.clone(),
                private_der: signs.then_some(private_der),
            });
        }
        let published = if self.policy.algorithm.is_shared_secret() {
            Vec::new()
        } else {
            live.iter().map(|k| k.public.clone()).collect()
        };
        let current =
            find(&keys, KeyState::Current).and_then(|c| Some((c.kid.clone(), c.activated_at?)));
        let installed = Some((
            keys.iter()
                .filter(|k| k.state.is_published())
                .map(|k| (k.kid.clone(), k.state))
                .collect(),
            shared_secret,
        ));
        let mut loaded = self.loaded();
        if loaded.generation > generation {
            return Ok(());
        }
        if loaded.installed != installed {
            self.ports.tokens.install(Keyring {
                keys: live,
                shared_secret,
            })?;
        }
        *loaded = Loaded {
            at: Some(now),
            generation,
            published: Arc::new(published),
            current,
            installed,
        };
        Ok(())
    }

    /// A token named a `kid` this replica does not hold: reloads, at most once per interval, so
    /// that made-up kids cannot make every request a query. Returns whether it reloaded.
    pub async fn reload_for_unknown_kid(&self) -> Result<bool, DomainError> {
        let now = self.ports.clock.now();
        {
            let mut loaded = self.loaded();
            if loaded
                .at
                .is_some_and(|at| now - at < self.policy.unknown_kid_reload_interval)
            {
                return Ok(false);
            }
            // Claimed now, so that concurrent requests with unknown kids reload once.
            loaded.at = Some(now);
        }
        self.reload().await?;
        Ok(true)
    }

    /// The public keys to publish (none in HMAC mode), as last loaded.
    pub fn published(&self) -> Arc<Vec<PublicJwk>> {
        self.loaded().published.clone()
    }

    /// The key that signs and since when, as last loaded (none in HMAC mode).
    pub fn current(&self) -> Option<(String, DateTime<Utc>)> {
        if self.policy.algorithm.is_shared_secret() {
            return None;
        }
        self.loaded().current.clone()
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.policy.algorithm
    }

    /// Until when a token signed by `key` may be live; `None` while it still signs or never did.
    fn live_tokens_until(&self, key: &SigningKey) -> Option<DateTime<Utc>> {
        key.deactivated_at.map(|at| at + self.policy.token_lifetime)
    }

    async fn audit(
        &self,
        event: AuditEvent,
        actor: Option<Uuid>,
        client: &ClientInfo,
        detail: &'static str,
    ) -> Result<(), DomainError> {
        self.ports
            .audit(Audit {
                event,
                outcome: AuditOutcome::Success,
                user_id: None,
                actor_id: actor,
                client,
                detail: Some(detail),
            })
            .await
    }

    fn loaded(&self) -> MutexGuard<'_, Loaded> {
        // Replaced whole: a panic elsewhere cannot leave it half-written.
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The id of the admin who acts, or `None` for the operator at the command line.
fn admin_id(actor: Option<&Principal>) -> Result<Option<Uuid>, DomainError> {
    match actor {
        Some(principal) if principal.user.is_admin() => Ok(Some(principal.user.id)),
        Some(_) => Err(DomainError::Forbidden),
        None => Ok(None),
    }
}

/// When `key` became current by a rotation (taking over from a previous key), if it did.
fn rotated_at(keys: &[SigningKey], key: &SigningKey) -> Option<DateTime<Utc>> {
    let at = key.activated_at?;
    keys.iter()
        .any(|k| k.kid != key.kid && k.deactivated_at == Some(at))
        .then_some(at)
}

/// A key pair, as opposed to the row that stands for the shared secret.
fn is_key_pair(key: &SigningKey) -> bool {
    !key.algorithm.is_shared_secret()
}

fn find(keys: &[SigningKey], state: KeyState) -> Option<&SigningKey> {
    keys.iter().find(|k| k.state == state)
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
