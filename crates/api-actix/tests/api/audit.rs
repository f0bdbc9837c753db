//! The audit log: every security event, with who, whom, when, where from and which request.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Tokens, spawn_app};

fn find<'a>(entries: &'a [Value], event: &str, outcome: &str, user: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|e| e["event"] == event && e["outcome"] == outcome && e["user_id"] == user)
}

async fn every_security_event_is_recorded_for_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/login")
                .header("X-Request-Id", "audit-trace-1")
                .json(&json!({"login": "alice_1", "password": "wrong-password1"})),
        )
        .await;
    reply.assert_problem(401, "invalid_credentials");
    for _ in 0..4 {
        app.login("alice_1", "wrong-password1").await;
    }
    let user = format!("/api/users/{}", alice.user_id);
    app.call(
        Method::POST,
        &format!("{user}/unlock"),
        Some(&admin.access),
        None,
    )
    .await;
    let session = Tokens::from(&app.login("alice_1", PASSWORD).await);
    app.refresh(&session.refresh).await;
    app.clock.advance(Duration::seconds(11));
    app.refresh(&session.refresh).await;
    let change = json!({"current_password": PASSWORD, "new_password": "another-pass2"});
    app.call(
        Method::PUT,
        "/api/auth/password",
        Some(&alice.access),
        Some(change),
    )
    .await;
    app.call(Method::POST, "/api/auth/logout", Some(&alice.access), None)
        .await;
    let patch = |body: Value| app.call(Method::PATCH, &user, Some(&admin.access), Some(body));
    patch(json!({"role": "admin"})).await;
    patch(json!({"is_active": false})).await;
    app.call(Method::DELETE, &user, Some(&admin.access), None)
        .await;

    let reply = app
        .get("/api/audit?per_page=100", Some(&admin.access))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["per_page"], 100);
    let entries = reply.body["items"].as_array().unwrap().clone();
    assert_eq!(reply.body["total"], entries.len());
    let ats: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );

    let alice_id = alice.user_id.as_str();
    let admin_id = admin.user_id.as_str();
    let failure = entries
        .iter()
        .find(|e| e["request_id"] == "audit-trace-1")
        .expect("the failed login, by its request id");
    assert_eq!(failure["event"], "login");
    assert_eq!(failure["outcome"], "failure");
    assert_eq!(failure["user_id"], alice_id);
    assert_eq!(failure["ip"], "127.0.0.1");
    for (event, outcome, actor) in [
        ("register", "success", None),
        ("login", "success", None),
        ("lockout", "success", None),
        ("unlock", "success", Some(admin_id)),
        ("refresh_reuse", "failure", None),
        ("password_change", "success", None),
        ("logout", "success", None),
        ("role_change", "success", Some(admin_id)),
        ("deactivation", "success", Some(admin_id)),
        ("deletion", "success", Some(admin_id)),
    ] {
        let entry = find(&entries, event, outcome, alice_id)
            .unwrap_or_else(|| panic!("{event}/{outcome} in {entries:#?}"));
        assert_eq!(entry["actor_id"].as_str(), actor, "{event}");
        assert!(entry["request_id"].is_string(), "{event}");
        assert!(entry["id"].is_string() && entry["at"].as_str().unwrap().ends_with('Z'));
    }
    let text = reply.body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("another-pass2"),
        "no password"
    );
}

async fn only_admins_read_the_audit_log_in_bounded_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    app.get("/api/audit", None)
        .await
        .assert_problem(401, "missing_token");
    app.get("/api/audit", Some(&alice.access))
        .await
        .assert_problem(403, "forbidden");
    let reply = app.get("/api/audit", Some(&admin.access)).await;
    assert_eq!(reply.body["page"], 1);
    assert_eq!(reply.body["per_page"], 50);
    let page = app
        .get("/api/audit?page=2&per_page=1", Some(&admin.access))
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    for query in ["per_page=101", "page=0", "per_page=x"] {
        app.get(&format!("/api/audit?{query}"), Some(&admin.access))
            .await
            .assert_problem(422, "validation_failed");
    }
}

on_every_backend!(
    every_security_event_is_recorded_for_admins,
    only_admins_read_the_audit_log_in_bounded_pages,
);
