use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use uuid::Uuid;

use crate::error::DomainError;
use crate::model::{
    ClientInfo, ClientKind, ClientRegistration, OAuthClient, Principal, Role, TokenType, User,
};
use crate::services::AuthService;
use crate::services::test_support::{Mocks, claims, now, policy, session, user};

fn principal(user: &User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

fn client() -> OAuthClient {
    OAuthClient {
        id: Uuid::new_v4(),
        name: "billing".into(),
        kind: ClientKind::Service,
        secret_fingerprint: Some("fp(s3cret)".into()),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        first_party: false,
        require_par: false,
        allow_password_grant: false,
        created_at: now(),
        updated_at: now(),
    }
}

fn service(mocks: Mocks) -> AuthService {
    AuthService::new(mocks.into_ports(), policy())
}

#[test]
fn only_admins_make_clients_and_the_secret_is_kept_as_a_fingerprint() {
    let stored = Arc::new(Mutex::new(None));
    let mut mocks = Mocks::new();
    let keep = stored.clone();
    mocks.clients.expect_insert().returning(move |client| {
        *keep.lock().unwrap() = Some(client.clone());
        Ok(())
    });
    let svc = service(mocks);
    let alice = user(Role::User);
    assert_eq!(
        block_on(svc.create_client(&principal(&alice), ClientRegistration::service("x"))).err(),
        Some(DomainError::Forbidden)
    );
    let admin = user(Role::Admin);
    assert!(matches!(
        block_on(svc.create_client(&principal(&admin), ClientRegistration::service(" \u{7} "))),
        Err(DomainError::Validation(_))
    ));
    let created =
        block_on(svc.create_client(&principal(&admin), ClientRegistration::service(" billing ")))
            .unwrap();
    let secret = created.secret.unwrap();
    assert_eq!(secret.len(), 64);
    let stored = stored.lock().unwrap().clone().unwrap();
    assert_eq!(stored.name, "billing");
    assert_eq!(stored.secret_fingerprint, Some(format!("fp({secret})")));
}

#[test]
fn a_client_authenticates_only_with_its_own_secret() {
    let known = client();
    let mut mocks = Mocks::new();
    let found = known.clone();
    mocks
        .clients
        .expect_find()
        .returning(move |id| Ok((id == found.id).then(|| found.clone())));
    let svc = service(mocks);
    let id = known.id.to_string();
    assert_eq!(block_on(svc.authenticate_client(&id, "s3cret")), Ok(known));
    for (id, secret) in [(id.as_str(), "wrong"), ("not-a-uuid", "s3cret")] {
        assert_eq!(
            block_on(svc.authenticate_client(id, secret)),
            Err(DomainError::InvalidClient)
        );
    }
    let stranger = Uuid::new_v4().to_string();
    assert_eq!(
        block_on(svc.authenticate_client(&stranger, "s3cret")),
        Err(DomainError::InvalidClient)
    );
}

#[test]
fn a_client_token_names_the_client_and_nothing_of_a_user() {
    let seen = Arc::new(Mutex::new(None));
    let mut mocks = Mocks::new();
    let keep = seen.clone();
    mocks.tokens = crate::ports::MockTokenCodec::new();
    mocks.tokens.expect_encode().returning(move |claims| {
        *keep.lock().unwrap() = Some(claims.clone());
        Ok("client-token".into())
    });
    let svc = service(mocks);
    let billing = client();
    let token = svc.client_token(&billing).unwrap();
    assert_eq!(
        (token.access_token.as_str(), token.expires_in),
        ("client-token", 900)
    );
    let claims = seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        (claims.sub, claims.client_id),
        (billing.id, Some(billing.id))
    );
    assert_eq!((claims.sid, claims.role), (None, None));
    assert_eq!(claims.token_type, TokenType::Access);
}

#[test]
fn a_client_token_is_refused_by_user_endpoints() {
    let mut token = claims(
        TokenType::Access,
        &session(&user(Role::User)),
        Uuid::new_v4(),
    );
    token.client_id = Some(token.sub);
    token.sid = None;
    token.role = None;
    let svc = service(Mocks::new().decoding(token));
    assert_eq!(
        block_on(svc.authenticate("t", ClientInfo::default())).err(),
        Some(DomainError::Forbidden)
    );
}

#[test]
fn introspection_reads_the_session_and_refuses_a_used_refresh_token() {
    let alice = user(Role::User);
    let live = session(&alice);
    let used = claims(TokenType::Refresh, &live, Uuid::new_v4());
    let current = claims(TokenType::Refresh, &live, live.refresh_jti);
    for (presented, active) in [(used, false), (current, true)] {
        let mut mocks = Mocks::new().decoding(presented);
        let stored = live.clone();
        mocks
            .sessions
            .expect_find()
            .returning(move |_| Ok(Some(stored.clone())));
        let found = alice.clone();
        mocks
            .users
            .expect_find_by_id()
            .returning(move |_| Ok(Some(found.clone())));
        let answer = block_on(service(mocks).introspect("t", &client())).unwrap();
        assert_eq!(answer.is_some(), active);
        if let Some(answer) = answer {
            assert_eq!(answer.username.as_deref(), Some("Alice_1"));
        }
    }
}

#[test]
fn a_clients_own_token_is_described_to_that_client_only() {
    let billing = client();
    let claims = crate::model::Claims {
        sub: billing.id,
        client_id: Some(billing.id),
        sid: None,
        role: None,
        iat: now().timestamp(),
        nbf: now().timestamp(),
        exp: now().timestamp() + 900,
        ..crate::services::test_support::claims(
            TokenType::Access,
            &session(&user(Role::User)),
            Uuid::new_v4(),
        )
    };
    for (caller, live) in [(client(), false), (billing.clone(), true)] {
        let mut mocks = Mocks::new().decoding(claims.clone());
        let found = billing.clone();
        mocks
            .clients
            .expect_find()
            .returning(move |_| Ok(Some(found.clone())));
        let answer = block_on(service(mocks).introspect("t", &caller)).unwrap();
        assert_eq!(answer.is_some(), live);
    }
}

#[test]
fn a_client_id_alone_names_a_public_client_only() {
    let spa = OAuthClient {
        kind: ClientKind::Public,
        secret_fingerprint: None,
        ..client()
    };
    let web = OAuthClient {
        kind: ClientKind::Confidential,
        ..client()
    };
    let mut mocks = Mocks::new();
    let known = [spa.clone(), web.clone()];
    mocks
        .clients
        .expect_find()
        .returning(move |id| Ok(known.iter().find(|c| c.id == id).cloned()));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.public_client(&spa.id.to_string())).unwrap(),
        spa
    );
    for named in [
        web.id.to_string(),
        Uuid::new_v4().to_string(),
        spa.id.to_string().to_uppercase(),
        "whoever".into(),
    ] {
        assert_eq!(
            block_on(svc.public_client(&named)).err(),
            Some(DomainError::InvalidClient),
            "{named}"
        );
    }
}

#[test]
fn the_password_grant_is_refused_to_apps_unless_allowed_and_to_no_client_when_off() {
    let refused = |client: Option<&OAuthClient>, password_grant: bool| {
        // Refused before anything is looked up: the mocks expect no call.
        let svc = AuthService::new(
            Mocks::new().into_ports(),
            crate::policy::AuthPolicy {
                password_grant,
                ..policy()
            },
        );
        block_on(svc.password_grant("alice", "pw", client, &ClientInfo::default())).err()
            == Some(DomainError::UnauthorizedClient)
    };
    for kind in [ClientKind::Confidential, ClientKind::Public] {
        let app = OAuthClient { kind, ..client() };
        assert!(refused(Some(&app), true), "{kind:?}");
    }
    assert!(refused(None, false));
    // Let through: the login's rules take over (here, at its first lookup).
    let allowed = |client: Option<&OAuthClient>, password_grant: bool| {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_username()
            .times(1)
            .returning(|_| Err(crate::error::StoreError::Unavailable("down".into())));
        let svc = AuthService::new(
            mocks.into_ports(),
            crate::policy::AuthPolicy {
                password_grant,
                ..policy()
            },
        );
        let err = block_on(svc.password_grant("alice", "pw", client, &ClientInfo::default()));
        err.err() != Some(DomainError::UnauthorizedClient)
    };
    let trusted = OAuthClient {
        kind: ClientKind::Public,
        allow_password_grant: true,
        ..client()
    };
    assert!(allowed(Some(&trusted), false));
    assert!(
        allowed(Some(&client()), false),
        "a service client as before"
    );
    assert!(allowed(None, true));
}
