//! Users, roles and sessions: who may do what, and the rules that keep an admin around.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Actor {
    Anonymous,
    Themself,
    OtherUser,
    Admin,
}

const ACTORS: [Actor; 4] = [
    Actor::Anonymous,
    Actor::Themself,
    Actor::OtherUser,
    Actor::Admin,
];

/// One call of the matrix: `{user}` is the target user's id, `{session}` one of their sessions.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// Expected status for anonymous, the user themself, another user, an admin.
    expect: [u16; 4],
}

fn case(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 4]) -> Case {
    Case {
        method,
        path,
        body,
        expect,
    }
}

fn matrix() -> Vec<Case> {
    use Method as M;
    vec![
        case(M::GET, "/api/users", None, [401, 403, 403, 200]),
        case(M::GET, "/api/users/{user}", None, [401, 200, 403, 200]),
        case(
            M::PATCH,
            "/api/users/{user}",
            Some(json!({"name": "New Name"})),
            [401, 200, 403, 200],
        ),
        case(
            M::PUT,
            "/api/users/{user}",
            Some(json!({"name": "New Name"})),
            [401, 200, 403, 200],
        ),
        case(
            M::PATCH,
            "/api/users/{user}",
            Some(json!({"role": "admin"})),
            [401, 403, 403, 200],
        ),
        case(
            M::PATCH,
            "/api/users/{user}",
            Some(json!({"is_active": false})),
            [401, 403, 403, 200],
        ),
        case(M::DELETE, "/api/users/{user}", None, [401, 403, 403, 204]),
        case(
            M::POST,
            "/api/users/{user}/unlock",
            None,
            [401, 403, 403, 200],
        ),
        case(M::GET, "/api/audit", None, [401, 403, 403, 200]),
        case(M::GET, "/api/auth/me", None, [401, 200, 200, 200]),
        case(M::GET, "/api/auth/whoami", None, [401, 200, 200, 200]),
        case(M::GET, "/api/auth/sessions", None, [401, 200, 200, 200]),
        case(
            M::DELETE,
            "/api/auth/sessions/{session}",
            None,
            [401, 204, 404, 404],
        ),
        case(
            M::PUT,
            "/api/auth/password",
            // Unchanged, so that every later row can still log in.
            Some(json!({"current_password": PASSWORD, "new_password": PASSWORD})),
            [401, 204, 204, 204],
        ),
        case(M::POST, "/api/auth/logout", None, [401, 204, 204, 204]),
        case(M::POST, "/api/auth/logout-all", None, [401, 204, 204, 204]),
    ]
}

async fn first_session_id(app: &TestApp, tokens: &Tokens) -> String {
    let reply = app.get("/api/auth/sessions", Some(&tokens.access)).await;
    reply.body["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn every_endpoint_answers_each_kind_of_caller_as_the_contract_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut n = 0;
    for case in matrix() {
        for (actor, expected) in ACTORS.iter().zip(case.expect) {
            n += 1;
            // Fresh sessions every call: some rows log their caller out.
            let admin = app.admin().await;
            let target = app.register(&format!("target_{n}")).await;
            let other = app.register(&format!("other_{n}")).await;
            let session = first_session_id(&app, &target).await;
            let token = match actor {
                Actor::Anonymous => None,
                Actor::Themself => Some(target.access.as_str()),
                Actor::OtherUser => Some(other.access.as_str()),
                Actor::Admin => Some(admin.access.as_str()),
            };
            let path = case
                .path
                .replace("{user}", &target.user_id)
                .replace("{session}", &session);
            let reply = app
                .call(case.method.clone(), &path, token, case.body.clone())
                .await;
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "{} {} as {actor:?}: {}",
                case.method,
                case.path,
                reply.body
            );
            match expected {
                401 => reply.assert_problem(401, "missing_token"),
                403 => reply.assert_problem(403, "forbidden"),
                _ => {}
            }
        }
    }
}

async fn admins_list_users_in_bounded_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for i in 0..3 {
        app.register(&format!("user_{i}")).await;
    }
    let reply = app
        .get("/api/users?page=1&per_page=2", Some(&admin.access))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["total"], 4);
    assert_eq!(reply.body["page"], 1);
    assert_eq!(reply.body["per_page"], 2);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 2);
    let last = app
        .get("/api/users?page=2&per_page=2", Some(&admin.access))
        .await;
    assert_eq!(last.body["items"].as_array().unwrap().len(), 2);
    let default = app.get("/api/users", Some(&admin.access)).await;
    assert_eq!(default.body["per_page"], 20);
    for query in [
        "per_page=101",
        "page=0",
        "page=abc",
        "per_page=-1",
        "sort=name",
    ] {
        app.get(&format!("/api/users?{query}"), Some(&admin.access))
            .await
            .assert_problem(422, "validation_failed");
    }
}

async fn users_edit_their_own_profile_but_not_to_anothers_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.register("bob_1").await;
    let path = format!("/api/users/{}", alice.user_id);
    let patch = |body: Value| app.call(Method::PATCH, &path, Some(&alice.access), Some(body));
    let reply =
        patch(json!({"username": "Alice_2", "email": "New@Example.com", "name": "Alice", "current_password": PASSWORD})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["username"], "Alice_2");
    assert_eq!(reply.body["email"], "new@example.com");
    assert_eq!(patch(json!({"name": null})).await.body["name"], Value::Null);
    patch(json!({"username": "BOB_1"}))
        .await
        .assert_problem(409, "username_taken");
    patch(json!({"email": "bob_1@example.com", "current_password": PASSWORD}))
        .await
        .assert_problem(409, "email_taken");
    patch(json!({"username": "x"}))
        .await
        .assert_problem(422, "validation_failed");
    patch(json!({"password": "sneaky123"}))
        .await
        .assert_problem(422, "validation_failed");
    patch(json!({"role": "superuser"}))
        .await
        .assert_problem(422, "validation_failed");
    // The new name logs in; the old one no longer does.
    assert_eq!(app.login("alice_2", PASSWORD).await.status, StatusCode::OK);
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn unknown_users_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        app.get(&format!("/api/users/{id}"), Some(&admin.access))
            .await
            .assert_problem(404, "user_not_found");
        app.call(
            Method::DELETE,
            &format!("/api/users/{id}"),
            Some(&admin.access),
            None,
        )
        .await
        .assert_problem(404, "user_not_found");
    }
}

async fn the_last_active_admin_stays_an_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let me = format!("/api/users/{}", admin.user_id);
    for body in [json!({"role": "user"}), json!({"is_active": false})] {
        app.call(Method::PATCH, &me, Some(&admin.access), Some(body))
            .await
            .assert_problem(409, "last_admin");
    }
    app.call(Method::DELETE, &me, Some(&admin.access), None)
        .await
        .assert_problem(409, "last_admin");

    // With a second admin, the first may step down.
    let bob = app.register("bob_1").await;
    let promote = json!({"role": "admin"});
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/users/{}", bob.user_id),
            Some(&admin.access),
            Some(promote),
        )
        .await;
    assert_eq!(reply.body["role"], "admin");
    let reply = app
        .call(
            Method::PATCH,
            &me,
            Some(&admin.access),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["role"], "user");
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.admin().await;
    let bob = app.register("bob_1").await;
    let promote = json!({"role": "admin"});
    let bob_path = format!("/api/users/{}", bob.user_id);
    app.call(Method::PATCH, &bob_path, Some(&root.access), Some(promote))
        .await;
    let root_path = format!("/api/users/{}", root.user_id);
    let demote = || Some(json!({"role": "user"}));
    let (one, other) = tokio::join!(
        app.call(Method::PATCH, &bob_path, Some(&root.access), demote()),
        app.call(Method::PATCH, &root_path, Some(&bob.access), demote()),
    );
    let mut statuses = [one.status.as_u16(), other.status.as_u16()];
    statuses.sort_unstable();
    // Either one demotion wins and the other finds the last admin, or the loser was demoted
    // first and is no longer allowed to demote anyone.
    assert!(
        statuses == [200, 409] || statuses == [200, 403],
        "{statuses:?}: {} / {}",
        one.body,
        other.body
    );
    let admins = app
        .get("/api/users?per_page=100", Some(&app.admin_or(&bob).await))
        .await;
    let count = admins.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["is_active"] == true)
        .count();
    assert_eq!(count, 1, "{}", admins.body);
}

async fn a_demoted_admin_loses_admin_rights_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.admin().await;
    let bob = app.register("bob_1").await;
    let bob_path = format!("/api/users/{}", bob.user_id);
    app.call(
        Method::PATCH,
        &bob_path,
        Some(&root.access),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(
        app.get("/api/users", Some(&bob.access)).await.status,
        StatusCode::OK
    );
    app.call(
        Method::PATCH,
        &bob_path,
        Some(&root.access),
        Some(json!({"role": "user"})),
    )
    .await;
    // The same access token, minted while bob was an admin.
    app.get("/api/users", Some(&bob.access))
        .await
        .assert_problem(403, "forbidden");
}

async fn an_admin_unlocks_a_locked_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    for _ in 0..5 {
        app.login("alice_1", "wrong-password1").await;
    }
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(423, "account_locked");
    let path = format!("/api/users/{}", alice.user_id);
    let locked = app.get(&path, Some(&admin.access)).await;
    assert!(
        locked.body["locked_until"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let reply = app
        .call(
            Method::POST,
            &format!("{path}/unlock"),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["locked_until"], Value::Null);
    assert_eq!(app.login("alice_1", PASSWORD).await.status, StatusCode::OK);
    // The count was reset too: one more failure does not lock again.
    app.login("alice_1", "wrong-password1")
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(app.login("alice_1", PASSWORD).await.status, StatusCode::OK);
}

async fn users_see_and_end_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register("alice_1").await;
    let second = Tokens::from(
        &app.send(
            app.request(Method::POST, "/api/auth/login")
                .header("User-Agent", "second-device/1.0")
                .json(&json!({"login": "alice_1", "password": PASSWORD})),
        )
        .await,
    );
    let reply = app.get("/api/auth/sessions", Some(&first.access)).await;
    let items = reply.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["user_agent"], "second-device/1.0");
    assert_eq!(other["ip"], "127.0.0.1");
    for key in ["created_at", "last_used_at", "expires_at"] {
        assert!(other[key].as_str().unwrap().ends_with('Z'));
    }

    let path = format!("/api/auth/sessions/{}", other["id"].as_str().unwrap());
    let reply = app
        .call(Method::DELETE, &path, Some(&first.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.me(&second.access)
        .await
        .assert_problem(401, "token_revoked");
    app.call(Method::DELETE, &path, Some(&first.access), None)
        .await
        .assert_problem(404, "session_not_found");
    app.call(
        Method::DELETE,
        "/api/auth/sessions/nope",
        Some(&first.access),
        None,
    )
    .await
    .assert_problem(404, "session_not_found");
    let left = app.get("/api/auth/sessions", Some(&first.access)).await;
    assert_eq!(left.body["items"].as_array().unwrap().len(), 1);
}

async fn changing_the_password_ends_every_other_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let current = app.register("alice_1").await;
    let other = Tokens::from(&app.login("alice_1", PASSWORD).await);
    let change = |body: Value| {
        app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&current.access),
            Some(body),
        )
    };

    let wrong =
        change(json!({"current_password": "not-it-123", "new_password": "another-pass2"})).await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(wrong.body["errors"][0]["field"], "current_password");
    let weak = change(json!({"current_password": PASSWORD, "new_password": "short"})).await;
    weak.assert_problem(422, "validation_failed");
    assert_eq!(weak.body["errors"][0]["field"], "new_password");

    let reply =
        change(json!({"current_password": PASSWORD, "new_password": "another-pass2"})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.me(&current.access).await.status, StatusCode::OK);
    app.me(&other.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&other.refresh)
        .await
        .assert_problem(401, "token_revoked");
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.login("alice_1", "another-pass2").await.status,
        StatusCode::OK
    );
}

on_every_backend!(
    every_endpoint_answers_each_kind_of_caller_as_the_contract_says,
    admins_list_users_in_bounded_pages,
    users_edit_their_own_profile_but_not_to_anothers_name,
    unknown_users_are_not_found,
    the_last_active_admin_stays_an_admin,
    a_demoted_admin_loses_admin_rights_at_once,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    an_admin_unlocks_a_locked_account,
    users_see_and_end_their_own_sessions,
    changing_the_password_ends_every_other_session,
    what_the_description_refuses_is_refused,
    a_new_address_of_ones_own_needs_the_password,
    wrong_passwords_racing_at_an_address_change_are_judged_within_the_lockout,
);

/// Contract section 17: a stolen access token alone cannot move the account's mail.
async fn a_new_address_of_ones_own_needs_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let bob = app.register("bob_1").await;
    let change = |body: Value| app.patch_user(&alice.access, &alice.user_id, body);
    for body in [
        json!({"email": "mallory@example.com"}),
        json!({"email": "mallory@example.com", "current_password": "not-the-password1"}),
        json!({"email": "mallory@example.com", "current_password": ""}),
    ] {
        let reply = change(body).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], "current_password");
        assert_eq!(reply.body["errors"][0]["code"], "wrong_password");
    }
    // Before the uniqueness check: a token alone learns nothing of other accounts' addresses.
    change(json!({"email": "bob_1@example.com"}))
        .await
        .assert_problem(422, "validation_failed");
    // The same address, or other fields, need nothing.
    let same = change(json!({"email": "Alice_1@example.com", "name": "Alice"})).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    let moved =
        change(json!({"email": "alice@new.example.com", "current_password": PASSWORD})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["email"], "alice@new.example.com");
    // Wrong tries count towards the lockout (the right one above cleared the count): the
    // fifth locks the account, for logins too.
    for expected in [422, 422, 422, 422, 422, 423] {
        let reply =
            change(json!({"email": "x@example.com", "current_password": "wrong-pass-1"})).await;
        assert_eq!(reply.status.as_u16(), expected, "{}", reply.body);
    }
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(423, "account_locked");
    // An admin moves another user's address without a password.
    let admin = app.admin().await;
    let by_admin = app
        .patch_user(
            &admin.access,
            &bob.user_id,
            json!({"email": "bob@new.example.com"}),
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_eq!(by_admin.body["email_verified"], false);
}

/// Wrong passwords sent at once for an address change: no more are judged than the lockout
/// allows, as for logins.
async fn wrong_passwords_racing_at_an_address_change_are_judged_within_the_lockout(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let tries = (0..16).map(|i| {
        app.patch_user(
            &alice.access,
            &alice.user_id,
            json!({"email": format!("m{i}@example.com"), "current_password": "wrong-pass-1"}),
        )
    });
    let replies = futures::future::join_all(tries).await;
    let judged = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    let locked = replies
        .iter()
        .filter(|r| r.status == StatusCode::LOCKED)
        .count();
    assert_eq!((judged, locked), (5, 11), "no other answer");
    let me = app.me(&alice.access).await;
    assert_eq!(me.body["email"], "alice_1@example.com", "nothing moved");
}

/// The OpenAPI description says these are invalid; a generated client must get 422 for them.
async fn what_the_description_refuses_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    for field in ["username", "email", "role", "is_active"] {
        let reply = app
            .patch_user(&admin.access, &alice.user_id, json!({ field: null }))
            .await;
        reply.assert_problem(422, "validation_failed");
    }
    let cleared = app
        .patch_user(&admin.access, &alice.user_id, json!({"name": null}))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "null clears the name");
    for query in ["page=0", "page=2147483648", "per_page=0", "per_page=101"] {
        app.get(&format!("/api/users?{query}"), Some(&admin.access))
            .await
            .assert_problem(422, "validation_failed");
    }
    let last_page = app
        .get("/api/users?page=2147483647", Some(&admin.access))
        .await;
    assert_eq!(last_page.status, StatusCode::OK);
}
