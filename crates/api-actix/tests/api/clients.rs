//! Clients of every kind over real HTTP (contract section 10): service, confidential and public
//! clients, their redirect URIs, changes that keep each other's fields, and new secrets.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Reply, TestApp, Tokens, spawn_app, spawn_app_with};

impl TestApp {
    async fn register_client(&self, admin: &Tokens, body: Value) -> Reply {
        self.call(
            Method::POST,
            "/api/admin/clients",
            Some(&admin.access),
            Some(body),
        )
        .await
    }

    async fn change_client(&self, admin: &Tokens, id: &str, body: Value) -> Reply {
        self.call(
            Method::PATCH,
            &format!("/api/admin/clients/{id}"),
            Some(&admin.access),
            Some(body),
        )
        .await
    }

    /// The client_credentials grant with HTTP Basic.
    async fn client_credentials(&self, id: &str, secret: &str) -> Reply {
        let request = self
            .request(Method::POST, "/oauth/token")
            .form(&[("grant_type", "client_credentials")])
            .basic_auth(id, Some(secret));
        self.send(request).await
    }

    /// The password grant for alice_1, as `client` (id, secret) presents itself.
    async fn alices_password_grant(&self, client: Option<(&str, Option<&str>)>) -> Reply {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", "alice_1"),
            ("password", PASSWORD),
        ];
        if let Some((id, secret)) = client {
            form.push(("client_id", id));
            if let Some(secret) = secret {
                form.push(("client_secret", secret));
            }
        }
        self.send(self.request(Method::POST, "/oauth/token").form(&form))
            .await
    }
}

async fn each_kind_is_registered_with_its_fields_and_only_what_has_a_secret_gets_one(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let service = app
        .register_client(&admin, json!({"name": "billing"}))
        .await;
    assert_eq!(service.status, StatusCode::CREATED, "{}", service.body);
    assert_eq!(service.body["kind"], "service");
    assert_eq!(service.body["redirect_uris"], json!([]));
    assert_eq!(service.str("client_secret").len(), 64);

    let web = app
        .register_client(
            &admin,
            json!({
                "name": "web app",
                "kind": "confidential",
                "redirect_uris": ["https://app.example.com/callback"],
                "post_logout_redirect_uris": ["https://app.example.com/"],
                "first_party": true,
            }),
        )
        .await;
    assert_eq!(web.status, StatusCode::CREATED, "{}", web.body);
    assert_eq!(web.body["kind"], "confidential");
    assert_eq!(web.body["first_party"], true);
    assert_eq!(web.body["require_par"], false);
    assert!(web.body["client_secret"].is_string());

    let spa = app
        .register_client(
            &admin,
            json!({
                "name": "spa",
                "kind": "public",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "require_par": true,
            }),
        )
        .await;
    assert_eq!(spa.status, StatusCode::CREATED, "{}", spa.body);
    assert!(spa.body.get("client_secret").is_none(), "{}", spa.body);

    // Listed as registered, never with a secret.
    let listed = app
        .call(Method::GET, "/api/admin/clients", Some(&admin.access), None)
        .await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|c| c.get("client_secret").is_none()));
    // (Made within one second of the test's clock: listed in id order then.)
    let listed_spa = items.iter().find(|c| c["name"] == "spa").unwrap();
    assert_eq!(
        listed_spa["redirect_uris"],
        json!(["http://127.0.0.1/callback"])
    );

    // client_credentials is a service client's grant; an app's tokens come from its users.
    let token = app
        .client_credentials(&service.str("client_id"), &service.str("client_secret"))
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    let refused = app
        .client_credentials(&web.str("client_id"), &web.str("client_secret"))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"], "unauthorized_client");
    // Nothing authenticates as a public client.
    let refused = app.client_credentials(&spa.str("client_id"), "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(refused.body["error"], "invalid_client");
}

async fn bad_redirect_uris_and_unknown_fields_are_refused_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for (body, field) in [
        (
            json!({"name": "a", "kind": "confidential", "redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris[0]",
        ),
        (
            json!({"name": "a", "kind": "public", "redirect_uris": ["https://ok.example.com/cb", "https://*.example.com/cb"]}),
            "redirect_uris[1]",
        ),
        (
            json!({"name": "a", "kind": "public", "post_logout_redirect_uris": ["https://app.example.com/#x"]}),
            "post_logout_redirect_uris[0]",
        ),
        (
            json!({"name": "a", "redirect_uris": ["https://app.example.com/cb"]}),
            "redirect_uris",
        ),
        (json!({"name": "a", "kind": "implicit"}), "kind"),
        (json!({"name": "a", "secret": "mine"}), "secret"),
    ] {
        let reply = app.register_client(&admin, body.clone()).await;
        reply.assert_problem(422, "validation_failed");
        let fields: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body}: {}", reply.body);
    }
    let listed = app
        .call(Method::GET, "/api/admin/clients", Some(&admin.access), None)
        .await;
    assert_eq!(listed.body["items"], json!([]), "nothing half-made");
}

async fn a_change_sets_only_its_fields_and_the_kind_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let spa = app
        .register_client(
            &admin,
            json!({"name": "spa", "kind": "public", "redirect_uris": ["http://127.0.0.1/cb"]}),
        )
        .await;
    let id = spa.str("client_id");
    app.clock.advance(chrono::Duration::seconds(5));
    let changed = app
        .change_client(
            &admin,
            &id,
            json!({"redirect_uris": ["https://spa.example.com/cb", "http://[::1]/cb"]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["name"], "spa");
    assert_eq!(
        changed.body["redirect_uris"],
        json!(["https://spa.example.com/cb", "http://[::1]/cb"])
    );
    assert_ne!(changed.body["updated_at"], spa.body["updated_at"]);
    app.change_client(&admin, &id, json!({"kind": "confidential"}))
        .await
        .assert_problem(422, "validation_failed");
    app.change_client(&admin, &id, json!({"redirect_uris": ["ftp://x/cb"]}))
        .await
        .assert_problem(422, "validation_failed");
    app.change_client(
        &admin,
        "00000000-0000-0000-0000-000000000000",
        json!({"name": "x"}),
    )
    .await
    .assert_problem(404, "client_not_found");
    // A user is no admin.
    let alice = app.register("alice_1").await;
    app.change_client(&alice, &id, json!({"name": "mine"}))
        .await
        .assert_problem(403, "forbidden");
    // Concurrent changes of different fields both stay (no row written back whole).
    let (a, b) = tokio::join!(
        app.change_client(&admin, &id, json!({"name": "renamed"})),
        app.change_client(
            &admin,
            &id,
            json!({"first_party": true, "require_par": true})
        )
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let listed = app
        .call(Method::GET, "/api/admin/clients", Some(&admin.access), None)
        .await;
    let now = &listed.body["items"][0];
    assert_eq!(
        (
            &now["name"],
            &now["first_party"],
            &now["require_par"],
            &now["kind"]
        ),
        (
            &json!("renamed"),
            &json!(true),
            &json!(true),
            &json!("public")
        )
    );
}

async fn a_new_secret_stops_the_old_one_at_once_and_a_public_client_has_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let service = app
        .register_client(&admin, json!({"name": "billing"}))
        .await;
    let id = service.str("client_id");
    let old = service.str("client_secret");
    let path = format!("/api/admin/clients/{id}/secret");
    let renew = || app.call(Method::POST, &path, Some(&admin.access), None);
    let renewed = renew().await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(renewed.header("cache-control"), Some("no-store"));
    let new = renewed.str("client_secret");
    assert_ne!(new, old);
    assert_eq!(
        app.client_credentials(&id, &old).await.body["error"],
        "invalid_client"
    );
    assert_eq!(
        app.client_credentials(&id, &new).await.status,
        StatusCode::OK
    );
    // Two at once: each answer's secret was issued, and exactly the last stored one works.
    let (a, b) = tokio::join!(renew(), renew());
    let secrets = [a.str("client_secret"), b.str("client_secret")];
    let mut working = 0;
    for secret in &secrets {
        if app.client_credentials(&id, secret).await.status == StatusCode::OK {
            working += 1;
        }
    }
    assert_eq!(working, 1, "one secret at a time");
    assert_eq!(
        app.client_credentials(&id, &new).await.body["error"],
        "invalid_client"
    );

    let spa = app
        .register_client(
            &admin,
            json!({"name": "spa", "kind": "public", "redirect_uris": ["http://127.0.0.1/cb"]}),
        )
        .await;
    app.call(
        Method::POST,
        &format!("/api/admin/clients/{}/secret", spa.str("client_id")),
        Some(&admin.access),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");
}

async fn the_password_grant_is_an_apps_only_where_an_admin_allowed_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    app.register("alice_1").await;
    let web = app
        .register_client(
            &admin,
            json!({"name": "web", "kind": "confidential", "redirect_uris": ["https://app.example.com/cb"]}),
        )
        .await;
    let (web_id, web_secret) = (web.str("client_id"), web.str("client_secret"));
    let spa = app
        .register_client(
            &admin,
            json!({"name": "spa", "kind": "public", "redirect_uris": ["http://127.0.0.1/cb"]}),
        )
        .await;
    let spa_id = spa.str("client_id");
    let service = app
        .register_client(&admin, json!({"name": "billing"}))
        .await;

    for (client, error) in [
        (
            Some((web_id.as_str(), Some(web_secret.as_str()))),
            "unauthorized_client",
        ),
        (Some((spa_id.as_str(), None)), "unauthorized_client"),
        // An app with a secret must present it: its id alone is no client.
        (Some((web_id.as_str(), None)), "invalid_client"),
    ] {
        let refused = app.alices_password_grant(client).await;
        assert_eq!(refused.body["error"], error, "{client:?}: {}", refused.body);
        assert!(refused.body.get("access_token").is_none());
    }
    // A service client and no client at all, as before.
    let ok = app
        .alices_password_grant(Some((
            &service.str("client_id"),
            Some(&service.str("client_secret")),
        )))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(app.alices_password_grant(None).await.status, StatusCode::OK);

    // Allowed by an admin: the public client gets tokens bound to it.
    app.change_client(&admin, &spa_id, json!({"allow_password_grant": true}))
        .await;
    let bound = app.alices_password_grant(Some((&spa_id, None))).await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    let refreshed = app
        .send(app.request(Method::POST, "/oauth/token").form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &bound.str("refresh_token")),
        ]))
        .await;
    assert_eq!(
        refreshed.body["error"], "invalid_grant",
        "{}",
        refreshed.body
    );
    let refreshed = app
        .send(app.request(Method::POST, "/oauth/token").form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &bound.str("refresh_token")),
            ("client_id", &spa_id),
        ]))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

async fn the_operator_turns_the_clientless_password_grant_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.oauth.password_grant = false).await;
    app.register("alice_1").await;
    let refused = app.alices_password_grant(None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"], "unauthorized_client");
    // The JSON API's login is the service's own, and stays.
    assert_eq!(app.login("alice_1", PASSWORD).await.status, StatusCode::OK);
}

on_every_backend!(
    each_kind_is_registered_with_its_fields_and_only_what_has_a_secret_gets_one,
    bad_redirect_uris_and_unknown_fields_are_refused_by_name,
    a_change_sets_only_its_fields_and_the_kind_stays,
    a_new_secret_stops_the_old_one_at_once_and_a_public_client_has_none,
    the_password_grant_is_an_apps_only_where_an_admin_allowed_it,
    the_operator_turns_the_clientless_password_grant_off,
);
