//! The contract of authorization codes, consents, and the sessions that hold a client's tokens.

use chrono::Duration;
use uuid::Uuid;

use super::{deleted, opened, session, stored, t0};
use crate::model::{
    AuthorizationCode, ClientKind, CodeRedemption, OAuthClient, Scopes, Session, User,
};
use crate::ports::Stores;

async fn stored_app(stores: &Stores) -> OAuthClient {
    let app = OAuthClient {
        id: Uuid::new_v4(),
        name: "app".into(),
        kind: ClientKind::Public,
        secret_fingerprint: None,
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        first_party: false,
        require_par: false,
        allow_password_grant: false,
        created_at: t0(),
        updated_at: t0(),
    };
    stores.clients.insert(&app).await.unwrap();
    app
}

fn code(user: &User, client: &OAuthClient) -> AuthorizationCode {
    AuthorizationCode {
        fingerprint: Uuid::new_v4().simple().to_string(),
        client_id: client.id,
        redirect_uri: "https://app.example.com/cb?a=1&b=\"2\"".into(),
        user_id: user.id,
        browser_session: Uuid::new_v4(),
        scopes: Scopes::parse("openid email offline_access").unwrap(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: t0() - Duration::minutes(5),
        amr: vec!["pwd".into(), "otp".into()],
        created_at: t0(),
        expires_at: t0() + Duration::seconds(60),
    }
}

pub async fn an_authorization_code_is_spent_once_and_a_replay_names_its_session(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let app = stored_app(stores).await;
    let codes = &stores.authorization_codes;
    let first = code(&alice, &app);
    codes.insert(&first).await.unwrap();
    assert!(!codes.replayed(&first.fingerprint).await.unwrap());
    let (given, other) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        codes.redeem(&first.fingerprint, given, t0()).await.unwrap(),
        CodeRedemption::Redeemed(first.clone()),
        "every field round-trips"
    );
    // A second use, expired by now or not, names the first use's session and is remembered.
    let later = t0() + Duration::minutes(10);
    assert_eq!(
        codes
            .redeem(&first.fingerprint, other, later)
            .await
            .unwrap(),
        CodeRedemption::Replayed {
            session_id: given,
            code: first.clone()
        }
    );
    assert!(codes.replayed(&first.fingerprint).await.unwrap());

    // An expired code was never spent: nothing to revoke, nothing to give.
    let stale = code(&alice, &app);
    codes.insert(&stale).await.unwrap();
    assert_eq!(
        codes
            .redeem(&stale.fingerprint, given, stale.expires_at)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    assert_eq!(
        codes.redeem("no-such-code", given, t0()).await.unwrap(),
        CodeRedemption::Unknown
    );
    assert!(!codes.replayed("no-such-code").await.unwrap());

    // Housekeeping: what expired before the cut-off goes, the rest stays.
    let young = AuthorizationCode {
        expires_at: t0() + Duration::hours(2),
        ..code(&alice, &app)
    };
    codes.insert(&young).await.unwrap();
    assert_eq!(
        codes
            .delete_expired(t0() + Duration::hours(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        codes.redeem(&first.fingerprint, other, t0()).await.unwrap(),
        CodeRedemption::Unknown
    );
    assert!(matches!(
        codes.redeem(&young.fingerprint, other, t0()).await.unwrap(),
        CodeRedemption::Redeemed(_)
    ));
}

pub async fn concurrent_uses_of_one_code_spend_it_once(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let app = stored_app(stores).await;
    let codes = &stores.authorization_codes;
    let shared = code(&alice, &app);
    codes.insert(&shared).await.unwrap();
    let sessions: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
    let uses = futures::future::join_all(
        sessions
            .iter()
            .map(|sid| codes.redeem(&shared.fingerprint, *sid, t0())),
    )
    .await;
    let mut winner = None;
    for (sid, outcome) in sessions.iter().zip(&uses) {
        if let CodeRedemption::Redeemed(_) = outcome.as_ref().unwrap() {
            assert!(winner.replace(*sid).is_none(), "{uses:?}");
        }
    }
    let winner = winner.expect("one use spends the code");
    for outcome in uses {
        match outcome.unwrap() {
            CodeRedemption::Redeemed(_) => {}
            CodeRedemption::Replayed { session_id, .. } => assert_eq!(session_id, winner),
            CodeRedemption::Unknown => panic!("a live code was not found"),
        }
    }
    assert!(codes.replayed(&shared.fingerprint).await.unwrap());
}

pub async fn codes_go_with_their_user_and_their_client(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let app = stored_app(stores).await;
    let codes = &stores.authorization_codes;
    let alices = code(&alice, &app);
    codes.insert(&alices).await.unwrap();
    deleted(stores, alice.id).await;
    assert_eq!(
        codes
            .redeem(&alices.fingerprint, Uuid::new_v4(), t0())
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    let bob = stored(stores, "Bob_1").await;
    let bobs = code(&bob, &app);
    codes.insert(&bobs).await.unwrap();
    assert!(stores.clients.delete(app.id).await.unwrap());
    assert_eq!(
        codes
            .redeem(&bobs.fingerprint, Uuid::new_v4(), t0())
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
}

pub async fn a_consent_is_one_grant_per_person_and_client_replaced_whole(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let bob = stored(stores, "Bob_1").await;
    let app = stored_app(stores).await;
    let consents = &stores.consents;
    assert_eq!(consents.find_consent(alice.id, app.id).await.unwrap(), None);
    let first = Scopes::parse("openid email").unwrap();
    consents
        .grant_consent(alice.id, app.id, &first, t0())
        .await
        .unwrap();
    assert_eq!(
        consents.find_consent(alice.id, app.id).await.unwrap(),
        Some(first)
    );
    assert_eq!(consents.find_consent(bob.id, app.id).await.unwrap(), None);
    let wider = Scopes::parse("openid profile offline_access").unwrap();
    consents
        .grant_consent(alice.id, app.id, &wider, t0())
        .await
        .unwrap();
    assert_eq!(
        consents.find_consent(alice.id, app.id).await.unwrap(),
        Some(wider.clone())
    );
    consents
        .grant_consent(bob.id, app.id, &wider, t0() + Duration::seconds(1))
        .await
        .unwrap();
    let listed = consents.list_consents(bob.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].client_id, &listed[0].scopes, listed[0].granted_at),
        (app.id, &wider, t0() + Duration::seconds(1))
    );
    let other = stored_app(stores).await;
    consents
        .grant_consent(bob.id, other.id, &wider, t0())
        .await
        .unwrap();
    let clients: Vec<_> = consents
        .list_consents(bob.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(clients, [other.id, app.id], "oldest first");
    assert!(consents.withdraw_consent(bob.id, other.id).await.unwrap());
    assert!(!consents.withdraw_consent(bob.id, other.id).await.unwrap());
    assert_eq!(consents.list_consents(bob.id).await.unwrap().len(), 1);
    deleted(stores, alice.id).await;
    assert_eq!(consents.find_consent(alice.id, app.id).await.unwrap(), None);
    assert!(stores.clients.delete(app.id).await.unwrap());
    assert_eq!(consents.find_consent(bob.id, app.id).await.unwrap(), None);
}

pub async fn a_clients_sessions_of_a_person_are_revoked_together(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let bob = stored(stores, "Bob_1").await;
    let app = stored_app(stores).await;
    let with_app = |user: &User| Session {
        client_id: Some(app.id),
        ..session(user, t0())
    };
    let (mine, own, bobs) = (with_app(&alice), session(&alice, t0()), with_app(&bob));
    for s in [&mine, &own, &bobs] {
        opened(stores, s).await;
    }
    assert_eq!(
        stores
            .sessions
            .find(mine.id)
            .await
            .unwrap()
            .unwrap()
            .client_id,
        Some(app.id),
        "the client round-trips"
    );
    let later = t0() + Duration::minutes(1);
    let sessions = &stores.sessions;
    assert_eq!(
        sessions
            .revoke_for_client(alice.id, app.id, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sessions
            .revoke_for_client(alice.id, app.id, later)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sessions.find(mine.id).await.unwrap().unwrap().revoked_at,
        Some(later)
    );
    for untouched in [own.id, bobs.id] {
        assert_eq!(
            sessions.find(untouched).await.unwrap().unwrap().revoked_at,
            None
        );
    }
}

pub async fn concurrent_grants_of_one_consent_all_land(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let app = stored_app(stores).await;
    let asked = [
        "openid",
        "openid email",
        "openid profile",
        "openid offline_access",
    ]
    .map(|s| Scopes::parse(s).unwrap());
    let grants = futures::future::join_all(asked.iter().map(|scopes| {
        stores
            .consents
            .grant_consent(alice.id, app.id, scopes, t0())
    }))
    .await;
    assert!(grants.iter().all(Result::is_ok), "{grants:?}");
    let standing = stores
        .consents
        .find_consent(alice.id, app.id)
        .await
        .unwrap()
        .unwrap();
    assert!(asked.contains(&standing));
    assert_eq!(
        stores.consents.list_consents(alice.id).await.unwrap().len(),
        1
    );
}
