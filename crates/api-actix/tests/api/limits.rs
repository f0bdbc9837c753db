//! Rate limits per client address, and CORS from configuration.

use api_actix::client_ip::TrustedProxies;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app_with};

async fn limited_app(backend: Backend, trusted_proxies: &str) -> TestApp {
    let proxies = trusted_proxies.to_owned();
    spawn_app_with(backend, move |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.trusted_proxies = TrustedProxies::parse(&proxies).unwrap();
    })
    .await
}

/// A failing login under a fresh name each time, so that the lockout never answers first.
fn login_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::RequestBuilder {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut request = app
        .request(Method::POST, "/api/auth/login")
        .json(&json!({"login": format!("nobody_{n}"), "password": PASSWORD}));
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    request
}

async fn logins_are_limited_per_minute_with_the_budget_in_headers(backend: Backend) {
    let app = limited_app(backend, "").await;
    for used in 1..=10 {
        let reply = app.send(login_from(&app, None)).await;
        reply.assert_problem(401, "invalid_credentials");
        assert_eq!(reply.header("ratelimit-limit"), Some("10"));
        assert_eq!(
            reply.header("ratelimit-remaining"),
            Some((10 - used).to_string().as_str())
        );
        assert!(reply.header("ratelimit-reset").is_some());
    }
    let limited = app.send(login_from(&app, None)).await;
    limited.assert_problem(429, "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        limited.header("ratelimit-reset"),
        Some(retry.to_string().as_str())
    );

    app.clock.advance(Duration::seconds(60));
    app.send(login_from(&app, None))
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(backend: Backend) {
    let app = limited_app(backend, "").await;
    for i in 0..10 {
        let forged = format!("198.51.100.{i}");
        app.send(login_from(&app, Some(&forged))).await;
    }
    app.send(login_from(&app, Some("203.0.113.77")))
        .await
        .assert_problem(429, "rate_limited");
}

async fn behind_a_trusted_proxy_each_client_has_its_own_budget(backend: Backend) {
    let app = limited_app(backend, "127.0.0.1").await;
    for _ in 0..10 {
        app.send(login_from(&app, Some("198.51.100.1"))).await;
    }
    app.send(login_from(&app, Some("198.51.100.1")))
        .await
        .assert_problem(429, "rate_limited");
    // The client cannot escape by prepending addresses: the proxy's entry is the rightmost.
    app.send(login_from(&app, Some("10.9.9.9, 198.51.100.1")))
        .await
        .assert_problem(429, "rate_limited");
    app.send(login_from(&app, Some("198.51.100.2")))
        .await
        .assert_problem(401, "invalid_credentials");
}

async fn register_refresh_and_password_changes_have_their_own_limits(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.register_per_minute = 2;
        s.rate_limit.refresh_per_minute = 2;
        s.rate_limit.password_per_minute = 2;
    })
    .await;
    let alice = app.register("alice_1").await;
    app.register("bob_1").await;
    app.post(
        "/api/auth/register",
        json!({"username": "carol_1", "email": "c@example.com", "password": PASSWORD}),
    )
    .await
    .assert_problem(429, "rate_limited");

    for _ in 0..2 {
        app.refresh("garbage")
            .await
            .assert_problem(401, "invalid_token");
    }
    app.refresh(&alice.refresh)
        .await
        .assert_problem(429, "rate_limited");

    let change = json!({"current_password": "wrong-one-1", "new_password": "another-pass2"});
    for _ in 0..2 {
        app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&alice.access),
            Some(change.clone()),
        )
        .await
        .assert_problem(422, "validation_failed");
    }
    app.call(
        Method::PUT,
        "/api/auth/password",
        Some(&alice.access),
        Some(change),
    )
    .await
    .assert_problem(429, "rate_limited");
    // Other routes are not limited.
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
}

async fn cors_answers_only_the_configured_origins(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.cors.allowed_origins = "https://app.example.com".to_owned().try_into().unwrap();
    })
    .await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/api/auth/login")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
    };
    let allowed = app.send(preflight("https://app.example.com")).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), None);
    let other = app.send(preflight("https://evil.example.com")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    let reply = app
        .send(
            app.request(Method::GET, "/health")
                .header("Origin", "https://evil.example.com"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

async fn without_configured_origins_there_is_no_cross_origin_access(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let reply = app
        .send(
            app.request(Method::GET, "/health")
                .header("Origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

on_every_backend!(
    logins_are_limited_per_minute_with_the_budget_in_headers,
    a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing,
    behind_a_trusted_proxy_each_client_has_its_own_budget,
    register_refresh_and_password_changes_have_their_own_limits,
    cors_answers_only_the_configured_origins,
    without_configured_origins_there_is_no_cross_origin_access,
);

async fn a_login_flood_beyond_the_hashing_queue_is_shed_with_503(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.password.bcrypt_cost = infra_bcrypt::Cost::try_from(12).unwrap();
        s.password.max_concurrent_hashes = Some(std::num::NonZeroUsize::MIN);
        s.password.max_queued_hashes = 1;
    })
    .await;
    let alice = app.register("alice_1").await;
    let flood =
        (0..8).map(|i| app.login(if i % 2 == 0 { "alice_1" } else { "nobody_x" }, PASSWORD));
    let (replies, me) = tokio::join!(futures::future::join_all(flood), app.me(&alice.access));
    // Token-checked requests do not wait for hashing.
    assert_eq!(me.status, StatusCode::OK);
    let shed: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!shed.is_empty(), "at most two of eight hashes fit at once");
    for reply in &shed {
        reply.assert_problem(503, "unavailable");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    for reply in replies
        .iter()
        .filter(|r| r.status != StatusCode::SERVICE_UNAVAILABLE)
    {
        assert!(
            [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(&reply.status),
            "{} {}",
            reply.status,
            reply.body
        );
    }
}

mod flood {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_the_memory_adapter() {
        super::a_login_flood_beyond_the_hashing_queue_is_shed_with_503(Backend::Memory).await;
    }
}
