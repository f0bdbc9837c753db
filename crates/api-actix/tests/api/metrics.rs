//! `/metrics` in Prometheus text format.

use chrono::Duration;
use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, PASSWORD, spawn_app};

async fn metrics_count_requests_logins_reuse_lockouts_and_the_pool(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    app.login("alice_1", PASSWORD).await;
    for _ in 0..5 {
        app.login("alice_1", "wrong-password1").await;
    }
    app.refresh(&alice.refresh).await;
    app.clock.advance(Duration::seconds(11));
    app.refresh(&alice.refresh).await;
    let user_path = format!("/api/users/{}", alice.user_id);
    app.get(&user_path, None).await;
    app.get("/nowhere/at/all", None).await;

    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"http_requests_total{method="POST",route="/api/auth/register",status="201"} 1"#,
        r#"http_requests_total{method="POST",route="/api/auth/login",status="401"} 5"#,
        r#"http_requests_total{method="GET",route="/api/users/{id}",status="401"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_request_duration_seconds_bucket{route="/api/auth/login",le="+Inf"} 6"#,
        r#"auth_logins_total{outcome="success"} 1"#,
        r#"auth_logins_total{outcome="failure"} 5"#,
        "auth_refresh_reuse_total 1",
        "auth_lockouts_total 1",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    assert!(!text.contains(&alice.user_id), "no raw paths in labels");
    let has_pool = text.contains(r#"db_pool_connections{state="in_use"}"#)
        && text.contains(r#"db_pool_connections{state="max"} 4"#);
    assert_eq!(has_pool, !matches!(backend, Backend::Memory), "{text}");
}

on_every_backend!(metrics_count_requests_logins_reuse_lockouts_and_the_pool);
