//! HTTP conventions of the contract: problem+json for 400/404/405/413/415, headers, request ids.

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, spawn_app};

async fn the_index_and_health_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let index = app.get("/", None).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.body["name"], "auth-api");
    assert_eq!(index.body["docs"], "/docs");
    assert_eq!(index.body["openapi"], "/api/openapi.json");
    assert!(index.body["version"].is_string());
    let health = app.get("/health", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    app.get("/nowhere", None)
        .await
        .assert_problem(404, "not_found");
    app.get("/api/auth/nowhere", None)
        .await
        .assert_problem(404, "not_found");
    let reply = app.call(Method::GET, "/api/auth/login", None, None).await;
    reply.assert_problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = app.call(Method::DELETE, "/api/auth/me", None, None).await;
    reply.assert_problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
}

async fn bodies_must_be_json_objects_of_at_most_64_kib(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = || app.request(Method::POST, "/api/auth/login");
    let reply = app
        .send(login().header("Content-Type", "text/plain").body("{}"))
        .await;
    reply.assert_problem(415, "unsupported_media_type");
    let reply = app
        .send(login().body(r#"{"login":"a","password":"b"}"#))
        .await;
    reply.assert_problem(415, "unsupported_media_type");
    for body in ["{", "[]", "\"x\"", "", "{\"login\": }"] {
        let reply = app
            .send(
                login()
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
        reply.assert_problem(400, "malformed_json");
    }
    let big = format!(r#"{{"login":"{}","password":"x"}}"#, "a".repeat(70 * 1024));
    let reply = app
        .send(login().header("Content-Type", "application/json").body(big))
        .await;
    reply.assert_problem(413, "payload_too_large");
    let reply = app
        .send(
            login()
                .header("Content-Type", "application/json; charset=utf-8")
                .body(r#"{"login":"nobody","password":"password1"}"#),
        )
        .await;
    reply.assert_problem(401, "invalid_credentials");
}

async fn every_response_carries_the_security_headers_and_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/health", "/nowhere", "/api/auth/me"] {
        let reply = app.get(path, None).await;
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert!(
            reply
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty())
        );
    }
    assert_eq!(
        app.get("/api/auth/me", None).await.header("cache-control"),
        Some("no-store")
    );
}

async fn a_sensible_request_id_is_echoed_and_others_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/me")
                .header("X-Request-Id", "trace-42.a_b"),
        )
        .await;
    assert_eq!(reply.header("x-request-id"), Some("trace-42.a_b"));
    assert_eq!(reply.body["request_id"], "trace-42.a_b");
    for bad in ["has space", &"x".repeat(65), "semi;colon"] {
        let reply = app
            .send(
                app.request(Method::GET, "/health")
                    .header("X-Request-Id", bad),
            )
            .await;
        let id = reply.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert!(!id.is_empty());
    }
}

async fn the_description_and_its_docs_page_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get("/api/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc.body["paths"]["/api/auth/login"]["post"].is_object());

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let docs = no_redirects
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(docs.headers()["location"], "/docs/");
    let page = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let initializer = app
        .request(Method::GET, "/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap();
    assert_eq!(initializer.status(), StatusCode::OK);
    assert!(
        initializer
            .text()
            .await
            .unwrap()
            .contains("/api/openapi.json")
    );
}

on_every_backend!(
    the_description_and_its_docs_page_are_served,
    the_index_and_health_answer,
    unknown_routes_and_methods_are_problems,
    bodies_must_be_json_objects_of_at_most_64_kib,
    every_response_carries_the_security_headers_and_a_request_id,
    a_sensible_request_id_is_echoed_and_others_replaced,
);
