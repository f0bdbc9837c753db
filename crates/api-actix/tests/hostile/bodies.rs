//! Broken, mistyped, oversized and malicious bodies on every endpoint that takes one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, SECRET, TestApp, Tokens, spawn_app};
use crate::logs;

/// Every endpoint with a body: method, path, a valid body, and whether it needs a token.
fn endpoints(user_id: &str) -> Vec<(Method, String, Value, bool)> {
    vec![
        (
            Method::POST,
            "/api/auth/register".into(),
            json!({"username": "new_user", "email": "new@example.com", "password": PASSWORD, "name": "N"}),
            false,
        ),
        (
            Method::POST,
            "/api/auth/login".into(),
            json!({"login": "alice_1", "password": PASSWORD}),
            false,
        ),
        (
            Method::POST,
            "/api/auth/refresh".into(),
            json!({"refresh_token": "x"}),
            false,
        ),
        (
            Method::POST,
            "/api/auth/revoke".into(),
            json!({"token": "x", "token_type_hint": "refresh_token"}),
            false,
        ),
        (
            Method::PUT,
            "/api/auth/password".into(),
            json!({"current_password": "not-it-123", "new_password": "another-pass2"}),
            true,
        ),
        (
            Method::PATCH,
            format!("/api/users/{user_id}"),
            json!({"username": "alice_2", "email": "a2@example.com", "name": "A", "role": "user", "is_active": true}),
            true,
        ),
    ]
}

async fn setup(app: &TestApp) -> Tokens {
    app.register("alice_1").await
}

async fn every_field_of_every_body_refuses_the_wrong_type(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let alice = setup(&app).await;
    for (method, path, valid, authed) in endpoints(&alice.user_id) {
        let token = authed.then_some(alice.access.as_str());
        for field in valid.as_object().unwrap().keys() {
            let wrong_values = match valid[field] {
                Value::Bool(_) => vec![json!("true"), json!(1), json!([]), json!({})],
                _ => vec![
                    json!(12345),
                    json!(true),
                    json!(["a"]),
                    json!({"a": 1}),
                    json!(1.5),
                ],
            };
            for wrong in wrong_values {
                let mut body = valid.clone();
                body[field] = wrong.clone();
                let reply = app.call(method.clone(), &path, token, Some(body)).await;
                reply.assert_problem(422, "validation_failed");
                assert_eq!(
                    reply.body["errors"][0]["field"],
                    field.as_str(),
                    "{path} {field}={wrong}"
                );
            }
        }
        let mut extra = valid.clone();
        extra["is_admin"] = json!(true);
        let reply = app.call(method.clone(), &path, token, Some(extra)).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["code"], "unknown_field");
    }
    logs::assert_absent(&[PASSWORD, SECRET, "another-pass2", "not-it-123"]);
}

async fn unreadable_bodies_are_malformed_json(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let alice = setup(&app).await;
    let deep = format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00garbage".to_vec(),
        b"{\"login\": \"\xff\xfe\", \"password\": \"x\"}".to_vec(),
        deep.into_bytes(),
        b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]".to_vec(),
        b"{\"login\": \"a\", \"password\": \"b\"".to_vec(),
        b"null".to_vec(),
    ];
    for (method, path, _, authed) in endpoints(&alice.user_id) {
        for body in &bodies {
            let mut request = app
                .request(method.clone(), &path)
                .header("Content-Type", "application/json")
                .body(body.clone());
            if authed {
                request = request.bearer_auth(&alice.access);
            }
            app.send(request)
                .await
                .assert_problem(400, "malformed_json");
        }
    }
    logs::assert_absent(&[PASSWORD, SECRET]);
}

const INJECTIONS: [&str; 6] = [
    "'; DROP TABLE users; --",
    "\" OR \"1\"=\"1",
    "<script>alert(1)</script>",
    "admin'--",
    "%00%27 UNION SELECT password_hash FROM users --",
    "${jndi:ldap://x}",
];

async fn injection_text_in_every_string_field_is_only_text(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let alice = setup(&app).await;
    for (method, path, valid, authed) in endpoints(&alice.user_id) {
        let token = authed.then_some(alice.access.as_str());
        for field in valid.as_object().unwrap().keys() {
            if !valid[field].is_string() {
                continue;
            }
            for text in INJECTIONS {
                let mut body = valid.clone();
                body[field] = json!(text);
                let reply = app.call(method.clone(), &path, token, Some(body)).await;
                assert!(
                    reply.status.is_client_error() || reply.status.is_success(),
                    "{path} {field}={text:?}: {} {}",
                    reply.status,
                    reply.body
                );
                let echoed = reply.body.to_string();
                assert!(!echoed.contains("$2b$"), "no hash leaks: {echoed}");
            }
        }
    }
    // Script text is a legal name and comes back as the same text, JSON-escaped.
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "carol_1", "email": "carol@example.com", "password": PASSWORD,
                   "name": "<script>alert(1)</script>"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["user"]["name"], "<script>alert(1)</script>");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    // And nothing was dropped or bypassed.
    assert_eq!(app.login("carol_1", PASSWORD).await.status, StatusCode::OK);
    for text in INJECTIONS {
        app.login(text, text)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    logs::assert_absent(&[PASSWORD, SECRET]);
}

async fn an_oversized_body_is_refused_on_every_endpoint(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let alice = setup(&app).await;
    let big = json!({"login": "a".repeat(65 * 1024), "password": PASSWORD});
    for (method, path, _, authed) in endpoints(&alice.user_id) {
        let token = authed.then_some(alice.access.as_str());
        app.call(method, &path, token, Some(big.clone()))
            .await
            .assert_problem(413, "payload_too_large");
    }
    logs::assert_absent(&[PASSWORD, SECRET]);
}

on_every_backend!(
    every_field_of_every_body_refuses_the_wrong_type,
    unreadable_bodies_are_malformed_json,
    injection_text_in_every_string_field_is_only_text,
    an_oversized_body_is_refused_on_every_endpoint,
);
