//! Access and refresh tokens: me, refresh rotation and reuse, logout, revoke and expiry.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, Tokens, spawn_app, spawn_app_with};

async fn me_and_whoami_answer_the_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    for path in ["/api/auth/me", "/api/auth/whoami"] {
        let reply = app.get(path, Some(&alice.access)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["id"], alice.user_id.as_str());
        assert!(reply.body.get("password_hash").is_none());
    }
}

async fn a_request_without_a_bearer_token_is_told_to_send_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let without = app.get("/api/auth/me", None).await;
    without.assert_problem(401, "missing_token");
    assert_eq!(without.header("www-authenticate"), Some("Bearer"));
    for value in ["", "Bearer", "Bearer ", "Basic abc", "Token xyz"] {
        let reply = app
            .send(
                app.request(Method::GET, "/api/auth/me")
                    .header("Authorization", value),
            )
            .await;
        reply.assert_problem(401, "missing_token");
    }
}

async fn garbage_and_foreign_tokens_are_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let reply = app.me(token).await;
        reply.assert_problem(401, "invalid_token");
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let other = spawn_app_with(backend, |s| {
        s.jwt.secret = Some("another-secret-that-is-at-least-32-bytes".into());
    })
    .await;
    let foreign = other.register("alice_1").await;
    app.me(&foreign.access)
        .await
        .assert_problem(401, "invalid_token");
}

async fn each_token_works_only_where_its_type_belongs(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.me(&alice.refresh)
        .await
        .assert_problem(401, "wrong_token_type");
    app.refresh(&alice.access)
        .await
        .assert_problem(401, "wrong_token_type");
}

async fn an_access_token_expires_on_the_dot(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.clock.advance(Duration::seconds(899));
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(1));
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_expired");
    // The refresh token still works and brings a fresh access token.
    let renewed = Tokens::from(&app.refresh(&alice.refresh).await);
    assert_eq!(app.me(&renewed.access).await.status, StatusCode::OK);
}

async fn leeway_tolerates_configured_clock_skew(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.jwt.leeway_seconds = 30).await;
    let alice = app.register("alice_1").await;
    app.clock.advance(Duration::seconds(920));
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(10));
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_expired");
}

async fn a_refresh_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.clock.advance(Duration::seconds(2_592_000));
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_expired");
}

async fn refresh_rotates_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.clock.advance(Duration::seconds(1));
    let reply = app.refresh(&alice.refresh).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let next = Tokens::from(&reply);
    assert_ne!(next.refresh, alice.refresh);
    assert_eq!(reply.body["user"]["id"], alice.user_id.as_str());
    assert_eq!(app.me(&next.access).await.status, StatusCode::OK);
    // The new refresh token rotates in turn; the body form works too.
    let body = json!({"refresh_token": next.refresh});
    let reply = app.post("/api/auth/refresh", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn refresh_without_a_token_is_told_to_send_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .call(Method::POST, "/api/auth/refresh", None, None)
        .await;
    reply.assert_problem(401, "missing_token");
    app.post("/api/auth/refresh", json!({"refresh_token": ""}))
        .await
        .assert_problem(401, "missing_token");
    app.post("/api/auth/refresh", json!({"token": "x"}))
        .await
        .assert_problem(422, "validation_failed");
}

async fn a_double_refresh_within_the_grace_keeps_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let first = Tokens::from(&app.refresh(&alice.refresh).await);
    app.clock.advance(Duration::seconds(5));
    // A second tab refreshing with the same token: a benign race.
    let second = Tokens::from(&app.refresh(&alice.refresh).await);
    assert_eq!(app.me(&first.access).await.status, StatusCode::OK);
    assert_eq!(app.me(&second.access).await.status, StatusCode::OK);
    // Both tabs hold a token that still rotates.
    assert_eq!(app.refresh(&second.refresh).await.status, StatusCode::OK);
}

async fn a_reused_refresh_token_revokes_its_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let other_session = Tokens::from(&app.login("alice_1", PASSWORD).await);
    let next = Tokens::from(&app.refresh(&alice.refresh).await);
    app.clock.advance(Duration::seconds(10));
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    // The whole session is gone, the thief's copy and the owner's alike...
    app.me(&next.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&next.refresh)
        .await
        .assert_problem(401, "token_revoked");
    // ...and nothing else.
    assert_eq!(app.me(&other_session.access).await.status, StatusCode::OK);
}

async fn with_no_grace_any_second_use_is_a_reuse(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.jwt.refresh_reuse_grace_seconds = 0).await;
    let alice = app.register("alice_1").await;
    let next = Tokens::from(&app.refresh(&alice.refresh).await);
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    app.me(&next.access)
        .await
        .assert_problem(401, "token_revoked");
}

async fn logout_kills_both_tokens_of_the_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let other = Tokens::from(&app.login("alice_1", PASSWORD).await);
    let reply = app
        .call(Method::POST, "/api/auth/logout", Some(&alice.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(app.me(&other.access).await.status, StatusCode::OK);
    app.call(Method::POST, "/api/auth/logout", None, None)
        .await
        .assert_problem(401, "missing_token");
}

async fn logout_all_kills_every_session_of_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let other = Tokens::from(&app.login("alice_1", PASSWORD).await);
    let bob = app.register("bob_1").await;
    let reply = app
        .call(
            Method::POST,
            "/api/auth/logout-all",
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    for token in [&alice.access, &other.access] {
        app.me(token).await.assert_problem(401, "token_revoked");
    }
    app.refresh(&other.refresh)
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(app.me(&bob.access).await.status, StatusCode::OK);
}

async fn revoke_answers_the_same_for_any_token_and_kills_real_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    for token in ["garbage", ""] {
        let reply = app.post("/api/auth/revoke", json!({"token": token})).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, json!({}));
    }
    let reply = app
        .post(
            "/api/auth/revoke",
            json!({"token": alice.refresh, "token_type_hint": "refresh_token"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({}));
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_revoked");

    let again = Tokens::from(&app.login("alice_1", PASSWORD).await);
    app.post("/api/auth/revoke", json!({"token": again.access}))
        .await;
    app.me(&again.access)
        .await
        .assert_problem(401, "token_revoked");
}

async fn a_deleted_users_tokens_stop_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/users/{}", alice.user_id),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_revoked");
}

on_every_backend!(
    me_and_whoami_answer_the_caller,
    a_request_without_a_bearer_token_is_told_to_send_one,
    garbage_and_foreign_tokens_are_invalid,
    each_token_works_only_where_its_type_belongs,
    an_access_token_expires_on_the_dot,
    leeway_tolerates_configured_clock_skew,
    a_refresh_token_expires,
    refresh_rotates_the_refresh_token,
    refresh_without_a_token_is_told_to_send_one,
    a_double_refresh_within_the_grace_keeps_the_session,
    a_reused_refresh_token_revokes_its_session,
    with_no_grace_any_second_use_is_a_reuse,
    logout_kills_both_tokens_of_the_session_at_once,
    logout_all_kills_every_session_of_the_user,
    revoke_answers_the_same_for_any_token_and_kills_real_ones,
    a_deleted_users_tokens_stop_working,
);
