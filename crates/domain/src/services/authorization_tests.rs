use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use uuid::Uuid;

use super::{CodeExchange, Grant};
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuthorizationCode, ClientInfo, ClientKind, CodeRedemption, OAuthClient, Role,
    Scopes, Session, User,
};
use crate::services::AuthService;
use crate::services::test_support::{Mocks, now, policy, session, user};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example.com/cb";

fn app(kind: ClientKind) -> OAuthClient {
    OAuthClient {
        id: Uuid::new_v4(),
        name: "app".into(),
        kind,
        secret_fingerprint: None,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: Vec::new(),
        first_party: true,
        require_par: false,
        allow_password_grant: false,
        created_at: now(),
        updated_at: now(),
    }
}

fn code_for(client: &OAuthClient, alice: &User, browser: &Session) -> AuthorizationCode {
    AuthorizationCode {
        fingerprint: "fp(the-code)".into(),
        client_id: client.id,
        redirect_uri: REDIRECT.into(),
        user_id: alice.id,
        browser_session: browser.id,
        scopes: Scopes::parse("openid offline_access").unwrap(),
        code_challenge: format!("s256({VERIFIER})"),
        nonce: Some("n-1".into()),
        auth_time: now(),
        amr: vec!["pwd".into()],
        created_at: now(),
        expires_at: now() + chrono::Duration::seconds(60),
    }
}

fn exchange(verifier: &str) -> CodeExchange<'_> {
    CodeExchange {
        code: "the-code",
        redirect_uri: REDIRECT,
        code_verifier: verifier,
    }
}

/// A store whose one code redeems as `redemption`, with alice and her browser session.
fn mocks_redeeming(redemption: CodeRedemption, alice: &User, browser: &Session) -> Mocks {
    let mut mocks = Mocks::new();
    mocks
        .authorization_codes
        .expect_redeem()
        .withf(|fp, _, at| fp == "fp(the-code)" && *at == now())
        .times(1)
        .returning(move |_, _, _| Ok(redemption.clone()));
    let found = browser.clone();
    mocks
        .sessions
        .expect_find()
        .returning(move |id| Ok((id == found.id).then(|| found.clone())));
    let stored = alice.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(stored.clone())));
    mocks
}

#[test]
fn a_code_is_stored_as_its_fingerprint_with_all_it_is_bound_to() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = app(ClientKind::Public);
    let stored = Arc::new(Mutex::new(None));
    let mut mocks = Mocks::new();
    let keep = stored.clone();
    mocks
        .authorization_codes
        .expect_insert()
        .times(1)
        .returning(move |code| {
            *keep.lock().unwrap() = Some(code.clone());
            Ok(())
        });
    let svc = AuthService::new(mocks.into_ports(), policy());
    let grant = Grant {
        client_id: client.id,
        redirect_uri: REDIRECT.into(),
        user_id: alice.id,
        browser_session: browser.id,
        scopes: Scopes::parse("openid").unwrap(),
        code_challenge: "challenge".into(),
        nonce: None,
        auth_time: now(),
        amr: vec!["pwd".into()],
    };
    let code = block_on(svc.issue_code(grant)).unwrap();
    assert_eq!(code.len(), 64);
    let stored = stored.lock().unwrap().clone().unwrap();
    assert_eq!(stored.fingerprint, format!("fp({code})"));
    assert_eq!(stored.expires_at, now() + chrono::Duration::seconds(60));
    assert_eq!(
        (
            stored.client_id,
            stored.browser_session,
            stored.code_challenge.as_str()
        ),
        (client.id, browser.id, "challenge")
    );
}

#[test]
fn a_good_exchange_opens_a_session_bound_to_the_client_under_the_recorded_id() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = app(ClientKind::Public);
    let code = code_for(&client, &alice, &browser);
    let recorded = Arc::new(Mutex::new(None));
    let mut mocks = Mocks::new();
    let keep = recorded.clone();
    let redeemed = code.clone();
    mocks
        .authorization_codes
        .expect_redeem()
        .times(1)
        .returning(move |_, sid, _| {
            *keep.lock().unwrap() = Some(sid);
            Ok(CodeRedemption::Redeemed(redeemed.clone()))
        });
    mocks
        .authorization_codes
        .expect_replayed()
        .times(1)
        .returning(|_| Ok(false));
    let found = browser.clone();
    mocks
        .sessions
        .expect_find()
        .returning(move |_| Ok(Some(found.clone())));
    let stored = alice.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(stored.clone())));
    let opened = recorded.clone();
    mocks
        .sessions
        .expect_open()
        .withf(move |s, hash, _| {
            Some(s.id) == *opened.lock().unwrap() && hash == "hash-of-password1" && !s.mfa
        })
        .times(1)
        .returning(|_, _, _| Ok(true));
    let svc = AuthService::new(mocks.into_ports(), policy());
    let got =
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).unwrap();
    assert_eq!(Some(got.session_id), *recorded.lock().unwrap());
    assert_eq!(got.scopes.to_string(), "openid offline_access");
    assert_eq!(
        got.id_token,
        Some(format!("IdToken:{}:{}", client.id, got.session_id))
    );
}

#[test]
fn a_code_for_another_client_uri_or_verifier_is_spent_for_nothing() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = app(ClientKind::Confidential);
    let good = code_for(&client, &alice, &browser);
    let wrong_verifier = "x".repeat(43);
    let cases: Vec<(AuthorizationCode, &str, &str)> = vec![
        (
            AuthorizationCode {
                client_id: Uuid::new_v4(),
                ..good.clone()
            },
            REDIRECT,
            VERIFIER,
        ),
        (good.clone(), "https://app.example.com/cb/", VERIFIER),
        (good.clone(), REDIRECT, &wrong_verifier),
        // Too short to be a verifier, even if it hashed right.
        (
            AuthorizationCode {
                code_challenge: "s256(short)".into(),
                ..good.clone()
            },
            REDIRECT,
            "short",
        ),
    ];
    for (code, redirect_uri, verifier) in cases {
        // Nothing is opened: the mocks expect no session.
        let mocks = mocks_redeeming(CodeRedemption::Redeemed(code), &alice, &browser);
        let svc = AuthService::new(mocks.into_ports(), policy());
        let asked = CodeExchange {
            code: "the-code",
            redirect_uri,
            code_verifier: verifier,
        };
        assert_eq!(
            block_on(svc.exchange_code(&client, asked, &ClientInfo::default())).err(),
            Some(DomainError::InvalidGrant),
            "{redirect_uri} {verifier}"
        );
    }
}

#[test]
fn a_code_is_worth_nothing_once_its_sign_in_ended_or_its_user_is_inactive() {
    let alice = user(Role::User);
    let client = app(ClientKind::Public);
    let ended = Session {
        revoked_at: Some(now()),
        ..session(&alice)
    };
    let mocks = mocks_redeeming(
        CodeRedemption::Redeemed(code_for(&client, &alice, &ended)),
        &alice,
        &ended,
    );
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
    let inactive = User {
        is_active: false,
        ..alice.clone()
    };
    let browser = session(&alice);
    let mocks = mocks_redeeming(
        CodeRedemption::Redeemed(code_for(&client, &alice, &browser)),
        &inactive,
        &browser,
    );
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
}

#[test]
fn a_replayed_code_revokes_what_its_first_use_gave_and_is_audited() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = app(ClientKind::Public);
    let first = Uuid::new_v4();
    let mut mocks = mocks_redeeming(
        CodeRedemption::Replayed {
            session_id: first,
            code: code_for(&client, &alice, &browser),
        },
        &alice,
        &browser,
    );
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, _| *id == first)
        .times(1)
        .returning(|_, _| Ok(true));
    let audited = Arc::new(Mutex::new(Vec::new()));
    let keep = audited.clone();
    mocks.audit = crate::ports::MockAuditLog::new();
    mocks.audit.expect_record().returning(move |r| {
        keep.lock().unwrap().push(r.event);
        Ok(())
    });
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
    assert_eq!(*audited.lock().unwrap(), [AuditEvent::CodeReused]);
}

#[test]
fn a_replay_racing_the_first_use_takes_its_session_back() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = app(ClientKind::Public);
    let mut mocks = mocks_redeeming(
        CodeRedemption::Redeemed(code_for(&client, &alice, &browser)),
        &alice,
        &browser,
    );
    mocks
        .sessions
        .expect_open()
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks
        .authorization_codes
        .expect_replayed()
        .times(1)
        .returning(|_| Ok(true));
    mocks
        .sessions
        .expect_revoke()
        .times(1)
        .returning(|_, _| Ok(true));
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
}

#[test]
fn unknown_codes_and_service_clients_get_nothing() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let mocks = mocks_redeeming(CodeRedemption::Unknown, &alice, &browser);
    let svc = AuthService::new(mocks.into_ports(), policy());
    let client = app(ClientKind::Confidential);
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
    // Refused before the code is looked at: the mocks expect no redemption.
    let svc = AuthService::new(Mocks::new().into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(
            &app(ClientKind::Service),
            exchange(VERIFIER),
            &ClientInfo::default()
        ))
        .err(),
        Some(DomainError::UnauthorizedClient)
    );
}

#[test]
fn an_apps_code_is_worth_nothing_once_the_consent_is_withdrawn() {
    let alice = user(Role::User);
    let browser = session(&alice);
    let client = OAuthClient {
        first_party: false,
        ..app(ClientKind::Confidential)
    };
    let mut mocks = mocks_redeeming(
        CodeRedemption::Redeemed(code_for(&client, &alice, &browser)),
        &alice,
        &browser,
    );
    // Narrower than the code's scopes: as good as none.
    mocks
        .consents
        .expect_find_consent()
        .returning(|_, _| Ok(Some(Scopes::parse("openid").unwrap())));
    let svc = AuthService::new(mocks.into_ports(), policy());
    assert_eq!(
        block_on(svc.exchange_code(&client, exchange(VERIFIER), &ClientInfo::default())).err(),
        Some(DomainError::InvalidGrant)
    );
}
