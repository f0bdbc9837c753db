use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use uuid::Uuid;

use crate::error::DomainError;
use crate::model::{
    ClientChanges, ClientInfo, ClientKind, ClientRegistration, OAuthClient, Principal, Role, User,
};
use crate::services::AuthService;
use crate::services::test_support::{Mocks, policy, user};

fn admin() -> Principal {
    as_principal(&user(Role::Admin))
}

fn as_principal(user: &User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

fn app(kind: ClientKind, redirect_uris: &[&str]) -> ClientRegistration {
    ClientRegistration {
        kind,
        redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
        ..ClientRegistration::service("app")
    }
}

/// A service over mocks whose client store keeps what it is given.
fn service_keeping(stored: Arc<Mutex<Vec<OAuthClient>>>) -> AuthService {
    let mut mocks = Mocks::new();
    let (inserted, found) = (stored.clone(), stored);
    mocks.clients.expect_insert().returning(move |client| {
        inserted.lock().unwrap().push(client.clone());
        Ok(())
    });
    mocks
        .clients
        .expect_find()
        .returning(move |id| Ok(found.lock().unwrap().iter().find(|c| c.id == id).cloned()));
    AuthService::new(mocks.into_ports(), policy())
}

fn field_codes(err: DomainError) -> Vec<(String, &'static str)> {
    match err {
        DomainError::Validation(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("a validation error, not {other:?}"),
    }
}

#[test]
fn each_kind_gets_a_secret_but_a_public_client_which_cannot_authenticate_with_one() {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let svc = service_keeping(stored.clone());
    let service =
        block_on(svc.create_client(&admin(), ClientRegistration::service("billing"))).unwrap();
    assert_eq!(service.secret.as_deref().map(str::len), Some(64));
    let web = block_on(svc.create_client(
        &admin(),
        app(ClientKind::Confidential, &["https://app.example.com/cb"]),
    ))
    .unwrap();
    assert!(web.secret.is_some());
    let spa =
        block_on(svc.create_client(&admin(), app(ClientKind::Public, &["http://127.0.0.1/cb"])))
            .unwrap();
    assert_eq!(spa.secret, None);
    assert_eq!(spa.client.secret_fingerprint, None);
    // Nothing authenticates as a public client, not even an empty secret.
    for secret in ["", "fp()"] {
        assert_eq!(
            block_on(svc.authenticate_client(&spa.client.id.to_string(), secret)).err(),
            Some(DomainError::InvalidClient)
        );
    }
    // client_credentials is a service client's grant alone.
    assert!(svc.client_token(&service.client).is_ok());
    for client in [&web.client, &spa.client] {
        assert_eq!(
            svc.client_token(client).err(),
            Some(DomainError::UnauthorizedClient)
        );
    }
    assert_eq!(stored.lock().unwrap().len(), 3);
}

#[test]
fn redirect_uris_are_checked_each_by_its_index_and_a_service_client_has_none() {
    let svc = service_keeping(Arc::default());
    let refused = block_on(svc.create_client(
        &admin(),
        app(
            ClientKind::Confidential,
            &[
                "https://app.example.com/cb",
                "http://app.example.com/cb",
                "https://app.example.com/cb",
                "https://*.example.com/cb",
            ],
        ),
    ))
    .unwrap_err();
    assert_eq!(
        field_codes(refused),
        [
            ("redirect_uris[1]".to_owned(), "invalid_uri"),
            ("redirect_uris[2]".to_owned(), "duplicate"),
            ("redirect_uris[3]".to_owned(), "invalid_uri"),
        ]
    );
    let refused = block_on(svc.create_client(
        &admin(),
        app(ClientKind::Service, &["https://app.example.com/cb"]),
    ))
    .unwrap_err();
    assert_eq!(
        field_codes(refused),
        [("redirect_uris".to_owned(), "not_allowed")]
    );
    let many: Vec<String> = (0..21)
        .map(|n| format!("https://app.example.com/cb{n}"))
        .collect();
    let refused = block_on(svc.create_client(
        &admin(),
        ClientRegistration {
            kind: ClientKind::Public,
            post_logout_redirect_uris: many,
            ..ClientRegistration::service("app")
        },
    ))
    .unwrap_err();
    assert_eq!(
        field_codes(refused),
        [("post_logout_redirect_uris".to_owned(), "too_many")]
    );
}

#[test]
fn only_admins_change_clients_and_a_public_client_gets_no_secret() {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let svc = service_keeping(stored);
    let spa =
        block_on(svc.create_client(&admin(), app(ClientKind::Public, &["http://127.0.0.1/cb"])))
            .unwrap()
            .client;
    let alice = as_principal(&user(Role::User));
    assert_eq!(
        block_on(svc.update_client(&alice, spa.id, ClientChanges::default())).err(),
        Some(DomainError::Forbidden)
    );
    assert_eq!(
        block_on(svc.new_client_secret(&alice, spa.id)).err(),
        Some(DomainError::Forbidden)
    );
    let refused = block_on(svc.new_client_secret(&admin(), spa.id)).unwrap_err();
    assert_eq!(field_codes(refused), [("kind".to_owned(), "no_secret")]);
    let refused = block_on(svc.update_client(
        &admin(),
        spa.id,
        ClientChanges {
            redirect_uris: Some(vec!["https://app.example.com/cb#frag".into()]),
            name: Some(String::new()),
            ..ClientChanges::default()
        },
    ))
    .unwrap_err();
    assert_eq!(
        field_codes(refused),
        [
            ("name".to_owned(), "invalid"),
            ("redirect_uris[0]".to_owned(), "invalid_uri")
        ]
    );
    assert_eq!(
        block_on(svc.update_client(&admin(), Uuid::new_v4(), ClientChanges::default())).err(),
        Some(DomainError::ClientNotFound)
    );
}
