//! Register and login, with their validation, uniqueness and lockout rules.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, Tokens, spawn_app, spawn_app_with};

async fn register_answers_201_with_tokens_and_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "Alice_1", "email": "Alice@Example.COM", "password": PASSWORD, "name": "Alice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = &reply.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_expires_in"], 2_592_000);
    let user = &body["user"];
    assert_eq!(user["username"], "Alice_1");
    assert_eq!(user["email"], "alice@example.com", "stored lower-cased");
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert!(user["locked_until"].is_null());
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let text = body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("$2b$"),
        "no password or hash"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));

    let me = app.me(&reply.str("access_token")).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body, body["user"]);
}

async fn register_reports_every_broken_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "a b", "email": "not-an-email", "password": "xyzzyq", "name": "x\u{1}"}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    let errors: Vec<(String, String)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    for expected in [
        ("username", "invalid_characters"),
        ("email", "invalid_email"),
        ("password", "too_short"),
        ("password", "missing_digit"),
        ("name", "invalid_characters"),
    ] {
        assert!(
            errors.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {errors:?}"
        );
    }
    assert!(
        !reply.body.to_string().contains("xyzzyq"),
        "the password is not echoed"
    );

    let too_long = format!("a1{}", "é".repeat(36));
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "alice_1", "email": "a@example.com", "password": too_long}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["code"], "too_long");
}

async fn register_refuses_unknown_fields_so_no_one_makes_themself_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "mallory", "email": "m@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "role");
    assert_eq!(reply.body["errors"][0]["code"], "unknown_field");
    let login = app.login("mallory", PASSWORD).await;
    login.assert_problem(401, "invalid_credentials");
}

async fn register_refuses_wrong_types_and_missing_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": 42, "email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "username");
    assert_eq!(reply.body["errors"][0]["code"], "invalid_type");
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "alice_1", "password": PASSWORD}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "email");
    assert_eq!(reply.body["errors"][0]["code"], "required");
}

async fn usernames_and_emails_are_unique_whatever_their_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "ALICE_1", "email": "other@example.com", "password": PASSWORD}),
        )
        .await;
    reply.assert_problem(409, "username_taken");
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "alice_2", "email": "ALICE_1@example.com", "password": PASSWORD}),
        )
        .await;
    reply.assert_problem(409, "email_taken");
}

async fn concurrent_duplicate_registrations_make_exactly_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts = (0..12).map(|i| {
        app.post(
            "/api/auth/register",
            json!({"username": "racer", "email": format!("racer{i}@example.com"), "password": PASSWORD}),
        )
    });
    let replies = futures::future::join_all(attempts).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        reply.assert_problem(409, "username_taken");
    }
}

async fn login_accepts_a_username_or_an_email_under_any_of_three_names(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    for body in [
        json!({"login": "alice_1", "password": PASSWORD}),
        json!({"login": "ALICE_1@EXAMPLE.COM", "password": PASSWORD}),
        json!({"username": "Alice_1", "password": PASSWORD}),
        json!({"email": "alice_1@example.com", "password": PASSWORD}),
    ] {
        let reply = app.post("/api/auth/login", body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.body);
        assert_eq!(reply.body["user"]["username"], "alice_1");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    let reply = app
        .post("/api/auth/login", json!({"password": PASSWORD}))
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "login");
}

async fn a_wrong_password_and_an_unknown_login_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let wrong = app.login("alice_1", "wrong-password1").await;
    let unknown = app.login("nobody_here", PASSWORD).await;
    wrong.assert_problem(401, "invalid_credentials");
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

async fn repeated_failures_lock_the_login_until_the_lock_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    for _ in 0..5 {
        app.login("alice_1", "wrong-password1")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let locked = app.login("alice_1", PASSWORD).await;
    locked.assert_problem(423, "account_locked");
    let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    // The email names the same account: no way around the lock.
    app.login("alice_1@example.com", PASSWORD)
        .await
        .assert_problem(423, "account_locked");

    app.clock.advance(Duration::seconds(901));
    let reply = app.login("alice_1", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn unknown_logins_lock_just_like_real_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..5 {
        app.login("ghost_user", PASSWORD)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let reply = app.login("ghost_user", PASSWORD).await;
    reply.assert_problem(423, "account_locked");
    assert!(reply.header("retry-after").is_some());
}

async fn a_successful_login_resets_the_failure_count(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    for _ in 0..4 {
        app.login("alice_1", "wrong-password1").await;
    }
    assert_eq!(app.login("alice_1", PASSWORD).await.status, StatusCode::OK);
    for _ in 0..4 {
        app.login("alice_1", "wrong-password1")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(app.login("alice_1", PASSWORD).await.status, StatusCode::OK);
}

async fn the_lockout_follows_its_configuration(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.lockout.max_failed_attempts = 2.try_into().unwrap();
        s.lockout.duration_seconds = 60;
    })
    .await;
    app.register("alice_1").await;
    for _ in 0..2 {
        app.login("alice_1", "wrong-password1").await;
    }
    let locked = app.login("alice_1", PASSWORD).await;
    locked.assert_problem(423, "account_locked");
    assert_eq!(locked.header("retry-after"), Some("60"));
}

async fn a_deactivated_user_cannot_log_in_and_loses_their_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/users/{}", alice.user_id),
            Some(&admin.access),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(403, "account_disabled");
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_revoked");
    // A wrong password says nothing about the account's state.
    app.login("alice_1", "wrong-password1")
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn login_and_register_open_separate_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register("alice_1").await;
    let second = Tokens::from(&app.login("alice_1", PASSWORD).await);
    let sessions = app.get("/api/auth/sessions", Some(&second.access)).await;
    assert_eq!(sessions.body["items"].as_array().unwrap().len(), 2);
    assert_ne!(first.refresh, second.refresh);
}

on_every_backend!(
    register_answers_201_with_tokens_and_the_user,
    register_reports_every_broken_rule,
    register_refuses_unknown_fields_so_no_one_makes_themself_admin,
    register_refuses_wrong_types_and_missing_fields,
    usernames_and_emails_are_unique_whatever_their_case,
    concurrent_duplicate_registrations_make_exactly_one_account,
    login_accepts_a_username_or_an_email_under_any_of_three_names,
    a_wrong_password_and_an_unknown_login_get_the_same_answer,
    repeated_failures_lock_the_login_until_the_lock_expires,
    unknown_logins_lock_just_like_real_ones,
    a_successful_login_resets_the_failure_count,
    the_lockout_follows_its_configuration,
    a_deactivated_user_cannot_log_in_and_loses_their_sessions,
    login_and_register_open_separate_sessions,
);
