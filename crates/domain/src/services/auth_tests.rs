use chrono::Duration;
use futures::executor::block_on;
use mockall::predicate::eq;
use uuid::Uuid;

use super::AuthService;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, ClientInfo, NewUser, Principal, Registration, Role, TokenType, User,
};
use crate::policy::AuthPolicy;
use crate::ports::{Attempt, AttemptLimit, MockAuditLog, StoreError, ThrottleKey};
use crate::services::test_support::{Mocks, claims, now, policy, session, token_name, user};

fn service(mocks: Mocks) -> AuthService {
    AuthService::new(mocks.into_ports(), policy())
}

fn new_user() -> NewUser {
    NewUser {
        username: "Alice_1".into(),
        email: "Alice@Example.com".into(),
        password: "password1".into(),
        name: Some("Alice".into()),
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("127.0.0.1".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("req-1".into()),
        oauth_client: None,
    }
}

/// The session opens on the hash the login verified (the test user's).
fn expect_session_opened(mocks: &mut Mocks) {
    mocks.hasher.expect_needs_rehash().returning(|_| false);
    mocks
        .sessions
        .expect_open()
        .withf(|_, proof, _| proof == "hash-of-password1")
        .times(1)
        .returning(|_, _, _| Ok(true));
}

// --- register -------------------------------------------------------------------------------

#[test]
fn register_reports_every_broken_rule_without_touching_the_store() {
    let svc = service(Mocks::new());
    let bad = NewUser {
        username: "a!".into(),
        email: "nope".into(),
        password: "short".into(),
        name: Some("x\u{7}".into()),
    };
    let Err(DomainError::Validation(errors)) = block_on(svc.register(bad, &client())) else {
        panic!("expected a validation error");
    };
    let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert!(fields.contains(&("username", "too_short")));
    assert!(fields.contains(&("username", "invalid_characters")));
    assert!(fields.contains(&("email", "invalid_email")));
    assert!(fields.contains(&("password", "too_short")));
    assert!(fields.contains(&("password", "missing_digit")));
    assert!(fields.contains(&("name", "invalid_characters")));
}

#[test]
fn register_refuses_a_taken_username_before_hashing() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(Some(user(Role::User))));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.register(new_user(), &client())).unwrap_err(),
        DomainError::UsernameTaken
    );
}

#[test]
fn register_refuses_a_taken_email_compared_lower_cased() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks
        .users
        .expect_find_by_email()
        .with(eq("alice@example.com"))
        .returning(|_| Ok(Some(user(Role::User))));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.register(new_user(), &client())).unwrap_err(),
        DomainError::EmailTaken
    );
}

#[test]
fn register_turns_a_lost_race_on_the_unique_index_into_a_conflict() {
    let mut mocks = Mocks::new();
    let mut lookups = 0;
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    // Free when checked first; taken by a concurrent registration when checked after the insert.
    mocks.users.expect_find_by_email().returning(move |_| {
        lookups += 1;
        Ok((lookups > 1).then(|| user(Role::User)))
    });
    mocks.hasher.expect_hash().returning(|_| Ok("h".into()));
    mocks
        .users
        .expect_insert()
        .returning(|_| Err(StoreError::Conflict));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.register(new_user(), &client())).unwrap_err(),
        DomainError::EmailTaken
    );
}

#[test]
fn register_stores_a_hashed_user_and_opens_a_session() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    mocks
        .hasher
        .expect_hash()
        .with(eq("password1"))
        .returning(|_| Ok("bcrypt-hash".into()));
    mocks
        .users
        .expect_insert()
        .withf(|u| {
            u.email == "alice@example.com"
                && u.username == "Alice_1"
                && u.password_hash == "bcrypt-hash"
                && u.role == Role::User
                && u.is_active
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks
        .sessions
        .expect_open()
        .withf(|s, _, _| {
            s.ip.as_deref() == Some("127.0.0.1")
                && s.expires_at == now() + Duration::seconds(2_592_000)
                && s.revoked_at.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    let svc = service(mocks);
    let Registration::Tokens(issued) = block_on(svc.register(new_user(), &client())).unwrap()
    else {
        panic!("no session at register")
    };
    assert_eq!(issued.access_expires_in, 900);
    assert_eq!(issued.refresh_expires_in, 2_592_000);
    assert!(issued.access_token.starts_with("Access:"));
    assert!(issued.refresh_token.starts_with("Refresh:"));
    assert_eq!(issued.user.email, "alice@example.com");
}

// --- login ----------------------------------------------------------------------------------

/// The default policy's budget, as the service must hand it to the store.
fn default_limit() -> AttemptLimit {
    AttemptLimit {
        max_attempts: 5,
        lock_until: now() + Duration::seconds(900),
    }
}

fn expect_attempt(mocks: &mut Mocks, key: ThrottleKey, outcome: Attempt) {
    mocks
        .throttle
        .expect_count_attempt()
        .withf(move |k, at, limit| *k == key && *at == now() && *limit == default_limit())
        .times(1)
        .returning(move |_, _, _| Ok(outcome));
}

const COUNTED: Attempt = Attempt::Counted { last: false };

/// Audit records are accepted; those of `event` are counted and must come exactly `times`.
fn expect_audited(mocks: &mut Mocks, event: AuditEvent, times: usize) {
    mocks.audit = MockAuditLog::new();
    mocks
        .audit
        .expect_record()
        .withf(move |r| r.event == event)
        .times(times)
        .returning(|_| Ok(()));
    mocks
        .audit
        .expect_record()
        .withf(move |r| r.event != event)
        .returning(|_| Ok(()));
}

fn with_alice(mocks: &mut Mocks, alice: &User) {
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_username()
        .returning(move |_| Ok(Some(found.clone())));
}

#[test]
fn login_with_an_unknown_name_still_runs_the_hasher_and_counts_the_login_string() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .with(eq("ghost"))
        .returning(|_| Ok(None));
    expect_attempt(
        &mut mocks,
        ThrottleKey::UnknownLogin("ghost".into()),
        COUNTED,
    );
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok("dummy".into()));
    mocks
        .hasher
        .expect_verify()
        .withf(|_, hash| hash == "dummy")
        .times(1)
        .returning(|_, _| Ok(false));
    mocks.throttle.expect_clear().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("Ghost", "password1", &client())).unwrap_err(),
        DomainError::InvalidCredentials
    );
}

#[test]
fn a_wrong_password_stays_counted_against_the_account() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    expect_attempt(&mut mocks, ThrottleKey::Account(alice.id), COUNTED);
    mocks.hasher.expect_verify().returning(|_, _| Ok(false));
    mocks.throttle.expect_clear().never();
    expect_audited(&mut mocks, AuditEvent::Lockout, 0);
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("alice_1", "wrong1234", &client())).unwrap_err(),
        DomainError::InvalidCredentials
    );
}

#[test]
fn login_by_email_looks_the_account_up_by_email() {
    let alice = user(Role::User);
    let key = ThrottleKey::Account(alice.id);
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_email()
        .with(eq("alice@example.com"))
        .returning(move |_| Ok(Some(alice.clone())));
    expect_attempt(&mut mocks, key.clone(), COUNTED);
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks
        .throttle
        .expect_clear()
        .withf(move |k| *k == key)
        .times(1)
        .returning(|_| Ok(()));
    expect_session_opened(&mut mocks);
    let svc = service(mocks);
    assert!(block_on(svc.login("ALICE@example.com", "password1", &client())).is_ok());
}

#[test]
fn the_failed_attempt_that_spends_the_budget_is_recorded_as_a_lockout() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    expect_attempt(
        &mut mocks,
        ThrottleKey::UnknownLogin("bob".into()),
        Attempt::Counted { last: true },
    );
    mocks.hasher.expect_hash().returning(|_| Ok("dummy".into()));
    mocks.hasher.expect_verify().returning(|_, _| Ok(false));
    expect_audited(&mut mocks, AuditEvent::Lockout, 1);
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("bob", "password1", &client())).unwrap_err(),
        DomainError::InvalidCredentials
    );
}

#[test]
fn a_locked_login_is_refused_unjudged_even_with_the_right_password_and_says_how_long() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    let until = now() + Duration::milliseconds(120_500);
    expect_attempt(
        &mut mocks,
        ThrottleKey::Account(alice.id),
        Attempt::Locked { until },
    );
    mocks.hasher.expect_verify().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("alice_1", "password1", &client())).unwrap_err(),
        DomainError::AccountLocked {
            retry_after_seconds: 121
        }
    );
}

#[test]
fn a_successful_last_attempt_clears_its_lock() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    expect_attempt(
        &mut mocks,
        ThrottleKey::Account(alice.id),
        Attempt::Counted { last: true },
    );
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.throttle.expect_clear().times(1).returning(|_| Ok(()));
    expect_session_opened(&mut mocks);
    expect_audited(&mut mocks, AuditEvent::Lockout, 0);
    let svc = service(mocks);
    assert!(block_on(svc.login("alice_1", "password1", &client())).is_ok());
}

#[test]
fn a_deactivated_account_cannot_log_in() {
    let mut alice = user(Role::User);
    alice.is_active = false;
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    expect_attempt(&mut mocks, ThrottleKey::Account(alice.id), COUNTED);
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.throttle.expect_clear().returning(|_| Ok(()));
    mocks.sessions.expect_open().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("alice_1", "password1", &client())).unwrap_err(),
        DomainError::AccountDisabled
    );
}

#[test]
fn a_login_that_loses_a_race_with_a_password_change_opens_nothing() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    expect_attempt(&mut mocks, ThrottleKey::Account(alice.id), COUNTED);
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.throttle.expect_clear().returning(|_| Ok(()));
    mocks.hasher.expect_needs_rehash().returning(|_| false);
    // The store no longer has the hash the login verified.
    mocks.sessions.expect_open().returning(|_, _, _| Ok(false));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.login("alice_1", "password1", &client())).unwrap_err(),
        DomainError::InvalidCredentials
    );
}

#[test]
fn a_login_string_no_account_could_have_is_not_counted() {
    let mut mocks = Mocks::new();
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    mocks.throttle.expect_count_attempt().never();
    mocks.hasher.expect_hash().returning(|_| Ok("dummy".into()));
    mocks
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(false));
    let svc = service(mocks);
    let long = format!("{}@example.com", "a".repeat(300));
    assert_eq!(
        block_on(svc.login(&long, "password1", &client())).unwrap_err(),
        DomainError::InvalidCredentials
    );
}

fn outdated_hash_login(rehash_works: bool, swapped: usize) -> Mocks {
    let alice = user(Role::User);
    let id = alice.id;
    let mut mocks = Mocks::new();
    with_alice(&mut mocks, &alice);
    expect_attempt(&mut mocks, ThrottleKey::Account(id), COUNTED);
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.throttle.expect_clear().returning(|_| Ok(()));
    mocks.hasher.expect_needs_rehash().returning(|_| true);
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password == "password1")
        .times(1)
        .returning(move |_| {
            if rehash_works {
                Ok("rehashed".into())
            } else {
                Err(DomainError::Overloaded)
            }
        });
    mocks
        .users
        .expect_replace_password_hash()
        .withf(move |user, current, new, at| {
            (*user, current, new, *at) == (id, "hash-of-password1", "rehashed", now())
        })
        .times(swapped)
        .returning(|_, _, _, _| Ok(true));
    // The session opens on the new hash: the old one is no longer the account's.
    mocks
        .sessions
        .expect_open()
        .withf(move |_, proof, _| {
            proof
                == if swapped == 1 {
                    "rehashed"
                } else {
                    "hash-of-password1"
                }
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks
}

#[test]
fn a_successful_login_brings_an_outdated_hash_to_the_configured_parameters() {
    let svc = service(outdated_hash_login(true, 1));
    assert!(block_on(svc.login("alice_1", "password1", &client())).is_ok());
}

#[test]
fn a_failed_rehash_never_fails_the_login() {
    let svc = service(outdated_hash_login(false, 0));
    assert!(block_on(svc.login("alice_1", "password1", &client())).is_ok());
}

// --- tokens ---------------------------------------------------------------------------------

fn access_claims_for(session: &crate::model::Session) -> crate::model::Claims {
    claims(TokenType::Access, session, Uuid::new_v4())
}

#[test]
fn tokens_are_checked_for_issuer_audience_type_and_time() {
    let alice = user(Role::User);
    let s = session(&alice);
    let cases = [
        (|c: &mut crate::model::Claims| c.iss = "evil".into()) as fn(&mut _),
        |c| c.aud = "other".into(),
        |c| c.nbf = now().timestamp() + 5,
    ];
    for tamper in cases {
        let mut c = access_claims_for(&s);
        tamper(&mut c);
        let svc = service(Mocks::new().decoding(c));
        assert_eq!(
            block_on(svc.authenticate("t", client())).unwrap_err(),
            DomainError::InvalidToken
        );
    }

    let mut expired = access_claims_for(&s);
    expired.exp = now().timestamp();
    let svc = service(Mocks::new().decoding(expired));
    assert_eq!(
        block_on(svc.authenticate("t", client())).unwrap_err(),
        DomainError::TokenExpired
    );

    let refresh = claims(TokenType::Refresh, &s, s.refresh_jti);
    let svc = service(Mocks::new().decoding(refresh));
    assert_eq!(
        block_on(svc.authenticate("t", client())).unwrap_err(),
        DomainError::WrongTokenType
    );

    let access = access_claims_for(&s);
    let svc = service(Mocks::new().decoding(access));
    assert_eq!(
        block_on(svc.refresh("t", &client())).unwrap_err(),
        DomainError::WrongTokenType
    );

    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_decode()
        .returning(|_| Err(crate::ports::TokenRejection::Invalid));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.authenticate("t", client())).unwrap_err(),
        DomainError::InvalidToken
    );
}

#[test]
fn leeway_tolerates_clock_skew_on_exp_and_nbf() {
    let alice = user(Role::User);
    let s = session(&alice);
    let mut c = access_claims_for(&s);
    c.exp = now().timestamp() - 5;
    c.nbf = now().timestamp() + 5;
    let mut mocks = Mocks::new().decoding(c);
    let found = (s.clone(), alice.clone());
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |_| Ok(Some(found.clone())));
    let policy = AuthPolicy {
        leeway: Duration::seconds(10),
        ..policy()
    };
    let svc = AuthService::new(mocks.into_ports(), policy);
    assert!(block_on(svc.authenticate("t", client())).is_ok());
}

#[test]
fn an_access_token_dies_with_its_session_or_its_user() {
    let alice = user(Role::User);
    let live = session(&alice);
    let mut revoked = live.clone();
    revoked.revoked_at = Some(now());
    let mut expired = live.clone();
    expired.expires_at = now();
    let mut inactive = alice.clone();
    inactive.is_active = false;
    let mut someone_else = live.clone();
    someone_else.user_id = uuid::Uuid::new_v4();

    // Gone (with its user, or on its own), revoked, expired, another user's, or a disabled user.
    let scenarios = [
        None,
        Some((revoked, alice.clone())),
        Some((expired, alice.clone())),
        Some((someone_else, alice.clone())),
        Some((live.clone(), inactive)),
    ];
    for found in scenarios {
        let mut mocks = Mocks::new().decoding(access_claims_for(&live));
        mocks
            .sessions
            .expect_find_with_user()
            .returning(move |_| Ok(found.clone()));
        let svc = service(mocks);
        assert_eq!(
            block_on(svc.authenticate("t", client())).unwrap_err(),
            DomainError::TokenRevoked
        );
    }
}

#[test]
fn authenticate_records_use_at_most_once_a_minute() {
    let alice = user(Role::User);
    let mut stale = session(&alice);
    stale.last_used_at = now() - Duration::seconds(61);
    let mut mocks = Mocks::new().decoding(access_claims_for(&stale));
    let id = stale.id;
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |_| Ok(Some((stale.clone(), alice.clone()))));
    mocks
        .sessions
        .expect_touch()
        .with(eq(id), eq(now()))
        .times(1)
        .returning(|_, _| Ok(()));
    let svc = service(mocks);
    let principal = block_on(svc.authenticate("t", client())).unwrap();
    assert_eq!(principal.session_id, id);
}

// --- refresh --------------------------------------------------------------------------------

fn refresh_mocks(session: &crate::model::Session, owner: &crate::model::User, jti: Uuid) -> Mocks {
    let mut mocks = Mocks::new().decoding(claims(TokenType::Refresh, session, jti));
    let found = (session.clone(), owner.clone());
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |_| Ok(Some(found.clone())));
    // A token that is not the current one is judged on a fresh read: here, the same row.
    let stored = session.clone();
    mocks
        .sessions
        .expect_find()
        .returning(move |_| Ok(Some(stored.clone())));
    mocks
}

#[test]
fn refresh_rotates_the_refresh_token() {
    let alice = user(Role::User);
    let s = session(&alice);
    let old = s.refresh_jti;
    let mut mocks = refresh_mocks(&s, &alice, old);
    mocks
        .sessions
        .expect_rotate_refresh()
        .withf(move |id, current, next, _, expires| {
            *current == old && *next != old && *id != Uuid::nil() && *expires > now()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(true));
    let svc = service(mocks);
    let issued = block_on(svc.refresh("t", &client())).unwrap();
    assert_ne!(issued.refresh_token, token_name(TokenType::Refresh, old));
}

#[test]
fn a_reused_refresh_token_revokes_its_whole_session() {
    let alice = user(Role::User);
    let s = session(&alice);
    let mut mocks = refresh_mocks(&s, &alice, Uuid::new_v4());
    mocks
        .sessions
        .expect_revoke()
        .with(eq(s.id), eq(now()))
        .times(1)
        .returning(|_, _| Ok(true));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.refresh("t", &client())).unwrap_err(),
        DomainError::RefreshTokenReused
    );
}

fn rotated_seconds_ago(alice: &crate::model::User, seconds: i64) -> (crate::model::Session, Uuid) {
    let mut s = session(alice);
    let previous = Uuid::new_v4();
    s.previous_refresh_jti = Some(previous);
    s.rotated_at = Some(now() - Duration::seconds(seconds));
    (s, previous)
}

#[test]
fn the_previous_refresh_token_within_the_grace_gets_the_current_one_back() {
    let alice = user(Role::User);
    let (s, previous) = rotated_seconds_ago(&alice, 3);
    let mut mocks = refresh_mocks(&s, &alice, previous);
    mocks.sessions.expect_revoke().never();
    mocks.sessions.expect_rotate_refresh().never();
    let svc = service(mocks);
    let issued = block_on(svc.refresh("t", &client())).unwrap();
    assert_eq!(
        issued.refresh_token,
        token_name(TokenType::Refresh, s.refresh_jti)
    );
}

#[test]
fn the_previous_refresh_token_after_the_grace_is_a_reuse() {
    let alice = user(Role::User);
    let (s, previous) = rotated_seconds_ago(&alice, 10);
    let mut mocks = refresh_mocks(&s, &alice, previous);
    mocks
        .sessions
        .expect_revoke()
        .times(1)
        .returning(|_, _| Ok(true));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.refresh("t", &client())).unwrap_err(),
        DomainError::RefreshTokenReused
    );
}

#[test]
fn with_no_grace_any_second_use_is_a_reuse() {
    let alice = user(Role::User);
    let (s, previous) = rotated_seconds_ago(&alice, 0);
    let mut mocks = refresh_mocks(&s, &alice, previous);
    mocks
        .sessions
        .expect_revoke()
        .times(1)
        .returning(|_, _| Ok(true));
    let policy = AuthPolicy {
        refresh_reuse_grace: Duration::zero(),
        ..policy()
    };
    let svc = AuthService::new(mocks.into_ports(), policy);
    assert_eq!(
        block_on(svc.refresh("t", &client())).unwrap_err(),
        DomainError::RefreshTokenReused
    );
}

#[test]
fn a_lookup_behind_another_servers_rotation_is_not_taken_for_a_reuse() {
    let alice = user(Role::User);
    let remembered = session(&alice);
    let mut stored = remembered.clone();
    stored.previous_refresh_jti = Some(remembered.refresh_jti);
    stored.refresh_jti = Uuid::new_v4();
    stored.rotated_at = Some(now() - Duration::seconds(30));
    let presented = stored.refresh_jti;

    let mut mocks = Mocks::new().decoding(claims(TokenType::Refresh, &stored, presented));
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |_| Ok(Some((remembered.clone(), alice.clone()))));
    mocks
        .sessions
        .expect_find()
        .times(1)
        .returning(move |_| Ok(Some(stored.clone())));
    mocks.sessions.expect_revoke().never();
    mocks
        .sessions
        .expect_rotate_refresh()
        .withf(move |_, current, _, _, _| *current == presented)
        .times(1)
        .returning(|_, _, _, _, _| Ok(true));
    let svc = service(mocks);
    block_on(svc.refresh("t", &client())).unwrap();
}

#[test]
fn a_refresh_that_loses_a_race_is_judged_against_the_winner() {
    let alice = user(Role::User);
    let before = session(&alice);
    let presented = before.refresh_jti;
    let mut after = before.clone();
    after.refresh_jti = Uuid::new_v4();
    after.previous_refresh_jti = Some(presented);
    after.rotated_at = Some(now());
    let winner = after.refresh_jti;

    let mut mocks = Mocks::new().decoding(claims(TokenType::Refresh, &before, presented));
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |_| Ok(Some((before.clone(), alice.clone()))));
    // Re-read after losing the race: the winner's rotation.
    mocks
        .sessions
        .expect_find()
        .times(1)
        .returning(move |_| Ok(Some(after.clone())));
    mocks
        .sessions
        .expect_rotate_refresh()
        .returning(|_, _, _, _, _| Ok(false));
    let svc = service(mocks);
    let issued = block_on(svc.refresh("t", &client())).unwrap();
    assert_eq!(issued.refresh_token, token_name(TokenType::Refresh, winner));
}

#[test]
fn a_deactivated_user_cannot_refresh() {
    let mut alice = user(Role::User);
    alice.is_active = false;
    let s = session(&alice);
    let mocks = refresh_mocks(&s, &alice, s.refresh_jti);
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.refresh("t", &client())).unwrap_err(),
        DomainError::AccountDisabled
    );
}

// --- logout, revoke, password, sessions -----------------------------------------------------

fn principal(user: &crate::model::User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

#[test]
fn logout_revokes_the_current_session_and_logout_all_every_session() {
    let alice = user(Role::User);
    let p = principal(&alice);
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_revoke()
        .with(eq(p.session_id), eq(now()))
        .times(1)
        .returning(|_, _| Ok(true));
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .with(eq(alice.id), eq(None), eq(now()))
        .times(1)
        .returning(|_, _, _| Ok(2));
    let svc = service(mocks);
    block_on(svc.logout(&p)).unwrap();
    block_on(svc.logout_all(&p)).unwrap();
}

#[test]
fn revoke_ignores_garbage_and_revokes_the_session_of_a_real_token() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_decode()
        .returning(|_| Err(crate::ports::TokenRejection::Invalid));
    let svc = service(mocks);
    assert!(block_on(svc.revoke_token("garbage", &client())).is_ok());

    let alice = user(Role::User);
    let s = session(&alice);
    let mut expired = claims(TokenType::Refresh, &s, s.refresh_jti);
    expired.exp = now().timestamp() - 1;
    let mut mocks = Mocks::new().decoding(expired);
    let found = s.clone();
    mocks
        .sessions
        .expect_find()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .sessions
        .expect_revoke()
        .with(eq(s.id), eq(now()))
        .times(1)
        .returning(|_, _| Ok(true));
    let svc = service(mocks);
    assert!(block_on(svc.revoke_token("t", &client())).is_ok());
}

#[test]
fn a_replayed_revoke_records_nothing() {
    let alice = user(Role::User);
    let s = session(&alice);
    let mut mocks = Mocks::new().decoding(claims(TokenType::Refresh, &s, s.refresh_jti));
    let found = s.clone();
    mocks
        .sessions
        .expect_find()
        .returning(move |_| Ok(Some(found.clone())));
    mocks.sessions.expect_revoke().returning(|_, _| Ok(false));
    mocks.audit = MockAuditLog::new();
    mocks.audit.expect_record().never();
    let svc = service(mocks);
    assert!(block_on(svc.revoke_token("t", &client())).is_ok());
}

fn password_change_mocks(alice: &User, attempt: Attempt) -> Mocks {
    let mut mocks = Mocks::new();
    expect_attempt(&mut mocks, ThrottleKey::Account(alice.id), attempt);
    mocks
}

#[test]
fn a_wrong_current_password_is_a_field_error_and_counts_towards_the_lockout() {
    let alice = user(Role::User);
    let mut mocks = password_change_mocks(&alice, Attempt::Counted { last: true });
    mocks.hasher.expect_verify().returning(|_, _| Ok(false));
    mocks.throttle.expect_clear().never();
    mocks.users.expect_replace_password_hash().never();
    expect_audited(&mut mocks, AuditEvent::Lockout, 1);
    let svc = service(mocks);
    let Err(DomainError::Validation(errors)) =
        block_on(svc.change_password(&principal(&alice), "nope1234", "newpass123"))
    else {
        panic!("expected a validation error");
    };
    assert_eq!(errors[0].field, "current_password");
}

#[test]
fn a_locked_account_cannot_guess_through_the_password_change() {
    let alice = user(Role::User);
    let until = now() + Duration::seconds(30);
    let mut mocks = password_change_mocks(&alice, Attempt::Locked { until });
    mocks.hasher.expect_verify().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.change_password(&principal(&alice), "password1", "newpass123")),
        Err(DomainError::AccountLocked {
            retry_after_seconds: 30
        })
    );
}

/// The caller's password matches the hashes in `matching`; the swap from each hash answers as
/// `swaps` says, in order.
fn expect_swaps(
    mocks: &mut Mocks,
    alice: &User,
    matching: &'static [&'static str],
    swaps: Vec<(&'static str, bool)>,
) {
    let id = alice.id;
    mocks
        .hasher
        .expect_verify()
        .returning(move |_, hash| Ok(matching.contains(&hash)));
    mocks.throttle.expect_clear().times(1).returning(|_| Ok(()));
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok("new-hash".into()));
    let mut sequence = mockall::Sequence::new();
    for (from, swapped) in swaps {
        mocks
            .users
            .expect_replace_password_hash()
            .withf(move |user, current, new, at| {
                (*user, current, new, *at) == (id, from, "new-hash", now())
            })
            .times(1)
            .in_sequence(&mut sequence)
            .returning(move |_, _, _, _| Ok(swapped));
    }
}

/// What the store holds after a failed swap.
fn stored_hash(mocks: &mut Mocks, alice: &User, hash: &'static str) {
    let stored = User {
        password_hash: hash.into(),
        ..alice.clone()
    };
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(stored.clone())));
}

#[test]
fn changing_the_password_swaps_the_proven_hash_and_keeps_only_the_current_session() {
    let alice = user(Role::User);
    let p = principal(&alice);
    let mut mocks = password_change_mocks(&alice, COUNTED);
    expect_swaps(
        &mut mocks,
        &alice,
        &["hash-of-password1"],
        vec![("hash-of-password1", true)],
    );
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .with(eq(alice.id), eq(Some(p.session_id)), eq(now()))
        .times(1)
        .returning(|_, _, _| Ok(1));
    let svc = service(mocks);
    block_on(svc.change_password(&p, "password1", "newpass123")).unwrap();
}

#[test]
fn a_change_that_loses_the_race_to_another_is_refused() {
    let alice = user(Role::User);
    let mut mocks = password_change_mocks(&alice, COUNTED);
    expect_swaps(
        &mut mocks,
        &alice,
        &["hash-of-password1"],
        vec![("hash-of-password1", false)],
    );
    // The winner's password is now the account's; the caller's is not.
    stored_hash(&mut mocks, &alice, "hash-of-the-winners-password");
    mocks.sessions.expect_revoke_all_for_user().never();
    let svc = service(mocks);
    let Err(DomainError::Validation(errors)) =
        block_on(svc.change_password(&principal(&alice), "password1", "newpass123"))
    else {
        panic!("expected a validation error");
    };
    assert_eq!(errors[0].code, "wrong_password");
}

#[test]
fn a_change_racing_a_rehash_of_the_same_password_goes_through() {
    let alice = user(Role::User);
    let mut mocks = password_change_mocks(&alice, COUNTED);
    expect_swaps(
        &mut mocks,
        &alice,
        &["hash-of-password1", "rehash-of-password1"],
        vec![("hash-of-password1", false), ("rehash-of-password1", true)],
    );
    stored_hash(&mut mocks, &alice, "rehash-of-password1");
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .times(1)
        .returning(|_, _, _| Ok(0));
    let svc = service(mocks);
    block_on(svc.change_password(&principal(&alice), "password1", "newpass123")).unwrap();
}

#[test]
fn only_ones_own_live_session_can_be_ended() {
    let alice = user(Role::User);
    let bob = user(Role::User);
    let bobs = session(&bob);
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_find()
        .returning(move |_| Ok(Some(bobs.clone())));
    mocks.sessions.expect_revoke().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.end_session(&principal(&alice), Uuid::new_v4())).unwrap_err(),
        DomainError::SessionNotFound
    );
}

// --- contract section 17 ----------------------------------------------------------------------

fn requiring_verification(mocks: Mocks) -> AuthService {
    AuthService::new(
        mocks.into_ports(),
        AuthPolicy {
            require_verified_email: true,
            ..policy()
        },
    )
}

#[test]
fn where_verification_is_required_register_opens_no_session() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok("hash-of-password1".into()));
    mocks.users.expect_insert().times(1).returning(|_| Ok(()));
    mocks.sessions.expect_open().never();
    let registered = block_on(requiring_verification(mocks).register(new_user(), &client()));
    let Ok(Registration::VerificationRequired(user)) = registered else {
        panic!("no session: {registered:?}")
    };
    assert!(!user.email_verified);
}

#[test]
fn where_verification_is_required_an_unverified_session_does_not_refresh() {
    let alice = user(Role::User);
    let s = session(&alice);
    let mut mocks = refresh_mocks(&s, &alice, s.refresh_jti);
    mocks.sessions.expect_rotate_refresh().never();
    assert_eq!(
        block_on(requiring_verification(mocks).refresh("t", &client())).unwrap_err(),
        DomainError::EmailNotVerified
    );
}

#[test]
fn a_refresh_token_works_only_for_its_client() {
    let alice = user(Role::User);
    let s = session(&alice);
    let web = Uuid::new_v4();
    for (azp, presented) in [
        (Some(web), Some(Uuid::new_v4())),
        (Some(web), None),
        (None, Some(web)),
    ] {
        let claims = crate::model::Claims {
            azp,
            ..claims(TokenType::Refresh, &s, s.refresh_jti)
        };
        let mut mocks = Mocks::new().decoding(claims);
        let found = (s.clone(), alice.clone());
        mocks
            .sessions
            .expect_find_with_user()
            .returning(move |_| Ok(Some(found.clone())));
        mocks.sessions.expect_rotate_refresh().never();
        let caller = ClientInfo {
            oauth_client: presented,
            ..client()
        };
        assert_eq!(
            block_on(service(mocks).refresh("t", &caller)).unwrap_err(),
            DomainError::InvalidToken,
            "{azp:?} presented by {presented:?}"
        );
    }
}

#[test]
fn the_lifetime_bound_allows_the_leeway_and_no_more() {
    let alice = user(Role::User);
    let s = session(&alice);
    let leeway = 30;
    for (extra, valid) in [(leeway, true), (leeway + 1, false)] {
        let claims = crate::model::Claims {
            iat: now().timestamp(),
            nbf: now().timestamp(),
            exp: now().timestamp() + 900 + extra,
            ..claims(TokenType::Access, &s, Uuid::new_v4())
        };
        let svc = AuthService::new(
            Mocks::new().decoding(claims).into_ports(),
            AuthPolicy {
                leeway: Duration::seconds(leeway),
                ..policy()
            },
        );
        assert_eq!(
            block_on(svc.verify_token("t", TokenType::Access)).is_ok(),
            valid,
            "{extra} s over the access lifetime"
        );
    }
}

#[test]
fn a_token_claiming_a_longer_life_than_its_type_is_invalid() {
    let alice = user(Role::User);
    let s = session(&alice);
    for (token_type, ttl) in [(TokenType::Access, 900), (TokenType::Refresh, 2_592_000)] {
        let base = claims(token_type, &s, Uuid::new_v4());
        let too_long = crate::model::Claims {
            iat: now().timestamp(),
            nbf: now().timestamp(),
            exp: now().timestamp() + ttl + 1,
            ..base
        };
        let svc = service(Mocks::new().decoding(too_long.clone()));
        assert_eq!(
            block_on(svc.verify_token("t", token_type)).unwrap_err(),
            DomainError::InvalidToken
        );
        // Nor from a future `iat`: a right-sized life that ends in ten years.
        let later = too_long.iat + 10 * 365 * 86_400;
        let postdated = crate::model::Claims {
            iat: later,
            exp: later + ttl,
            ..too_long
        };
        let svc = service(Mocks::new().decoding(postdated));
        assert_eq!(
            block_on(svc.verify_token("t", token_type)).unwrap_err(),
            DomainError::InvalidToken
        );
    }
}
