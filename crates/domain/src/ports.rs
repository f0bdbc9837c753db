//! What the domain needs from the outside world. Adapters implement these traits; the services
//! only ever see them.
//!
//! **The write rule every adapter keeps.** No method reads a row, changes it in memory and writes
//! the whole row back: several servers write the same rows at once, and such a write would undo
//! whatever another one changed in between. A write changes only the fields it names, in one
//! statement; a change that is allowed only in some state (a password that must still be the one
//! the caller proved, an attempt counted only while the account is not locked, a refresh token
//! that must still be current, the last admin) checks that state and writes in one atomic
//! statement or transaction, and says whether it wrote. The contract suite
//! (`domain::contract`) races each of them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::DomainError;
pub use crate::error::{StoreError, StoreResult};
use crate::model::{
    AuditRecord, AuthorizationCode, Claims, ClientChanges, CodeRedemption, Consent, IdTokenClaims,
    KeyAlgorithm, KeyPair, Keyring, Mail, MailKind, MailToken, MfaChallenge, OAuthClient,
    OutboxMessage, Page, Role, Scopes, Session, SigningKey, TokenPurpose, TotpEnrolment,
    TotpFactor, User, UserPatch,
};

/// What must still hold when an admin's write to an account lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminGuard {
    /// Who acts: an active admin when the write lands, not only when the request began.
    pub actor: Uuid,
    /// The write may take the account's admin rights away (a demotion, a deactivation, a
    /// deletion): an active admin other than the account must remain.
    pub keep_another_admin: bool,
}

/// How an admin's guarded write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminWrite {
    Written,
    NoSuchUser,
    /// The actor is no longer an active admin: nothing was written.
    ActorNotAdmin,
    /// It would have left no active admin: nothing was written.
    LastAdmin,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Fails with `StoreError::Conflict` when the username (case-insensitively) or email is taken.
    async fn insert(&self, user: &User) -> StoreResult<()>;
    async fn find_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Case-insensitive.
    async fn find_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// `email` is lower-cased already.
    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Writes the fields `changes` sets (and `updated_at`), and nothing else, in one statement,
    /// so that a concurrent change of another field is never undone. `changes.email` is
    /// lower-cased already. Unguarded: for a user's own changes, which never touch `role` or
    /// `is_active`, and for the operator's promotions. Returns whether the user exists.
    /// `Conflict` as for `insert`.
    async fn update(
        &self,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// An admin's write, as `update` but only while `guard` holds, checked with the write in
    /// one atomic step; admins' writes take turns, so that a demotion that was answered can
    /// never be undone by a request its target sent while still an admin, and two admins
    /// demoting each other cannot both succeed.
    async fn update_as_admin(
        &self,
        guard: AdminGuard,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<AdminWrite>;
    /// Compare-and-swap: sets the password hash to `new` only while it is still `current`, in
    /// one statement. Returns whether it did; of several concurrent swaps from one `current`,
    /// exactly one does.
    async fn replace_password_hash(
        &self,
        id: Uuid,
        current: &str,
        new: &str,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// An admin deletes the user and, with it, their sessions, while `guard` holds, as for
    /// `update_as_admin`.
    async fn delete_as_admin(&self, guard: AdminGuard, id: Uuid) -> StoreResult<AdminWrite>;
    /// Oldest first; `page` starts at 1.
    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<User>>;
    async fn count_active_with_role(&self, role: Role) -> StoreResult<u64>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session only while its user exists, is active, still has the password
    /// hash `password_hash` (the one the login verified) and has MFA on exactly when the login
    /// proved a second factor (`session.mfa`), and, with `require_verified`, has a verified
    /// address, checked with the insert atomically: a login racing a
    /// password change, a deactivation, a deletion, MFA being turned on or an address change
    /// either lands before it (and is revoked or refused with the others) or opens nothing.
    /// Returns whether it stored the session.
    async fn open(
        &self,
        session: &Session,
        password_hash: &str,
        require_verified: bool,
    ) -> StoreResult<bool>;
    /// The stored session, read fresh.
    async fn find(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// The session and its user in one lookup: what every authenticated request needs. It may
    /// be answered from a server's memory that hears of other servers' writes within the
    /// revocation bound (its own writes at once): decide a write on `find`, not on this.
    async fn find_with_user(&self, id: Uuid) -> StoreResult<Option<(Session, User)>>;
    /// Atomically replaces the refresh `jti` if, and only if, it is still `current` and the
    /// session is not revoked. Returns whether it did.
    async fn rotate_refresh(
        &self,
        id: Uuid,
        current: Uuid,
        next: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn touch(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// Returns whether a live session was revoked.
    async fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Revokes every live session of the user except `keep`. Returns how many.
    async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Revokes every live session of the user that holds `client_id`'s tokens. Returns how
    /// many.
    async fn revoke_for_client(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Sessions neither revoked nor expired at `now`, newest first.
    async fn list_active_for_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>>;
    /// Deletes the sessions that expired before `before`; returns how many.
    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// What login attempts are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// An existing account; storage reports its lock on the user (`User::locked_until`).
    Account(Uuid),
    /// A login string (normalised) that matches no account, so that locking tells nothing
    /// about which accounts exist.
    UnknownLogin(String),
}

/// The budget of attempts a key gets before it is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Attempts counted without a success in between before the key locks.
    pub max_attempts: u32,
    /// Where a lock that starts now ends.
    pub lock_until: DateTime<Utc>,
}

/// What counting one attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt may be judged. `last`: it used the final place of the budget, so the key is
    /// locked already and stays so unless this attempt succeeds and clears it.
    Counted { last: bool },
    /// The key is locked until then; the attempt was not counted and must not be judged.
    Locked { until: DateTime<Utc> },
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LoginThrottleRepository: Send + Sync {
    /// Counts one attempt under `key` *before* it is judged, atomically: unless the key is
    /// locked at `now`, adds one to its count (starting afresh after an expired lock) and, when
    /// the count reaches `limit.max_attempts`, locks the key until `limit.lock_until`, all in one
    /// step. N concurrent calls therefore never count more than `max_attempts` attempts between
    /// two clears, whatever the number of processes.
    async fn count_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        limit: AttemptLimit,
    ) -> StoreResult<Attempt>;
    /// Forgets the count and the lock (a success, or an admin's unlock).
    async fn clear(&self, key: &ThrottleKey) -> StoreResult<()>;
    /// Takes back one counted attempt that turned out right but completes nothing by itself (a
    /// login's password step with MFA on), atomically: one less, and no lock, since a lock
    /// means the count reached the budget and it no longer does. Failures stay counted.
    async fn refund(&self, key: &ThrottleKey) -> StoreResult<()>;
    /// Deletes the entries last updated before `updated_before` that are not locked at `now`;
    /// returns how many.
    async fn delete_stale(
        &self,
        updated_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes with the configured parameters.
    async fn hash(&self, password: &str) -> Result<String, DomainError>;
    /// `false` for a wrong password, for a password longer than the hasher reads (it would
    /// match on its prefix), and for a hash it cannot read. A `false` takes about as
    /// long as a verify at the configured parameters, whatever parameters `hash` was made
    /// with, so that timing tells nothing about an account after the parameters change.
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, DomainError>;
    /// Whether `hash` was made with other parameters than the configured ones.
    fn needs_rehash(&self, hash: &str) -> bool;
}

/// Why a token could not be read. Time-based checks are the domain's, not the codec's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a token, bad signature, an algorithm other than its key's, or a header that names
    /// where to fetch a key (`jku`, `x5u`, `jwk`).
    Invalid,
    /// Well-formed, but signed by a `kid` the keyring does not hold: a key made since the last
    /// reload, or one retired or never made.
    UnknownKey,
}

/// Signs and reads tokens with the keys of the installed keyring. It checks structure,
/// algorithm and signature only: issuer, audience, type and time are checked by the domain
/// against its own clock. Verification picks the key by the token's `kid` and accepts only that
/// key's algorithm.
#[cfg_attr(test, mockall::automock)]
pub trait TokenCodec: Send + Sync {
    /// Replaces every key at once; tokens verified under the old keyring are checked again.
    fn install(&self, keyring: Keyring) -> Result<(), DomainError>;
    fn encode(&self, claims: &Claims) -> Result<String, DomainError>;
    /// Signs an ID token with the key that signs access tokens.
    fn encode_id_token(&self, claims: &IdTokenClaims) -> Result<String, DomainError>;
    fn decode(&self, token: &str) -> Result<Claims, TokenRejection>;
}

/// Makes new signing key pairs (slow for RSA: off the async workers).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait KeyGenerator: Send + Sync {
    /// A fresh key pair for `algorithm` (never an HMAC one), its public half named `kid`.
    async fn generate(&self, algorithm: KeyAlgorithm, kid: &str) -> Result<KeyPair, DomainError>;
}

/// The signing keys every replica shares. Each change of state is one atomic conditional write
/// that says whether it happened, and the store itself never holds two `current` or two
/// `next` keys, so that replicas rotating at once rotate once.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SigningKeyRepository: Send + Sync {
    /// Every key, retired ones too, oldest first.
    async fn list(&self) -> StoreResult<Vec<SigningKey>>;
    /// Stores `key` as the `next` key unless there is one. Returns whether it did.
    async fn insert_next(&self, key: &SigningKey) -> StoreResult<bool>;
    /// At once: `current` (still current; with `None`, only while no key is) becomes previous
    /// and `next` (still next) becomes current. Returns whether it did.
    async fn rotate<'a>(
        &self,
        current: Option<&'a str>,
        next: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Retires a `next` or `previous` key. Returns whether it did.
    async fn retire(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool>;
}

/// Authorization codes (RFC 6749 §4.1), kept by their fingerprint. A code works once; a
/// second use must revoke the tokens the first one gave (§4.1.2), so a spent code stays,
/// marked, until housekeeping deletes it a while after it expired.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AuthorizationCodeRepository: Send + Sync {
    async fn insert(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Spends the code, in one conditional statement: while it is unspent and `now` is before
    /// its expiry, marks it spent and records `session_id` as the session its tokens belong to
    /// (`Redeemed`); of several concurrent uses exactly one is `Redeemed`. A code spent
    /// before is marked replayed and answered with the session its first use recorded
    /// (`Replayed`), expired or not.
    async fn redeem(
        &self,
        fingerprint: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption>;
    /// Whether a second use of the code has been seen. The first use asks after opening its
    /// session: a replay that lands between its redemption and that session finds nothing to
    /// revoke, and is caught here instead.
    async fn replayed(&self, fingerprint: &str) -> StoreResult<bool>;
    /// Deletes the codes that expired before `before`; returns how many.
    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// What people allowed clients that are not first-party to have: one grant of scopes per
/// person and client.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ConsentRepository: Send + Sync {
    /// The scopes `user_id` granted `client_id`, if any.
    async fn find_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<Option<Scopes>>;
    /// Records the grant, replacing one made before, in one statement: concurrent grants all
    /// land, one of them standing.
    async fn grant_consent(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        scopes: &Scopes,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The person's grants, oldest first: (client, scopes, when).
    async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>>;
    /// Deletes the grant; returns whether there was one.
    async fn withdraw_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<bool>;
}

/// The clients of the OAuth 2.0 endpoints.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ClientRepository: Send + Sync {
    async fn insert(&self, client: &OAuthClient) -> StoreResult<()>;
    async fn find(&self, id: Uuid) -> StoreResult<Option<OAuthClient>>;
    /// Oldest first.
    async fn list(&self) -> StoreResult<Vec<OAuthClient>>;
    /// Sets the given fields (and `updated_at`), each alone: a concurrent change of another
    /// field stays. Returns whether the client exists.
    async fn update(
        &self,
        id: Uuid,
        changes: &ClientChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Replaces the secret's fingerprint of a client that has a secret (never a public
    /// client's). Returns whether it did.
    async fn set_secret(
        &self,
        id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Returns whether it existed.
    async fn delete(&self, id: Uuid) -> StoreResult<bool>;
}

/// A sealed secret could not be opened: it was sealed under another key or for another
/// purpose, or it was changed. Never says more, and never holds the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sealed secret could not be opened")]
pub struct Unsealable;

/// Encrypts secrets the service must read back later (TOTP seeds, signing keys, mail bodies
/// holding a token) before they are stored. `purpose` is bound to the sealed text: a secret
/// sealed for one user or use does not open for another, so rows cannot be swapped.
pub trait SecretSealer: Send + Sync {
    fn seal(&self, secret: &[u8], purpose: &str) -> Vec<u8>;
    fn open(&self, sealed: &[u8], purpose: &str) -> Result<Vec<u8>, Unsealable>;
}

/// Keyed one-way fingerprints of random secrets the service must recognise but never store
/// (recovery codes, login challenge tokens): a copied table cannot be searched without the
/// service's own secret. The same input always gives the same fingerprint.
#[cfg_attr(test, mockall::automock)]
pub trait Fingerprints: Send + Sync {
    fn of(&self, secret: &str) -> String;
}

/// PKCE's S256 transformation (RFC 7636 §4.2): the challenge a code verifier answers.
#[cfg_attr(test, mockall::automock)]
pub trait PkceTransform: Send + Sync {
    /// BASE64URL(SHA-256(ASCII(verifier))), unpadded.
    fn challenge_of(&self, verifier: &str) -> String;
}

/// RFC 6238 time-based one-time codes: HMAC-SHA-1, 6 digits, 30-second steps. Which step a
/// code may be spent for, and that it is spent once, are the domain's rules.
#[cfg_attr(test, mockall::automock)]
pub trait OneTimeCodes: Send + Sync {
    /// A new random secret (160 bits, as RFC 4226 recommends).
    fn new_secret(&self) -> Vec<u8>;
    /// What an authenticator app needs to add `secret` for `account`.
    fn enrolment(&self, secret: &[u8], account: &str) -> Result<TotpEnrolment, DomainError>;
    /// The time step (`unix_time / 30`) among the one of `unix_time` and its two neighbours
    /// whose code `code` is, if any. Anything but six ASCII digits matches nothing.
    fn step_of(&self, secret: &[u8], code: &str, unix_time: i64) -> Option<i64>;
}

#[cfg_attr(test, mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC, truncated to microseconds (what every store keeps).
    fn now(&self) -> DateTime<Utc>;
}

/// Counts requests per key in fixed windows. Must count correctly when several processes share
/// the store.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Adds one hit to `key`'s window that starts at `window_start` and returns the window's
    /// count so far. Counts of earlier windows are never read again and may be dropped.
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32>;
    /// `key`'s count in the window that starts at `window_start` (0 if none), without a hit.
    async fn count(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32>;
    /// Deletes the counts of windows that started before `window_start`; returns how many.
    async fn delete_windows_before(&self, window_start: DateTime<Utc>) -> StoreResult<u64>;
}

/// How many connections a store holds, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Whether the store answers at all (readiness), and how busy it is.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
    /// `None` for stores without a connection pool.
    fn connections(&self) -> Option<ConnectionUsage>;
}

/// Second factors: a user's TOTP factor, their recovery codes (fingerprints only) and the
/// challenges of logins waiting for a code. Every change that spends something (a time step, a
/// recovery code, a challenge) is one atomic conditional write that says whether it spent it,
/// so that a code sent twice at once is accepted once.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// Stores a pending factor for the user, replacing a pending one, unless an enabled one
    /// exists. Returns whether it stored it.
    async fn begin_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn find_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpFactor>>;
    /// Enables the user's pending factor with its first code's `step`, and stores `recovery`
    /// (fingerprints) as the user's recovery codes, all at once: only while the pending factor
    /// is still the one sealed as `sealed_secret` (the one the code was checked against, not a
    /// newer enrolment). Returns whether it did.
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        step: i64,
        recovery: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Spends `step` of the user's enabled factor: only if it is after the last step spent.
    async fn spend_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool>;
    /// Deletes the user's factor (pending or enabled), recovery codes and login challenges (a
    /// challenge belongs to the factor it was made for). Returns whether a factor existed.
    async fn remove_totp(&self, user_id: Uuid) -> StoreResult<bool>;
    /// Replaces every recovery code of the user (the old ones die) while their factor is
    /// enabled. Returns whether it did.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        recovery: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Spends one unused recovery code of the user. Returns whether it did.
    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Stores a login's second step while its user is active (checked with the insert, as for
    /// tokens by mail). Returns whether it did.
    async fn open_challenge(&self, challenge: &MfaChallenge) -> StoreResult<bool>;
    /// The challenge with this fingerprint, if it has not expired at `now` nor been taken.
    async fn find_challenge(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MfaChallenge>>;
    /// Takes (deletes) the challenge if it is still there and unexpired: once, whoever asks.
    async fn take_challenge(&self, fingerprint: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Deletes the challenges expired at `now`; returns how many.
    async fn delete_expired_challenges(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Ends every login waiting for the user's second factor. Returns how many there were.
    async fn delete_challenges_for_user(&self, user_id: Uuid) -> StoreResult<u64>;
}

/// Single-use tokens sent by mail (stored as fingerprints) and what redeeming one does. Each
/// token is queued with its message in one transaction, and each redemption takes the token and
/// makes its change at once, so a token sent twice at once is redeemed once.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MailTokenRepository: Send + Sync {
    /// At once, while the user is active: deletes the user's other tokens of the same purpose (a
    /// newer token voids the older), stores `token` and queues `message`. Either all of it is
    /// stored or nothing; returns whether it was (not for a deactivated or deleted user, so a
    /// link issued while a deactivation lands is never left behind it).
    async fn issue(&self, token: &MailToken, message: &OutboxMessage) -> StoreResult<bool>;
    /// The token with this fingerprint and purpose, if it is unspent and unexpired at `now`.
    async fn find(
        &self,
        fingerprint: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MailToken>>;
    /// A password reset, at once: takes (deletes) the unexpired reset token and, only while the
    /// account is active and its address is still the one the token was sent to, sets its password hash to
    /// `new_hash`, revokes every session of the user, clears the account's failure count and
    /// lock, and marks the email verified (the link proved it). Returns the user's id if it
    /// reset.
    async fn redeem_reset(
        &self,
        fingerprint: &str,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;
    /// An address verification, at once: takes the unexpired verification token and marks its
    /// user's email verified, only while the account is active and its address is still the one
    /// the token was sent to (else the token is taken and nothing else changes). Returns the user's id if it
    /// verified.
    async fn redeem_verification(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;
    /// Deletes the tokens expired at `now`; returns how many.
    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Voids every token of the user (deactivated: no link of theirs may work, even after a
    /// reactivation). Returns how many there were.
    async fn void_for_user(&self, user_id: Uuid) -> StoreResult<u64>;
}

/// Messages waiting to be delivered. A claim is a lease: one caller holds a message until the
/// lease ends, however many servers claim at once; a message whose holder died is claimed again
/// once its lease is over.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues a message that carries no token.
    async fn enqueue(&self, message: &OutboxMessage) -> StoreResult<()>;
    /// Claims at most `limit` messages due at `now` that nobody holds, until `lease_until`,
    /// counting one attempt on each; returns them with that attempt counted.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Removes a message (delivered, or given up). Returns whether it was there.
    async fn remove(&self, id: Uuid) -> StoreResult<bool>;
    /// A failed attempt: lets go of the message until `next_attempt_at`.
    async fn retry_at(&self, id: Uuid, next_attempt_at: DateTime<Utc>) -> StoreResult<()>;
    /// Messages queued, for monitoring.
    async fn pending(&self) -> StoreResult<u64>;
}

/// Why a message could not be handed over. Never holds the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later: the server cannot be reached, or it said "try later".
    #[error("mail transport unavailable: {0}")]
    Transient(String),
    /// The server refused the message for good (a bad address).
    #[error("mail refused: {0}")]
    Permanent(String),
}

/// Hands a message to a mail system.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// What the operator's metrics hear of mail the service drops on purpose.
#[cfg_attr(test, mockall::automock)]
pub trait MailMetrics: Send + Sync {
    /// A message over its recipient's hourly cap was dropped.
    fn suppressed(&self, kind: MailKind);
}

/// Where security events are kept.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, record: &AuditRecord) -> StoreResult<()>;
    /// Newest first; `page` starts at 1.
    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<AuditRecord>>;
    /// Deletes the records made before `before`; returns how many.
    async fn delete_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Every storage port, from one adapter: what swapping storage swaps. Each adapter builds it
/// with its `stores()`; the services, the contract suite and the binary take it whole, so a new
/// storage port is one field here and one bound in `Stores::of`.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub throttle: Arc<dyn LoginThrottleRepository>,
    pub rate_limits: Arc<dyn RateLimitStore>,
    pub audit: Arc<dyn AuditLog>,
    pub mfa: Arc<dyn MfaRepository>,
    pub keys: Arc<dyn SigningKeyRepository>,
    pub clients: Arc<dyn ClientRepository>,
    pub authorization_codes: Arc<dyn AuthorizationCodeRepository>,
    pub consents: Arc<dyn ConsentRepository>,
    pub mail_tokens: Arc<dyn MailTokenRepository>,
    pub outbox: Arc<dyn Outbox>,
    pub health: Arc<dyn StoreHealth>,
}

impl Stores {
    /// Every port from one store that implements them all.
    pub fn of<S>(store: S) -> Self
    where
        S: UserRepository
            + SessionRepository
            + LoginThrottleRepository
            + RateLimitStore
            + AuditLog
            + MfaRepository
            + SigningKeyRepository
            + ClientRepository
            + AuthorizationCodeRepository
            + ConsentRepository
            + MailTokenRepository
            + Outbox
            + StoreHealth
            + Clone
            + 'static,
    {
        Stores {
            users: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            throttle: Arc::new(store.clone()),
            rate_limits: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            mfa: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            clients: Arc::new(store.clone()),
            authorization_codes: Arc::new(store.clone()),
            consents: Arc::new(store.clone()),
            mail_tokens: Arc::new(store.clone()),
            outbox: Arc::new(store.clone()),
            health: Arc::new(store),
        }
    }
}
