//! Forged, tampered, expired, misdirected and replayed tokens, and broken Authorization headers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use domain::{Claims, TokenType};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};

use crate::helpers::{
    Backend, PASSWORD, SECRET, TestApp, Tokens, jwt_part, spawn_app, spawn_hs256_app,
};
use crate::logs;

fn claims_of(token: &str) -> Claims {
    serde_json::from_value(jwt_part(token, 1)).unwrap()
}

fn sign(claims: &Claims, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn alice(app: &TestApp) -> Tokens {
    app.register("alice_1").await
}

async fn forged_tokens_are_invalid(backend: Backend) {
    logs::capture();
    let app = spawn_hs256_app(backend).await;
    let alice = alice(&app).await;
    let claims = claims_of(&alice.access);
    let payload = alice.access.split('.').nth(1).unwrap();

    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let forged = [
        format!("{none_header}.{payload}."),
        format!("{none_header}.{payload}"),
        sign(
            &claims,
            "another-secret-entirely-32-bytes-long!!",
            Algorithm::HS256,
        ),
        sign(&claims, SECRET, Algorithm::HS512),
    ];
    for token in forged {
        app.me(&token).await.assert_problem(401, "invalid_token");
    }

    // A payload promoted to admin, with the original signature.
    let mut promoted = claims.clone();
    promoted.role = Some(domain::Role::Admin);
    let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&promoted).unwrap());
    let parts: Vec<&str> = alice.access.split('.').collect();
    let tampered = format!("{}.{tampered_payload}.{}", parts[0], parts[2]);
    app.me(&tampered).await.assert_problem(401, "invalid_token");
    app.get("/api/users", Some(&tampered))
        .await
        .assert_problem(401, "invalid_token");
    logs::assert_absent(&[PASSWORD, SECRET]);
}

async fn tokens_for_another_audience_issuer_or_time_are_refused(backend: Backend) {
    logs::capture();
    let app = spawn_hs256_app(backend).await;
    let alice = alice(&app).await;
    let claims = claims_of(&alice.access);
    let now = claims.iat;

    let mut wrong_iss = claims.clone();
    wrong_iss.iss = "someone-else".into();
    let mut wrong_aud = claims.clone();
    wrong_aud.aud = "another-service".into();
    let mut not_yet = claims.clone();
    not_yet.nbf = now + 60;
    for bad in [wrong_iss, wrong_aud, not_yet] {
        app.me(&sign(&bad, SECRET, Algorithm::HS256))
            .await
            .assert_problem(401, "invalid_token");
    }
    let mut expired = claims.clone();
    expired.exp = now - 1;
    app.me(&sign(&expired, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "token_expired");

    // Well signed, but for a session that does not exist.
    let mut stray = claims;
    stray.sid = Some(uuid::Uuid::new_v4());
    app.me(&sign(&stray, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "token_revoked");
    logs::assert_absent(&[PASSWORD, SECRET]);
}

async fn tokens_are_used_only_for_their_type(backend: Backend) {
    logs::capture();
    let app = spawn_hs256_app(backend).await;
    let alice = alice(&app).await;
    app.me(&alice.refresh)
        .await
        .assert_problem(401, "wrong_token_type");
    app.refresh(&alice.access)
        .await
        .assert_problem(401, "wrong_token_type");
    // Re-signed with the other type's name is still bound to its own jti and session.
    let mut as_refresh = claims_of(&alice.access);
    as_refresh.token_type = TokenType::Refresh;
    as_refresh.role = None;
    app.refresh(&sign(&as_refresh, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "refresh_token_reused");
    logs::assert_absent(&[PASSWORD, SECRET]);
}

async fn a_deleted_users_and_a_replayed_refresh_token_are_refused(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let alice = alice(&app).await;
    let bob = app.register("bob_1").await;

    let rotated = Tokens::from(&app.refresh(&bob.refresh).await);
    app.clock.advance(Duration::seconds(11));
    app.refresh(&bob.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    app.refresh(&rotated.refresh)
        .await
        .assert_problem(401, "token_revoked");

    let path = format!("/api/users/{}", alice.user_id);
    let reply = app
        .call(Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.me(&alice.access)
        .await
        .assert_problem(401, "token_revoked");
    app.refresh(&alice.refresh)
        .await
        .assert_problem(401, "token_revoked");
    logs::assert_absent(&[PASSWORD, SECRET]);
}

async fn broken_authorization_headers_are_refused_cleanly(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let with = |value: Vec<u8>| {
        app.request(Method::GET, "/api/auth/me").header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
        )
    };
    for value in [
        "",
        "Bearer",
        "Bearer    ",
        "bearer",
        "Basic dXNlcjpwYXNz",
        "Digest x",
    ] {
        app.send(with(value.as_bytes().to_vec()))
            .await
            .assert_problem(401, "missing_token");
    }
    for value in [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer <script>",
    ] {
        let reply = app.send(with(value.as_bytes().to_vec())).await;
        reply.assert_problem(401, "invalid_token");
    }
    let reply = app.send(with(b"Bearer \xff\xfe".to_vec())).await;
    reply.assert_problem(401, "invalid_token");

    // A 1 MB header is refused by the HTTP layer before any handler; never a 500.
    let huge = format!("Bearer {}", "a".repeat(1024 * 1024));
    // On a client of its own: the server may drop the connection, which must not be reused.
    let lone = reqwest::Client::new();
    match lone
        .get(format!("{}/api/auth/me", app.address))
        .header("Authorization", huge)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            assert!((400..500).contains(&status), "status {status}");
        }
        // The server may close the connection on an oversized head instead of answering.
        Err(err) => assert!(!err.is_timeout(), "{err}"),
    }
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
    logs::assert_absent(&[PASSWORD, SECRET]);
}

/// `claims` signed with `secret` under `header`.
fn sign_with(header: &Header, claims: &Claims, secret: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// With ES256 (the default), a token is judged by the key its `kid` names and by that key's
/// algorithm only: the public key used as an HMAC secret, a kid nobody made, a retired key and
/// a header pointing elsewhere for its key are all refused.
async fn key_pair_tokens_accept_only_their_own_keys(backend: Backend) {
    logs::capture();
    let app = spawn_app(backend).await;
    let alice = alice(&app).await;
    let header = jwt_part(&alice.access, 0);
    assert_eq!(header["alg"], "ES256");
    let kid = header["kid"].as_str().unwrap().to_owned();
    let jwks = app.get("/.well-known/jwks.json", None).await.body;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    let claims = claims_of(&alice.access);

    // Algorithm confusion: HS256 keyed with what the server publishes.
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    let point = [&[4u8][..], &x, &y].concat();
    for secret in [jwk.to_string().into_bytes(), point, x] {
        for named in [Some(kid.clone()), None] {
            let mut hs = Header::new(Algorithm::HS256);
            hs.kid = named;
            app.me(&sign_with(&hs, &claims, &secret))
                .await
                .assert_problem(401, "invalid_token");
        }
    }
    // A kid nobody made (it makes the server look once, then still refuses).
    let mut unknown = Header::new(Algorithm::HS256);
    unknown.kid = Some("no-such-key".into());
    app.me(&sign_with(&unknown, &claims, SECRET.as_bytes()))
        .await
        .assert_problem(401, "invalid_token");
    // Headers that name where to fetch a key: the real signature over a header that says so.
    let parts: Vec<&str> = alice.access.split('.').collect();
    for (name, value) in [
        ("jku", serde_json::json!("https://evil.example/jwks.json")),
        ("x5u", serde_json::json!("https://evil.example/cert.pem")),
        ("jwk", jwk.clone()),
    ] {
        let mut pointed = header.clone();
        pointed[name] = value;
        let pointed = URL_SAFE_NO_PAD.encode(pointed.to_string());
        app.me(&format!("{pointed}.{}.{}", parts[1], parts[2]))
            .await
            .assert_problem(401, "invalid_token");
    }

    // Rotation logs nobody out; retiring the old key (forced) ends its tokens at once.
    let admin = app.admin().await;
    let reply = app
        .call(
            Method::POST,
            "/api/admin/keys/rotate",
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_ne!(reply.body["kid"], kid.as_str());
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
    let operator = domain::ClientInfo::default();
    assert!(matches!(
        app.keys.retire(&kid, false, None, &operator).await,
        Err(domain::DomainError::KeyInUse { .. })
    ));
    app.keys.retire(&kid, true, None, &operator).await.unwrap();
    app.me(&alice.access)
        .await
        .assert_problem(401, "invalid_token");
    let jwks = app.get("/.well-known/jwks.json", None).await.body;
    assert!(
        !jwks.to_string().contains(&kid),
        "a retired key is not published"
    );
    logs::assert_absent(&[PASSWORD, SECRET]);
}

/// Contract section 17: an installation whose secret never signed refuses tokens made with it,
/// however they name their key.
async fn shared_secret_tokens_are_refused_where_the_secret_never_signed(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = alice(&app).await;
    let kid = jwt_part(&alice.access, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, refresh) in [(&alice.access, false), (&alice.refresh, true)] {
        let claims = claims_of(token);
        for named in [
            None,
            Some(kid.clone()),
            Some("hs-0123456789abcdef".to_owned()),
        ] {
            for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(algorithm);
                header.kid = named.clone();
                let forged = jsonwebtoken::encode(
                    &header,
                    &claims,
                    &EncodingKey::from_secret(SECRET.as_bytes()),
                )
                .unwrap();
                let reply = if refresh {
                    app.refresh(&forged).await
                } else {
                    app.me(&forged).await
                };
                reply.assert_problem(401, "invalid_token");
            }
        }
    }
    assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
}

/// Contract section 17: a token that claims a longer life than its type has, or asks for a
/// header extension (`crit`), is invalid, however well signed.
async fn tokens_claiming_a_long_life_or_an_extension_are_invalid(backend: Backend) {
    let app = spawn_hs256_app(backend).await;
    let alice = alice(&app).await;
    let access = claims_of(&alice.access);
    let refresh = claims_of(&alice.refresh);
    let long_access = Claims {
        exp: access.iat + 86_400,
        ..access.clone()
    };
    app.me(&sign(&long_access, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "invalid_token");
    let long_refresh = Claims {
        exp: refresh.iat + 400 * 86_400,
        ..refresh.clone()
    };
    app.refresh(&sign(&long_refresh, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "invalid_token");
    // A right-sized life that starts in ten years (and so ends in ten years).
    let later = access.iat + 10 * 365 * 86_400;
    let postdated = Claims {
        iat: later,
        exp: later + (access.exp - access.iat),
        ..access.clone()
    };
    app.me(&sign(&postdated, SECRET, Algorithm::HS256))
        .await
        .assert_problem(401, "invalid_token");
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["exp".into()]);
    let critical = jsonwebtoken::encode(
        &header,
        &access,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    app.me(&critical).await.assert_problem(401, "invalid_token");
    // The same claims, signed plainly, are fine: only the life and the header were wrong.
    assert_eq!(
        app.me(&sign(&access, SECRET, Algorithm::HS256))
            .await
            .status,
        StatusCode::OK
    );
}

on_every_backend!(
    shared_secret_tokens_are_refused_where_the_secret_never_signed,
    tokens_claiming_a_long_life_or_an_extension_are_invalid,
    key_pair_tokens_accept_only_their_own_keys,
    forged_tokens_are_invalid,
    tokens_for_another_audience_issuer_or_time_are_refused,
    tokens_are_used_only_for_their_type,
    a_deleted_users_and_a_replayed_refresh_token_are_refused,
    broken_authorization_headers_are_refused_cleanly,
);
