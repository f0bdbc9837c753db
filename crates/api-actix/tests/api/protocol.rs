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
    head_is_answered_on_every_get_route,
    a_repeated_member_is_malformed_json_on_every_json_endpoint,
    errors_made_before_routing_are_the_contracts,
    a_body_that_never_finishes_is_refused_in_time,
);

/// Every route's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{kid}", "nope")
        .replace("{client_id}", "00000000-0000-4000-8000-000000000000")
}

/// Contract section 17: `HEAD` is answered on every `GET` route, as `GET` is, without a body.
async fn head_is_answered_on_every_get_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let mut paths: Vec<String> = api_actix::routes::table()
        .into_iter()
        .filter(|(_, methods)| methods.contains(&"GET"))
        .map(|(path, _)| concrete(path))
        .collect();
    paths.extend(["/reset-password", "/verify-email", "/docs/"].map(String::from));
    assert!(paths.len() >= 15, "{paths:?}");
    for path in paths {
        for token in [None, Some(admin.access.as_str())] {
            let request = |method| {
                let request = app.request(method, &path);
                match token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            };
            let get = request(Method::GET).send().await.unwrap();
            let head = request(Method::HEAD).send().await.unwrap();
            assert_eq!(head.status(), get.status(), "HEAD {path}");
            for name in [
                "content-type",
                "x-content-type-options",
                "content-security-policy",
            ] {
                assert_eq!(
                    head.headers().get(name),
                    get.headers().get(name),
                    "HEAD {path}: {name}"
                );
            }
            assert!(head.headers().contains_key("x-request-id"));
            assert!(
                head.bytes().await.unwrap().is_empty(),
                "HEAD {path} has no body"
            );
        }
    }
    // Where GET is not allowed, neither is HEAD.
    let reply = app.call(Method::HEAD, "/api/auth/login", None, None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("POST"));
}

/// Contract section 17: a JSON object with a repeated member is 400 `malformed_json` on every
/// JSON endpoint (at any depth), and OAuth's `invalid_request` on the form endpoints' JSON.
async fn a_repeated_member_is_malformed_json_on_every_json_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let send = |method: Method, path: &str, body: &'static str| {
        app.send(
            app.request(method, path)
                .bearer_auth(&admin.access)
                .header("Content-Type", "application/json")
                .body(body),
        )
    };
    let mut checked = Vec::new();
    for (path, methods) in api_actix::routes::table() {
        // OAuth speaks forms (below); a logout would end the admin's session the test uses.
        if path.starts_with("/oauth/") || path.contains("/logout") {
            continue;
        }
        for method in methods
            .iter()
            .filter(|m| ["POST", "PUT", "PATCH"].contains(m))
        {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let path = concrete(path);
            // The endpoints that read a JSON body: broken JSON is malformed there.
            let broken = send(method.clone(), &path, "{").await;
            if broken.body["code"] != "malformed_json" {
                continue;
            }
            for repeated in [
                r#"{"password":"password1","password":"password1"}"#,
                r#"{"name":"x","nested":{"a":1,"a":1}}"#,
            ] {
                send(method.clone(), &path, repeated)
                    .await
                    .assert_problem(400, "malformed_json");
            }
            checked.push(format!("{method} {path}"));
        }
    }
    assert!(checked.len() >= 15, "{checked:?}");
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let reply = send(
            Method::POST,
            path,
            r#"{"grant_type":"password","grant_type":"client_credentials","token":"x"}"#,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"], "invalid_request", "{path}");
    }
}

/// Sends raw bytes and reads the whole answer (the server closes the connection after it).
async fn raw(address: &str, request: &[u8], then_wait: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    if !then_wait {
        stream.flush().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers and closes")
    .unwrap();
    String::from_utf8(answer).unwrap()
}

/// Contract section 17: what the HTTP layer refuses before routing is problem+json too, with a
/// request id and the security headers.
async fn errors_made_before_routing_are_the_contracts(backend: Backend) {
    let app = spawn_app(backend).await;
    // More header fields than the server reads (96): small enough to arrive whole, so the
    // answer is not lost to a reset for unread bytes.
    let huge = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..100)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: [(&[u8], u16, &str, bool); 4] = [
        (huge.as_bytes(), 431, "headers_too_large", false),
        (b"NOT-HTTP\r\n\r\n", 400, "malformed_request", false),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            400,
            "malformed_request",
            false,
        ),
        // A request head that never ends: the server's 5 s request timeout.
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\n",
            408,
            "request_timeout",
            true,
        ),
    ];
    for (request, status, code, then_wait) in cases {
        let answer = raw(&app.address, request, then_wait).await;
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {status} ")), "{head}");
        for header in [
            "content-type: application/problem+json",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
            "content-security-policy: default-src 'none'; frame-ancestors 'none'",
        ] {
            assert!(head.contains(header), "{status}: {header} in {head}");
        }
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .expect("a request id");
        let body: serde_json::Value = serde_json::from_str(body).expect("problem+json");
        assert_eq!(body["status"], status);
        assert_eq!(body["code"], code);
        assert_eq!(body["request_id"], id);
        assert!(body["title"].is_string() && body["detail"].is_string());
    }
    // The server goes on serving.
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

/// A body declared and never sent (slowloris on the body) gets 408 within the body timeout,
/// and its connection is closed; one declared over the limit gets 413 at once.
async fn a_body_that_never_finishes_is_refused_in_time(backend: Backend) {
    let started = std::time::Instant::now();
    let app = spawn_app(backend).await;
    for (path, json) in [("/api/auth/login", true), ("/oauth/token", false)] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{"
        );
        let answer = raw(&app.address, request.as_bytes(), true).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 408 "), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("x-request-id: "),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        if json {
            assert_eq!(body["code"], "request_timeout", "{body}");
        } else {
            assert_eq!(body["error"], "invalid_request", "{body}");
        }
    }
    // The body timeout is 10 s: both waited for it, and were answered within a margin of it
    // (a minute for both, on a machine busy with the other tests).
    let waited = started.elapsed();
    assert!(waited >= std::time::Duration::from_secs(20), "{waited:?}");
    assert!(waited < std::time::Duration::from_secs(80), "{waited:?}");

    let huge = "POST /oauth/token HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 100000000\r\n\r\ngrant_type=x";
    let answer = raw(&app.address, huge.as_bytes(), true).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let reply = app
        .send(
            app.request(Method::POST, "/reset-password")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("a".repeat(70 * 1024)),
        )
        .await;
    reply.assert_problem(413, "payload_too_large");
}
