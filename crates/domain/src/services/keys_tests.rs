//! The key lifecycle over a fake store that keeps the repository's rules (one current, one
//! next, conditional moves), a fake generator and a codec that records what it was given.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::model::{KeyPair, Keyring, SharedSecretUse};
use crate::ports::{
    KeyGenerator, MockClock, SigningKeyRepository, StoreResult, TokenCodec, TokenRejection,
};
use crate::services::test_support::{Mocks, now};

#[derive(Default)]
struct FakeKeys(Mutex<Vec<SigningKey>>);

#[async_trait]
impl SigningKeyRepository for FakeKeys {
    async fn list(&self) -> StoreResult<Vec<SigningKey>> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn insert_next(&self, key: &SigningKey) -> StoreResult<bool> {
        let mut keys = self.0.lock().unwrap();
        if keys.iter().any(|k| k.state == KeyState::Next) {
            return Ok(false);
        }
        keys.push(key.clone());
        Ok(true)
    }
    async fn rotate<'a>(
        &self,
        current: Option<&'a str>,
        next: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut keys = self.0.lock().unwrap();
        let holds = keys
            .iter()
            .find(|k| k.state == KeyState::Current)
            .map(|k| k.kid.as_str())
            == current;
        if !holds
            || !keys
                .iter()
                .any(|k| k.kid == next && k.state == KeyState::Next)
        {
            return Ok(false);
        }
        for key in keys.iter_mut() {
            if Some(key.kid.as_str()) == current {
                key.state = KeyState::Previous;
                key.deactivated_at = Some(now);
            } else if key.kid == next {
                key.state = KeyState::Current;
                key.activated_at = Some(now);
            }
        }
        Ok(true)
    }
    async fn retire(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut keys = self.0.lock().unwrap();
        match keys
            .iter_mut()
            .find(|k| k.kid == kid && matches!(k.state, KeyState::Next | KeyState::Previous))
        {
            Some(key) => {
                key.state = KeyState::Retired;
                key.retired_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

struct FakeGenerator;

#[async_trait]
impl KeyGenerator for FakeGenerator {
    async fn generate(&self, algorithm: KeyAlgorithm, kid: &str) -> Result<KeyPair, DomainError> {
        Ok(KeyPair {
            private_der: format!("private-{kid}").into_bytes(),
            public: PublicJwk {
                kty: "EC".into(),
                kid: kid.into(),
                alg: algorithm,
                key_use: "sig".into(),
                crv: None,
                x: Some(kid.into()),
                y: None,
                n: None,
                e: None,
            },
        })
    }
}

/// What a codec was given: (kid, signs) per key, and the shared secret's use.
type Installed = (Vec<(String, bool)>, SharedSecretUse);

/// Keeps the keyring it was last given.
#[derive(Default)]
struct RecordingCodec(Mutex<Option<Installed>>);

impl TokenCodec for RecordingCodec {
    fn install(&self, keyring: Keyring) -> Result<(), DomainError> {
        let keys = keyring
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.private_der.is_some()))
            .collect();
        *self.0.lock().unwrap() = Some((keys, keyring.shared_secret));
        Ok(())
    }
    fn encode(&self, _: &crate::model::Claims) -> Result<String, DomainError> {
        unreachable!("keys sign nothing")
    }
    fn encode_id_token(&self, _: &crate::model::IdTokenClaims) -> Result<String, DomainError> {
        unreachable!("keys sign nothing")
    }
    fn decode(&self, _: &str) -> Result<crate::model::Claims, TokenRejection> {
        unreachable!("keys verify nothing")
    }
}

struct Harness {
    service: KeyService,
    keys: Arc<FakeKeys>,
    codec: Arc<RecordingCodec>,
    clock: Arc<Mutex<DateTime<Utc>>>,
}

fn policy(algorithm: KeyAlgorithm) -> KeyPolicy {
    KeyPolicy {
        algorithm,
        rotate_after: Some(Duration::days(90)),
        token_lifetime: Duration::days(30),
        unknown_kid_reload_interval: Duration::milliseconds(500),
    }
}

fn harness_on(keys: Arc<FakeKeys>, algorithm: KeyAlgorithm) -> Harness {
    let clock = Arc::new(Mutex::new(now()));
    let mut mocks = Mocks::new();
    let shared = clock.clone();
    mocks.clock = MockClock::new();
    mocks
        .clock
        .expect_now()
        .returning(move || *shared.lock().unwrap());
    let codec = Arc::new(RecordingCodec::default());
    let mut ports = mocks.into_ports();
    ports.stores.keys = keys.clone();
    ports.key_generator = Arc::new(FakeGenerator);
    ports.tokens = codec.clone();
    Harness {
        service: KeyService::new(ports, policy(algorithm)),
        keys,
        codec,
        clock,
    }
}

impl Harness {
    fn states(&self) -> Vec<(KeyAlgorithm, KeyState)> {
        let keys = self.keys.0.lock().unwrap();
        keys.iter().map(|k| (k.algorithm, k.state)).collect()
    }
    fn kid_in(&self, state: KeyState) -> String {
        let keys = self.keys.0.lock().unwrap();
        keys.iter().find(|k| k.state == state).unwrap().kid.clone()
    }
    fn installed(&self) -> Installed {
        self.codec.0.lock().unwrap().clone().unwrap()
    }
    fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap() += by;
    }
}

fn operator() -> ClientInfo {
    ClientInfo::default()
}

async fn a_new_installation_gets_a_current_and_a_next_key() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    use KeyAlgorithm::ES256;
    assert_eq!(
        h.states(),
        [(ES256, KeyState::Current), (ES256, KeyState::Next)]
    );
    let current = h.kid_in(KeyState::Current);
    let (keys, shared) = h.installed();
    assert!(keys.contains(&(current, true)), "the current key signs");
    assert_eq!(keys.iter().filter(|(_, signs)| *signs).count(), 1);
    assert_eq!(h.service.published().len(), 2);
    // The secret never signed here: tokens made with it are refused.
    assert_eq!(shared, SharedSecretUse::Refuse);
    let sealed = &h.keys.0.lock().unwrap()[0].sealed_private;
    assert!(sealed.starts_with(b"signing-key:"), "sealed for its kid");
}

async fn rotation_promotes_next_and_keeps_the_old_key_verifying() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    let (old, next) = (h.kid_in(KeyState::Current), h.kid_in(KeyState::Next));
    let current = h.service.rotate(None, &operator()).await.unwrap();
    assert_eq!(current.kid, next);
    assert_eq!(h.kid_in(KeyState::Previous), old);
    assert_ne!(h.kid_in(KeyState::Next), next, "a new next is made");
    let (keys, _) = h.installed();
    assert!(
        keys.contains(&(old.clone(), false)),
        "previous verifies only"
    );
    assert!(keys.contains(&(next, true)));
    assert_eq!(h.service.published().len(), 3);

    // Retiring it is refused while its tokens may live, unless forced, and never the current.
    assert!(matches!(
        h.service.retire(&old, false, None, &operator()).await,
        Err(DomainError::KeyInUse { .. })
    ));
    assert!(matches!(
        h.service
            .retire(&current.kid, true, None, &operator())
            .await,
        Err(DomainError::KeyInUse { .. })
    ));
    assert_eq!(
        h.service.retire("nope", true, None, &operator()).await,
        Err(DomainError::KeyNotFound)
    );
    h.service
        .retire(&old, true, None, &operator())
        .await
        .unwrap();
    assert!(!h.installed().0.iter().any(|(kid, _)| *kid == old));
}

async fn upkeep_rotates_when_due_and_retires_what_nothing_live_was_signed_by() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    let first = h.kid_in(KeyState::Current);
    h.advance(Duration::days(89));
    h.service.maintain(&operator()).await.unwrap();
    assert_eq!(h.kid_in(KeyState::Current), first, "not due yet");
    h.advance(Duration::days(1));
    h.service.maintain(&operator()).await.unwrap();
    assert_ne!(h.kid_in(KeyState::Current), first);
    assert_eq!(h.kid_in(KeyState::Previous), first);
    h.advance(Duration::days(30) - Duration::seconds(1));
    h.service.maintain(&operator()).await.unwrap();
    assert_eq!(
        h.kid_in(KeyState::Previous),
        first,
        "a token may still live"
    );
    h.advance(Duration::seconds(1));
    h.service.maintain(&operator()).await.unwrap();
    assert!(
        !h.states()
            .contains(&(KeyAlgorithm::ES256, KeyState::Previous))
    );
    // Long after the first key pair took over, HMAC tokens are refused.
    assert_eq!(h.installed().1, SharedSecretUse::Refuse);
}

async fn a_changed_algorithm_signs_with_a_key_of_its_own_at_once() {
    let keys = Arc::new(FakeKeys::default());
    harness_on(keys.clone(), KeyAlgorithm::ES256)
        .service
        .start()
        .await
        .unwrap();
    let h = harness_on(keys, KeyAlgorithm::EdDSA);
    h.service.start().await.unwrap();
    use KeyAlgorithm::{ES256, EdDSA};
    assert_eq!(
        h.states(),
        [
            (ES256, KeyState::Previous),
            (ES256, KeyState::Retired),
            (EdDSA, KeyState::Current),
            (EdDSA, KeyState::Next),
        ]
    );
}

async fn hmac_mode_stops_key_pairs_signing_and_publishes_nothing() {
    let keys = Arc::new(FakeKeys::default());
    harness_on(keys.clone(), KeyAlgorithm::ES256)
        .service
        .start()
        .await
        .unwrap();
    let h = harness_on(keys, KeyAlgorithm::HS256);
    h.service.start().await.unwrap();
    // The secret's own row records that it signs from now on; it holds no key material.
    assert_eq!(
        h.states(),
        [
            (KeyAlgorithm::ES256, KeyState::Previous),
            (KeyAlgorithm::ES256, KeyState::Retired),
            (KeyAlgorithm::HS256, KeyState::Current),
        ]
    );
    assert!(h.keys.0.lock().unwrap()[2].sealed_private.is_empty());
    let (installed, shared) = h.installed();
    assert_eq!(shared, SharedSecretUse::Sign);
    assert!(installed.iter().all(|(_, signs)| !signs));
    assert!(
        installed.iter().all(|(kid, _)| !kid.starts_with("hs-")),
        "the secret's row is no key"
    );
    assert!(h.service.published().is_empty());
    assert_eq!(
        h.service.rotate(None, &operator()).await,
        Err(DomainError::SharedSecretSigning)
    );
}

async fn a_key_sealed_under_another_secret_stops_the_start() {
    let keys = Arc::new(FakeKeys::default());
    harness_on(keys.clone(), KeyAlgorithm::ES256)
        .service
        .start()
        .await
        .unwrap();
    for key in keys.0.lock().unwrap().iter_mut() {
        key.sealed_private = b"sealed elsewhere".to_vec();
    }
    // Not even under another algorithm, which would otherwise make a key of its own.
    for algorithm in [KeyAlgorithm::ES256, KeyAlgorithm::EdDSA] {
        let h = harness_on(keys.clone(), algorithm);
        let before = h.states();
        assert_eq!(h.service.start().await, Err(DomainError::KeysUnreadable));
        assert_eq!(
            h.service.rotate(None, &operator()).await,
            Err(DomainError::KeysUnreadable)
        );
        assert_eq!(
            h.service.maintain(&operator()).await,
            Err(DomainError::KeysUnreadable)
        );
        assert_eq!(h.states(), before, "nothing written");
    }
}

async fn hmac_tokens_from_the_latest_hmac_period_verify_after_moving_back() {
    let keys = Arc::new(FakeKeys::default());
    harness_on(keys.clone(), KeyAlgorithm::ES256)
        .service
        .start()
        .await
        .unwrap();
    let hs = harness_on(keys.clone(), KeyAlgorithm::HS256);
    hs.advance(Duration::days(1));
    hs.service.start().await.unwrap();
    let back = harness_on(keys, KeyAlgorithm::ES256);
    back.advance(Duration::days(2));
    back.service.start().await.unwrap();
    // Key pairs took over again two days on: HMAC tokens from before then still verify,
    // until the last of them has expired.
    assert_eq!(
        back.installed().1,
        SharedSecretUse::AcceptIssuedBefore((now() + Duration::days(2)).timestamp())
    );
    back.advance(Duration::days(30));
    back.service.maintain(&operator()).await.unwrap();
    assert_eq!(back.installed().1, SharedSecretUse::Refuse);
}

async fn a_rotation_soon_after_another_is_the_same_event() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    let first = h.service.rotate(None, &operator()).await.unwrap();
    h.advance(Duration::milliseconds(999));
    let again = h.service.rotate(None, &operator()).await.unwrap();
    assert_eq!(again.kid, first.kid, "one rotation, one answer");
    assert_eq!(
        h.states()
            .iter()
            .filter(|(_, s)| *s == KeyState::Previous)
            .count(),
        1
    );
    h.advance(Duration::milliseconds(1));
    let later = h.service.rotate(None, &operator()).await.unwrap();
    assert_ne!(
        later.kid, first.kid,
        "a second later it is another rotation"
    );
    // A replica whose clock is a little behind the one that rotated: the same event.
    h.advance(Duration::milliseconds(-400));
    let behind = h.service.rotate(None, &operator()).await.unwrap();
    assert_eq!(behind.kid, later.kid);
    // Far behind (a rotation that looks a second or more ahead): no recent rotation of its.
    h.advance(Duration::milliseconds(-600));
    let far = h.service.rotate(None, &operator()).await.unwrap();
    assert_ne!(far.kid, later.kid);
}

async fn a_reload_that_finds_nothing_new_installs_nothing() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    *h.codec.0.lock().unwrap() = None;
    h.service.reload().await.unwrap();
    assert!(h.codec.0.lock().unwrap().is_none(), "the same keyring");
    h.service.rotate(None, &operator()).await.unwrap();
    assert!(h.codec.0.lock().unwrap().is_some(), "a new one");
}

async fn retiring_the_next_key_publishes_another() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    let next = h.kid_in(KeyState::Next);
    h.service
        .retire(&next, false, None, &operator())
        .await
        .unwrap();
    assert_ne!(h.kid_in(KeyState::Next), next);
    assert!(
        h.service
            .published()
            .iter()
            .any(|k| k.kid == h.kid_in(KeyState::Next))
    );
}

async fn unknown_kids_reload_at_most_once_per_interval() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    assert!(!h.service.reload_for_unknown_kid().await.unwrap());
    h.advance(Duration::milliseconds(500));
    assert!(h.service.reload_for_unknown_kid().await.unwrap());
    assert!(!h.service.reload_for_unknown_kid().await.unwrap());
}

async fn only_admins_manage_keys() {
    let h = harness_on(Arc::default(), KeyAlgorithm::ES256);
    h.service.start().await.unwrap();
    let user = crate::services::test_support::user(crate::model::Role::User);
    let principal = Principal {
        session_id: uuid::Uuid::new_v4(),
        user,
        client: operator(),
    };
    assert_eq!(
        h.service.list(Some(&principal)).await,
        Err(DomainError::Forbidden)
    );
    assert_eq!(
        h.service.rotate(Some(&principal), &operator()).await,
        Err(DomainError::Forbidden)
    );
}

/// Each case as a test on the test's own thread: the services need no runtime of their own.
macro_rules! blocking {
    ($($case:ident),* $(,)?) => {
        mod run {
            $(#[test] fn $case() { futures::executor::block_on(super::$case()); })*
        }
    };
}

blocking!(
    a_new_installation_gets_a_current_and_a_next_key,
    rotation_promotes_next_and_keeps_the_old_key_verifying,
    upkeep_rotates_when_due_and_retires_what_nothing_live_was_signed_by,
    a_changed_algorithm_signs_with_a_key_of_its_own_at_once,
    hmac_mode_stops_key_pairs_signing_and_publishes_nothing,
    a_key_sealed_under_another_secret_stops_the_start,
    hmac_tokens_from_the_latest_hmac_period_verify_after_moving_back,
    retiring_the_next_key_publishes_another,
    unknown_kids_reload_at_most_once_per_interval,
    a_rotation_soon_after_another_is_the_same_event,
    a_reload_that_finds_nothing_new_installs_nothing,
    only_admins_manage_keys,
);
