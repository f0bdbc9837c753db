//! Section 7 over real HTTP: discovery, the JWK set, the OAuth 2.0 token endpoint's three
//! grants, service clients, introspection of every kind of token and revocation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN, Backend, PASSWORD, Reply, TestApp, Tokens, jwt_part, spawn_app};

impl TestApp {
    async fn form(&self, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
        let mut request = self.request(Method::POST, path).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        self.send(request).await
    }

    /// A new service client: (id, secret).
    async fn client(&self, admin: &Tokens, name: &str) -> (String, String) {
        let reply = self
            .call(
                Method::POST,
                "/api/admin/clients",
                Some(&admin.access),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        (reply.str("client_id"), reply.str("client_secret"))
    }

    /// The password grant for `username`, authenticated as `client` (HTTP Basic) if given.
    async fn password_grant(&self, username: &str, client: Option<&(String, String)>) -> Reply {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", PASSWORD),
        ];
        let basic = client.map(|(id, secret)| (id.as_str(), secret.as_str()));
        self.form("/oauth/token", &form, basic).await
    }

    /// The refresh_token grant, authenticated as `client` (HTTP Basic) if given.
    async fn refresh_grant(&self, token: &str, client: Option<&(String, String)>) -> Reply {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        let basic = client.map(|(id, secret)| (id.as_str(), secret.as_str()));
        self.form("/oauth/token", &form, basic).await
    }

    async fn introspect(&self, client: &(String, String), token: &str) -> Value {
        let reply = self
            .form(
                "/oauth/introspect",
                &[("token", token)],
                Some((&client.0, &client.1)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }
}

#[track_caller]
fn assert_oauth_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(reply.body["error"], error, "{}", reply.body);
    assert!(reply.body["error_description"].is_string());
}

async fn discovery_names_only_what_the_service_does(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc = app.get(path, None).await;
        assert_eq!(doc.status, StatusCode::OK);
        let issuer = doc.str("issuer");
        // No public URL configured: where the server listens.
        assert_eq!(issuer, app.address);
        assert_eq!(
            doc.str("jwks_uri"),
            format!("{issuer}/.well-known/jwks.json")
        );
        assert_eq!(doc.str("token_endpoint"), format!("{issuer}/oauth/token"));
        assert_eq!(
            doc.body["grant_types_supported"],
            json!([
                "authorization_code",
                "password",
                "refresh_token",
                "client_credentials"
            ])
        );
        assert_eq!(
            doc.str("authorization_endpoint"),
            format!("{issuer}/oauth/authorize")
        );
        assert_eq!(doc.body["response_types_supported"], json!(["code"]));
        assert_eq!(
            doc.body["code_challenge_methods_supported"],
            json!(["S256"])
        );
        assert_eq!(
            doc.body["authorization_response_iss_parameter_supported"],
            true
        );
        assert_eq!(
            doc.body["id_token_signing_alg_values_supported"],
            json!(["ES256"])
        );
        assert_eq!(
            doc.body["access_token_signing_alg_values_supported"],
            json!(["ES256"])
        );
    }
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "current and next");
    for key in keys {
        assert_eq!(
            (&key["kty"], &key["alg"], &key["use"]),
            (&json!("EC"), &json!("ES256"), &json!("sig"))
        );
        assert_eq!(key["crv"], "P-256");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} published");
        }
    }
    // The access token names one of them.
    let alice = app.register("alice_1").await;
    let kid = jwt_part(&alice.access, 0)["kid"].clone();
    assert!(keys.iter().any(|k| k["kid"] == kid));
}

async fn the_token_endpoint_speaks_oauth(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let token = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1@example.com"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    assert_eq!(token.header("cache-control"), Some("no-store"));
    assert_eq!(token.body["token_type"], "Bearer");
    assert_eq!(token.body["expires_in"], 900);
    assert_eq!(
        app.me(&token.str("access_token")).await.status,
        StatusCode::OK
    );

    let refreshed = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token.str("refresh_token")),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_ne!(refreshed.str("refresh_token"), token.str("refresh_token"));

    // JSON is accepted too.
    let json_grant = app
        .post(
            "/oauth/token",
            json!({ "grant_type": "password", "username": "alice_1", "password": PASSWORD }),
        )
        .await;
    assert_eq!(json_grant.status, StatusCode::OK, "{}", json_grant.body);

    let wrong = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1"),
                ("password", "wrong-1"),
            ],
            None,
        )
        .await;
    assert_oauth_error(&wrong, 400, "invalid_grant");
    assert_oauth_error(
        &app.form("/oauth/token", &[("grant_type", "implicit")], None)
            .await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &app.form("/oauth/token", &[], None).await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.form(
            "/oauth/token",
            &[("grant_type", "password"), ("grant_type", "password")],
            None,
        )
        .await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "garbage"),
            ],
            None,
        )
        .await,
        400,
        "invalid_grant",
    );
    // Presented client credentials must be right, even where they are optional.
    let bad_client = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1"),
                ("password", PASSWORD),
            ],
            Some(("not-a-client", "nope")),
        )
        .await;
    assert_oauth_error(&bad_client, 401, "invalid_client");
    assert!(
        bad_client
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    // A parameter sent twice, in JSON too, is refused rather than one of them picked.
    let twice = app
        .send(
            app.request(Method::POST, "/oauth/token")
                .header("content-type", "application/json")
                .body(r#"{"grant_type":"password","grant_type":"client_credentials","username":"alice_1","password":"password1"}"#),
        )
        .await;
    assert_oauth_error(&twice, 400, "invalid_request");
    // A client_id alone names a public client: an unknown one is no client.
    let bare_id = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1"),
                ("password", PASSWORD),
                ("client_id", "whoever"),
            ],
            None,
        )
        .await;
    assert_oauth_error(&bare_id, 401, "invalid_client");
}

async fn the_password_grant_keeps_the_lockout(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    for _ in 0..5 {
        app.form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1"),
                ("password", "wrong-1"),
            ],
            None,
        )
        .await;
    }
    let locked = app
        .form(
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("username", "alice_1"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_oauth_error(&locked, 400, "invalid_grant");
    assert!(locked.header("retry-after").is_some());
}

async fn service_clients_get_tokens_that_only_introspection_takes(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let client = app.client(&admin, "billing").await;
    let listed = app.get("/api/admin/clients", Some(&admin.access)).await;
    assert_eq!(listed.body["items"][0]["client_id"], client.0.as_str());
    assert!(
        !listed.body.to_string().contains(&client.1),
        "secret shown once"
    );

    let alice = app.register("alice_1").await;
    app.get("/api/admin/clients", Some(&alice.access))
        .await
        .assert_problem(403, "forbidden");

    for basic in [true, false] {
        let reply = if basic {
            app.form(
                "/oauth/token",
                &[("grant_type", "client_credentials")],
                Some((&client.0, &client.1)),
            )
            .await
        } else {
            app.form(
                "/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client.0),
                    ("client_secret", &client.1),
                ],
                None,
            )
            .await
        };
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.get("refresh_token").is_none());
        let token = reply.str("access_token");
        app.me(&token).await.assert_problem(403, "forbidden");
        let live = app.introspect(&client, &token).await;
        assert_eq!(live["active"], true);
        assert_eq!(live["sub"], client.0.as_str());
        assert_eq!(live["client_id"], client.0.as_str());
        assert!(live.get("role").is_none());
    }
    assert_oauth_error(
        &app.form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&client.0, "wrong")),
        )
        .await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &app.form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            None,
        )
        .await,
        401,
        "invalid_client",
    );

    // Deleting the client ends its tokens.
    let token = app
        .form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&client.0, &client.1)),
        )
        .await
        .str("access_token");
    let auditor = app.client(&admin, "auditor").await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    assert_eq!(
        app.introspect(&auditor, &token).await,
        json!({ "active": false }),
        "another client's own token"
    );
    let path = format!("/api/admin/clients/{}", client.0);
    let deleted = app
        .call(Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let refused = app
        .form(
            "/oauth/introspect",
            &[("token", &token)],
            Some((&client.0, &client.1)),
        )
        .await;
    assert_oauth_error(&refused, 401, "invalid_client");
    app.call(Method::DELETE, &path, Some(&admin.access), None)
        .await
        .assert_problem(404, "client_not_found");
    let audit = app
        .get("/api/audit", Some(&admin.access))
        .await
        .body
        .to_string();
    assert!(audit.contains("client_created") && audit.contains("client_deleted"));
}

async fn introspection_answers_every_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let client = app.client(&admin, "gateway").await;
    let inactive = json!({ "active": false });

    let alice = app.register("alice_1").await;
    let live = app.introspect(&client, &alice.access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["username"], "alice_1");
    assert_eq!(live["role"], "user");
    assert_eq!(live["token_type"], "access_token");
    assert_eq!(live["iss"], app.address.as_str());
    for claim in ["sub", "sid", "jti", "iat", "exp", "aud"] {
        assert!(live.get(claim).is_some(), "{claim}");
    }
    assert_eq!(
        app.introspect(&client, &alice.refresh).await["token_type"],
        "refresh_token"
    );

    // Without client credentials, or with wrong ones: no answer about the token.
    let anonymous = app
        .form("/oauth/introspect", &[("token", &alice.access)], None)
        .await;
    assert_oauth_error(&anonymous, 401, "invalid_client");
    let wrong = app
        .form(
            "/oauth/introspect",
            &[("token", &alice.access)],
            Some((&client.0, "x")),
        )
        .await;
    assert_oauth_error(&wrong, 401, "invalid_client");

    // Garbage and a tampered token.
    assert_eq!(app.introspect(&client, "garbage").await, inactive);
    let mut tampered = alice.access.clone();
    tampered.insert(tampered.rfind('.').unwrap() + 1, 'A');
    assert_eq!(app.introspect(&client, &tampered).await, inactive);
    // A used refresh token.
    let rotated = Tokens::from(&app.refresh(&alice.refresh).await);
    assert_eq!(app.introspect(&client, &alice.refresh).await, inactive);
    // A logged-out session.
    let reply = app
        .call(
            Method::POST,
            "/api/auth/logout",
            Some(&rotated.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.introspect(&client, &rotated.access).await, inactive);
    assert_eq!(app.introspect(&client, &alice.access).await, inactive);
    // Expired.
    let bob = app.register("bob_1").await;
    app.clock.advance(chrono::Duration::seconds(901));
    assert_eq!(app.introspect(&client, &bob.access).await, inactive);
    assert_eq!(app.introspect(&client, &bob.refresh).await["active"], true);
    // The role is the user's now, not the token's.
    let admin = app.admin().await;
    let dave = app.register("dave_1").await;
    app.patch_user(&admin.access, &dave.user_id, json!({ "role": "admin" }))
        .await;
    let promoted = Tokens::from(&app.login("dave_1", PASSWORD).await);
    assert_eq!(
        app.introspect(&client, &promoted.access).await["role"],
        "admin"
    );
    app.patch_user(&admin.access, &dave.user_id, json!({ "role": "user" }))
        .await;
    assert_eq!(
        app.introspect(&client, &promoted.access).await["role"],
        "user"
    );
    // A deactivated and a deleted user.
    let carol = app.register("carol_1").await;
    let reply = app
        .patch_user(&admin.access, &carol.user_id, json!({ "is_active": false }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(app.introspect(&client, &carol.refresh).await, inactive);
    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/users/{}", bob.user_id),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.introspect(&client, &bob.refresh).await, inactive);
}

async fn oauth_revocation_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let reply = app
        .form("/oauth/revoke", &[("token", &alice.refresh)], None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    assert_eq!(
        app.form("/oauth/revoke", &[("token", "garbage")], None)
            .await
            .status,
        StatusCode::OK
    );
}

async fn admins_rotate_keys_and_nobody_is_logged_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = app.register("alice_1").await;
    let keys = app.get("/api/admin/keys", Some(&admin.access)).await;
    let mut states: Vec<&str> = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    // Made in the same instant of the test's clock: their order is the kids'.
    states.sort();
    assert_eq!(states, ["current", "next"]);
    assert!(!keys.body.to_string().contains("private"));
    app.call(
        Method::POST,
        "/api/admin/keys/rotate",
        Some(&alice.access),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    let rotated = app
        .call(
            Method::POST,
            "/api/admin/keys/rotate",
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.body["state"], "current");
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
    let again = Tokens::from(&app.login(ADMIN, PASSWORD).await);
    assert_eq!(app.me(&again.access).await.status, StatusCode::OK);
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 3);
    let audit = app
        .get("/api/audit", Some(&admin.access))
        .await
        .body
        .to_string();
    assert!(audit.contains("key_rotated"));
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("auth_signing_key_age_seconds"));
}

async fn concurrent_rotations_all_answer_and_leave_one_current_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let rotations = (0..8).map(|_| {
        app.call(
            Method::POST,
            "/api/admin/keys/rotate",
            Some(&admin.access),
            None,
        )
    });
    let replies = futures::future::join_all(rotations).await;
    let keys = app.get("/api/admin/keys", Some(&admin.access)).await;
    let items = keys.body["items"].as_array().unwrap();
    let current: Vec<&Value> = items.iter().filter(|k| k["state"] == "current").collect();
    assert_eq!(current.len(), 1, "{}", keys.body);
    assert_eq!(items.iter().filter(|k| k["state"] == "next").count(), 1);
    // Contract section 17: one event. It rotated once, and every answer names its key.
    assert_eq!(
        items.iter().filter(|k| k["state"] == "previous").count(),
        1,
        "{}",
        keys.body
    );
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["kid"], current[0]["kid"], "{}", reply.body);
    }
    // Nobody was logged out by any of them.
    assert_eq!(app.me(&admin.access).await.status, StatusCode::OK);
}

/// Contract section 17: a refresh token is its client's (or clientless, if no client was
/// named); another client, no client, or the JSON API cannot use it.
async fn refresh_tokens_belong_to_their_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (a, b) = (
        app.client(&admin, "web").await,
        app.client(&admin, "mobile").await,
    );
    app.register("alice_1").await;
    let grant = |client| app.password_grant("alice_1", client);
    let refresh = |token, client| app.refresh_grant(token, client);
    let of_a = grant(Some(&a)).await;
    assert_eq!(of_a.status, StatusCode::OK, "{}", of_a.body);
    let token = of_a.str("refresh_token");
    assert_oauth_error(&refresh(&token, Some(&b)).await, 400, "invalid_grant");
    assert_oauth_error(&refresh(&token, None).await, 400, "invalid_grant");
    app.refresh(&token)
        .await
        .assert_problem(401, "invalid_token");
    // Refused attempts spend nothing: its own client still refreshes it, and the new one is
    // bound the same way.
    let renewed = refresh(&token, Some(&a)).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let renewed = renewed.str("refresh_token");
    assert_oauth_error(&refresh(&renewed, Some(&b)).await, 400, "invalid_grant");
    assert_eq!(refresh(&renewed, Some(&a)).await.status, StatusCode::OK);

    // Another client can neither read a client's refresh token nor revoke it.
    let held = grant(Some(&a)).await.str("refresh_token");
    assert_eq!(app.introspect(&b, &held).await, json!({ "active": false }));
    assert_eq!(app.introspect(&a, &held).await["active"], true);
    for by in [Some(&b), None] {
        let basic = by.map(|(id, secret)| (id.as_str(), secret.as_str()));
        let revoked = app
            .form("/oauth/revoke", &[("token", held.as_str())], basic)
            .await;
        assert_eq!(revoked.status, StatusCode::OK);
    }
    assert_eq!(
        app.introspect(&a, &held).await["active"],
        true,
        "still live"
    );
    app.form(
        "/oauth/revoke",
        &[("token", held.as_str())],
        Some((&a.0, &a.1)),
    )
    .await;
    assert_eq!(app.introspect(&a, &held).await, json!({ "active": false }));

    // A token of no client is refreshed without one only.
    let clientless = grant(None).await.str("refresh_token");
    assert_oauth_error(&refresh(&clientless, Some(&a)).await, 400, "invalid_grant");
    assert_eq!(refresh(&clientless, None).await.status, StatusCode::OK);
}

/// Contract section 17: a client learns nothing of another client's own tokens.
async fn introspection_describes_a_clients_own_token_to_that_client_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (a, b) = (
        app.client(&admin, "web").await,
        app.client(&admin, "mobile").await,
    );
    let token = app
        .form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&a.0, &a.1)),
        )
        .await
        .str("access_token");
    assert_eq!(app.introspect(&b, &token).await, json!({ "active": false }));
    let own = app.introspect(&a, &token).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], a.0.as_str());
    // A user's token is described to any client (resource servers introspect them).
    let alice = app.register("alice_1").await;
    assert_eq!(app.introspect(&b, &alice.access).await["active"], true);
}

on_every_backend!(
    refresh_tokens_belong_to_their_client,
    introspection_describes_a_clients_own_token_to_that_client_only,
    concurrent_rotations_all_answer_and_leave_one_current_key,
    discovery_names_only_what_the_service_does,
    the_token_endpoint_speaks_oauth,
    the_password_grant_keeps_the_lockout,
    service_clients_get_tokens_that_only_introspection_takes,
    introspection_answers_every_case,
    oauth_revocation_ends_the_session,
    admins_rotate_keys_and_nobody_is_logged_out,
);
