use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use mockall::predicate::eq;
use uuid::Uuid;

use crate::error::DomainError;
use crate::model::{
    AuditEvent, ClientInfo, Principal, Role, TotpEnrolment, TotpFactor, User, totp_purpose,
};
use crate::ports::{Attempt, MockAuditLog, SecretSealer};
use crate::services::AuthService;
use crate::services::test_support::{FakeSealer, Mocks, now, policy, user};
use crate::validation::FieldError;

const SECRET: &[u8] = b"raw-secret";
/// The step of `now()`.
fn step() -> i64 {
    now().timestamp() / 30
}

fn principal(user: &User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

fn factor(user: &User, enabled: bool) -> TotpFactor {
    TotpFactor {
        user_id: user.id,
        sealed_secret: FakeSealer.seal(SECRET, &totp_purpose(user.id)),
        enabled_at: enabled.then(now),
        last_step: enabled.then(|| step() - 5),
        created_at: now(),
    }
}

fn service(mocks: Mocks) -> AuthService {
    AuthService::new(mocks.into_ports(), policy())
}

/// One attempt is counted, with `outcome`; a success may clear the count.
fn counted(mocks: &mut Mocks, outcome: Attempt) {
    mocks
        .throttle
        .expect_count_attempt()
        .times(1)
        .returning(move |_, _, _| Ok(outcome));
    mocks.throttle.expect_clear().returning(|_| Ok(()));
}

fn with_factor(mocks: &mut Mocks, found: Option<TotpFactor>) {
    mocks
        .mfa
        .expect_find_totp()
        .returning(move |_| Ok(found.clone()));
}

/// `code` is the code of `step()` for the secret; anything else is no code.
fn codes_accept(mocks: &mut Mocks, code: &'static str) {
    mocks
        .codes
        .expect_step_of()
        .withf(|secret, _, time| secret == SECRET && *time == now().timestamp())
        .returning(move |_, given, _| (given == code).then(step));
}

/// Records the audit events written.
fn audited(mocks: &mut Mocks) -> Arc<Mutex<Vec<AuditEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut audit = MockAuditLog::new();
    audit.expect_record().returning(move |record| {
        seen.lock().unwrap().push(record.event);
        Ok(())
    });
    mocks.audit = audit;
    events
}

fn invalid_code(field: &str) -> DomainError {
    DomainError::Validation(vec![FieldError::new(
        field,
        "invalid_code",
        "the code is wrong, or was used already",
    )])
}

#[test]
fn enrolment_needs_the_password_and_stores_the_secret_sealed_for_its_user() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    counted(&mut mocks, Attempt::Counted { last: false });
    mocks
        .hasher
        .expect_verify()
        .returning(|password, _| Ok(password == "right"));
    with_factor(&mut mocks, None);
    mocks
        .codes
        .expect_new_secret()
        .returning(|| SECRET.to_vec());
    let sealed = FakeSealer.seal(SECRET, &totp_purpose(alice.id));
    mocks
        .mfa
        .expect_begin_totp()
        .with(eq(alice.id), eq(sealed), eq(now()))
        .times(1)
        .returning(|_, _, _| Ok(true));
    let enrolment = TotpEnrolment {
        secret: "BASE32".into(),
        otpauth_uri: "otpauth://totp/x".into(),
        qr_svg: "<svg/>".into(),
    };
    let shown = enrolment.clone();
    mocks
        .codes
        .expect_enrolment()
        .withf(|secret, account| secret == SECRET && account == "Alice_1")
        .returning(move |_, _| Ok(shown.clone()));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.enrol_totp(&principal(&alice), "right")).unwrap(),
        enrolment
    );
}

#[test]
fn a_wrong_password_counts_and_enrols_nothing() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    counted(&mut mocks, Attempt::Counted { last: false });
    mocks.hasher.expect_verify().returning(|_, _| Ok(false));
    mocks.mfa.expect_begin_totp().never();
    let svc = service(mocks);
    let err = block_on(svc.enrol_totp(&principal(&alice), "wrong")).unwrap_err();
    assert!(
        matches!(&err, DomainError::Validation(errors) if errors[0].code == "wrong_password"),
        "{err:?}"
    );
}

#[test]
fn an_enabled_factor_is_not_replaced_by_a_new_enrolment() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    counted(&mut mocks, Attempt::Counted { last: false });
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    with_factor(&mut mocks, Some(factor(&alice, true)));
    mocks.mfa.expect_begin_totp().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.enrol_totp(&principal(&alice), "right")).unwrap_err(),
        DomainError::MfaAlreadyEnabled
    );
}

#[test]
fn confirmation_turns_it_on_shows_ten_codes_once_and_ends_other_sessions() {
    let alice = user(Role::User);
    let me = principal(&alice);
    let mut mocks = Mocks::new();
    let events = audited(&mut mocks);
    counted(&mut mocks, Attempt::Counted { last: false });
    with_factor(&mut mocks, Some(factor(&alice, false)));
    codes_accept(&mut mocks, "123456");
    let stored = Arc::new(Mutex::new(Vec::new()));
    let keep = stored.clone();
    mocks
        .mfa
        .expect_confirm_totp()
        .withf(|_, sealed, at_step, _, at| {
            *at_step == step() && *at == now() && sealed.ends_with(SECRET)
        })
        .times(1)
        .returning(move |_, _, _, fingerprints, _| {
            *keep.lock().unwrap() = fingerprints.to_vec();
            Ok(true)
        });
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .with(eq(alice.id), eq(Some(me.session_id)), eq(now()))
        .times(1)
        .returning(|_, _, _| Ok(2));
    let svc = service(mocks);
    let codes = block_on(svc.confirm_totp(&me, "123456")).unwrap();
    assert_eq!(codes.len(), 10);
    // Stored as fingerprints of the codes, separators and case dropped, never as the codes.
    let expected: Vec<String> = codes
        .iter()
        .map(|c| format!("fp({})", c.replace('-', "")))
        .collect();
    assert_eq!(*stored.lock().unwrap(), expected);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
    );
    assert_eq!(*events.lock().unwrap(), vec![AuditEvent::MfaEnabled]);
}

#[test]
fn a_wrong_first_code_counts_and_turns_nothing_on() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    let events = audited(&mut mocks);
    counted(&mut mocks, Attempt::Counted { last: false });
    with_factor(&mut mocks, Some(factor(&alice, false)));
    codes_accept(&mut mocks, "123456");
    mocks.mfa.expect_confirm_totp().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.confirm_totp(&principal(&alice), "654321")).unwrap_err(),
        invalid_code("code")
    );
    assert_eq!(*events.lock().unwrap(), vec![AuditEvent::MfaFailure]);
}

#[test]
fn a_code_is_spent_for_its_step_and_a_spent_one_is_refused() {
    let alice = user(Role::User);
    for (spent, expected) in [(true, Ok(())), (false, Err(invalid_code("code")))] {
        let mut mocks = Mocks::new();
        counted(&mut mocks, Attempt::Counted { last: false });
        with_factor(&mut mocks, Some(factor(&alice, true)));
        codes_accept(&mut mocks, "123456");
        mocks
            .mfa
            .expect_spend_totp_step()
            .with(eq(alice.id), eq(step()))
            .times(1)
            .returning(move |_, _| Ok(spent));
        let svc = service(mocks);
        let proof = crate::SecondFactor::Code("123456");
        assert_eq!(
            block_on(svc.prove_second_factor(&principal(&alice), proof)),
            expected
        );
    }
}

#[test]
fn a_recovery_code_is_spent_by_its_fingerprint_however_it_is_typed() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    let events = audited(&mut mocks);
    counted(&mut mocks, Attempt::Counted { last: false });
    with_factor(&mut mocks, Some(factor(&alice, true)));
    mocks
        .mfa
        .expect_spend_recovery_code()
        .with(eq(alice.id), eq("fp(abcde12345)".to_owned()), eq(now()))
        .times(1)
        .returning(|_, _, _| Ok(true));
    let svc = service(mocks);
    let proof = crate::SecondFactor::RecoveryCode(" ABCDE-12345 ");
    block_on(svc.prove_second_factor(&principal(&alice), proof)).unwrap();
    assert_eq!(*events.lock().unwrap(), vec![AuditEvent::RecoveryCodeUsed]);
}

#[test]
fn a_locked_account_is_refused_before_any_code_is_looked_at() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    let until = now() + chrono::Duration::minutes(10);
    counted(&mut mocks, Attempt::Locked { until });
    with_factor(&mut mocks, Some(factor(&alice, true)));
    mocks.codes.expect_step_of().never();
    mocks.mfa.expect_spend_totp_step().never();
    let svc = service(mocks);
    let proof = crate::SecondFactor::Code("123456");
    assert_eq!(
        block_on(svc.prove_second_factor(&principal(&alice), proof)).unwrap_err(),
        DomainError::AccountLocked {
            retry_after_seconds: 600
        }
    );
}

#[test]
fn without_mfa_on_there_is_nothing_to_prove_disable_or_regenerate() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    with_factor(&mut mocks, Some(factor(&alice, false)));
    mocks.throttle.expect_count_attempt().never();
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.regenerate_recovery_codes(&principal(&alice), "123456")).unwrap_err(),
        DomainError::MfaNotEnabled
    );
}

#[test]
fn only_an_admin_resets_a_users_mfa() {
    let alice = user(Role::User);
    let root = user(Role::Admin);
    let mut mocks = Mocks::new();
    let events = audited(&mut mocks);
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .mfa
        .expect_remove_totp()
        .with(eq(alice.id))
        .times(1)
        .returning(|_| Ok(true));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.reset_mfa(&principal(&alice), alice.id)).unwrap_err(),
        DomainError::Forbidden
    );
    block_on(svc.reset_mfa(&principal(&root), alice.id)).unwrap();
    assert_eq!(*events.lock().unwrap(), vec![AuditEvent::MfaDisabled]);
}

#[test]
fn where_verification_is_required_a_second_step_spends_nothing_for_an_unverified_address() {
    let alice = User {
        mfa_enabled: true,
        email_verified: false,
        ..user(Role::User)
    };
    let mut mocks = Mocks::new();
    let challenge = crate::model::MfaChallenge {
        token_fingerprint: "fp(t)".into(),
        user_id: alice.id,
        password_fingerprint: format!("fp({})", alice.password_hash),
        created_at: now(),
        expires_at: now() + chrono::Duration::minutes(5),
    };
    mocks
        .mfa
        .expect_find_challenge()
        .returning(move |_, _| Ok(Some(challenge.clone())));
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    mocks.mfa.expect_take_challenge().never();
    mocks.mfa.expect_spend_totp_step().never();
    mocks.sessions.expect_open().never();
    let events = audited(&mut mocks);
    let svc = AuthService::new(
        mocks.into_ports(),
        crate::policy::AuthPolicy {
            require_verified_email: true,
            ..policy()
        },
    );
    let outcome = block_on(svc.complete_mfa_login(
        "t",
        crate::services::SecondFactor::Code("123456"),
        &ClientInfo::default(),
    ));
    assert_eq!(outcome.unwrap_err(), DomainError::EmailNotVerified);
    assert!(events.lock().unwrap().is_empty(), "no login is audited");
}
