use std::sync::{Arc, Mutex};

use chrono::Duration;
use futures::executor::block_on;

use super::BrowserSignIn;
use crate::error::DomainError;
use crate::model::{ClientInfo, Role, Session, SessionKind, User};
use crate::services::AuthService;
use crate::services::test_support::{Mocks, now, policy, user};

/// Signs alice in on the pages with her password; the stored session is kept for the test.
fn signed_in(alice: &User) -> (String, Session) {
    let mut mocks = Mocks::new();
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_username()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .throttle
        .expect_count_attempt()
        .returning(|_, _, _| Ok(crate::ports::Attempt::Counted { last: false }));
    mocks.throttle.expect_clear().returning(|_| Ok(()));
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.hasher.expect_needs_rehash().return_const(false);
    let stored = Arc::new(Mutex::new(None));
    let keep = stored.clone();
    mocks
        .sessions
        .expect_open()
        .times(1)
        .returning(move |session, _, _| {
            *keep.lock().unwrap() = Some(session.clone());
            Ok(true)
        });
    let svc = AuthService::new(mocks.into_ports(), policy());
    let signed = block_on(svc.browser_sign_in("alice_1", "pw", &ClientInfo::default())).unwrap();
    let BrowserSignIn::SignedIn(signed) = signed else {
        panic!("no second factor asked for");
    };
    let session = stored.lock().unwrap().clone().unwrap();
    assert_eq!(signed.session, session);
    (signed.cookie, session)
}

/// A service whose store holds `session` of `owner`.
fn holding(session: &Session, owner: &User) -> AuthService {
    let mut mocks = Mocks::new();
    let found = (session.clone(), owner.clone());
    mocks
        .sessions
        .expect_find_with_user()
        .returning(move |id| Ok((id == found.0.id).then(|| found.clone())));
    mocks.sessions.expect_touch().returning(|_, _| Ok(()));
    AuthService::new(mocks.into_ports(), policy())
}

#[test]
fn a_sign_in_opens_a_browser_session_for_the_sso_lifetime_named_by_its_cookie() {
    let alice = user(Role::User);
    let (cookie, session) = signed_in(&alice);
    assert_eq!(session.kind, SessionKind::Browser);
    assert_eq!(session.expires_at, now() + Duration::seconds(43200));
    // The id, and a keyed fingerprint (here the tests' readable one) of the id and the jti.
    assert_eq!(
        cookie,
        format!(
            "{}.fp(browser-session:{}:{})",
            session.id.simple(),
            session.id,
            session.refresh_jti
        )
    );
    let found = block_on(holding(&session, &alice).browser_session(&cookie)).unwrap();
    assert_eq!(found.map(|b| b.session.id), Some(session.id));
}

#[test]
fn a_tampered_idle_revoked_or_foreign_cookie_names_nothing() {
    let alice = user(Role::User);
    let (cookie, session) = signed_in(&alice);
    let svc = holding(&session, &alice);
    let (id, mac) = cookie.split_once('.').unwrap();
    let flipped = format!(
        "{id}.{}{}",
        if mac.starts_with('0') { '1' } else { '0' },
        &mac[1..]
    );
    for forged in [
        flipped.as_str(),
        id,
        "",
        ".",
        "not-a-uuid.abc",
        &format!("{}.{mac}", uuid::Uuid::new_v4().simple()),
    ] {
        assert!(
            block_on(svc.browser_session(forged)).unwrap().is_none(),
            "{forged}"
        );
    }
    let gone = |changed: Session, owner: &User| {
        block_on(holding(&changed, owner).browser_session(&cookie))
            .unwrap()
            .is_none()
    };
    assert!(gone(
        Session {
            revoked_at: Some(now()),
            ..session.clone()
        },
        &alice
    ));
    assert!(gone(
        Session {
            last_used_at: now() - Duration::seconds(1800),
            ..session.clone()
        },
        &alice
    ));
    assert!(gone(
        Session {
            kind: SessionKind::Api,
            ..session.clone()
        },
        &alice
    ));
    assert!(gone(
        session.clone(),
        &User {
            is_active: false,
            ..alice.clone()
        }
    ));
    // A new refresh jti (what a rotation would write) voids the cookie.
    assert!(gone(
        Session {
            refresh_jti: uuid::Uuid::new_v4(),
            ..session
        },
        &alice
    ));
}

#[test]
fn an_account_with_mfa_gets_the_second_step_and_no_session() {
    let alice = User {
        mfa_enabled: true,
        ..user(Role::User)
    };
    let mut mocks = Mocks::new();
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_username()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .throttle
        .expect_count_attempt()
        .returning(|_, _, _| Ok(crate::ports::Attempt::Counted { last: false }));
    mocks
        .throttle
        .expect_refund()
        .times(1)
        .returning(|_| Ok(()));
    mocks.hasher.expect_verify().returning(|_, _| Ok(true));
    mocks.hasher.expect_needs_rehash().return_const(false);
    mocks.mfa.expect_open_challenge().returning(|_| Ok(true));
    mocks.sessions.expect_open().never();
    let svc = AuthService::new(mocks.into_ports(), policy());
    let outcome = block_on(svc.browser_sign_in("alice_1", "pw", &ClientInfo::default())).unwrap();
    assert!(matches!(
        outcome,
        BrowserSignIn::SecondFactor { ref mfa_token } if mfa_token.len() == 64
    ));
}

#[test]
fn a_wrong_password_on_the_page_is_the_apis_answer() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks
        .throttle
        .expect_count_attempt()
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::Attempt::Counted { last: false }));
    mocks.hasher.expect_hash().returning(|_| Ok("dummy".into()));
    mocks.hasher.expect_verify().returning(|_, _| Ok(false));
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.browser_sign_in("nobody", "pw", &ClientInfo::default())).err(),
        Some(DomainError::InvalidCredentials)
    );
}
