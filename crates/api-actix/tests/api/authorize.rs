//! The authorization code flow over real HTTP (contract section 10), driven as a browser without
//! JavaScript would: the authorization endpoint, the sign-in and consent pages with their forms
//! and cookies, the code grant, the ID token, single sign-on, and hostile requests.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, PASSWORD, Reply, TestApp, jwt_part, spawn_app};

const REDIRECT: &str = "http://127.0.0.1/cb";
const VERIFIER: &str = "a-verifier-of-forty-three-characters-or-more-0123";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser: no redirects followed, cookies kept by name.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location: {} {}", self.status, self.body))
    }

    /// A hidden field's value, as the browser would send it.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}: {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        unescape(&self.body[start..end])
    }
}

/// HTML character references, named or numeric, as a browser reads them.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .map(|e| at + e)
            .expect("a whole reference");
        let name = &rest[at + 1..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = name.strip_prefix("#x").map_or_else(
                    || name.strip_prefix('#').unwrap().parse().unwrap(),
                    |hex| u32::from_str_radix(hex, 16).unwrap(),
                );
                char::from_u32(code).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The query parameters of a URL.
fn query_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie)
        };
        let response = request.send().await.expect("the server answers");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// `path` may be a path of the server's or a whole URL.
    async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.app.address)
        };
        let request = self.client.get(url);
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .client
            .post(format!("{}{path}", self.app.address))
            .form(form);
        self.send(request).await
    }

    /// Signs in on the page a redirect to sign-in leads to; the answer to the form.
    async fn sign_in(&mut self, to_sign_in: &Page, login: &str, password: &str) -> Page {
        let page = self.get(to_sign_in.location()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (csrf, return_to) = (page.hidden("csrf"), page.hidden("return_to"));
        self.post(
            "/signin",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("login", login),
                ("password", password),
            ],
        )
        .await
    }
}

fn authorize_path(client_id: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email profile offline_access")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("/oauth/authorize?{}", query.finish())
}

impl TestApp {
    /// A client of `kind` (with `first_party`): its id and secret (if any).
    async fn app_client(&self, kind: &str, first_party: bool) -> (String, Option<String>) {
        let admin = self.admin().await;
        let made = self
            .call(
                Method::POST,
                "/api/admin/clients",
                Some(&admin.access),
                Some(json!({
                    "name": format!("{kind} app"),
                    "kind": kind,
                    "redirect_uris": [REDIRECT],
                    "first_party": first_party,
                })),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        (
            made.str("client_id"),
            made.body["client_secret"].as_str().map(str::to_owned),
        )
    }

    async fn exchange(
        &self,
        client_id: &str,
        secret: Option<&str>,
        code: &str,
        verifier: &str,
    ) -> Reply {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        let mut request = self.request(Method::POST, "/oauth/token");
        match secret {
            Some(secret) => request = request.basic_auth(client_id, Some(secret)),
            None => form.push(("client_id", client_id)),
        }
        self.send(request.form(&form)).await
    }
}

/// The code the redirect back to the client carries, after checking `state` and `iss`.
fn code_in(app: &TestApp, back: &Page) -> String {
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let location = back.location();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = query_of(location);
    assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
    assert_eq!(query.get("iss"), Some(&app.address));
    query["code"].clone()
}

async fn a_person_signs_in_once_and_the_app_gets_tokens_and_an_id_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (client_id, _) = app.app_client("public", true).await;
    let mut browser = Browser::new(&app);

    // Not signed in: to the sign-in page, which comes back here.
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert!(start.location().starts_with("/signin?return_to="));
    let page = browser.get(start.location()).await;
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        !policy.contains("unsafe-inline") && policy.contains("form-action 'self' http://127.0.0.1"),
        "{policy}"
    );
    for attribute in [
        "autocomplete=\"username\"",
        "autocomplete=\"current-password\"",
        "<label for=\"login\">",
        "<label for=\"password\">",
        "name=\"viewport\"",
    ] {
        assert!(page.body.contains(attribute), "{attribute}");
    }
    assert!(!page.body.contains("<script"));

    // A wrong password: the API's words, and no session.
    let wrong = browser.sign_in(&start, "alice_1", "wrong-password-1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The login or the password is wrong."));
    assert!(!browser.cookies.contains_key("auth_session"));
    let unknown = browser
        .sign_in(&start, "nobody_1", "wrong-password-1")
        .await;
    assert_eq!(unknown.status, wrong.status);
    assert!(unknown.body.contains("The login or the password is wrong."));

    // The right one: a session cookie (HttpOnly, Lax; not Secure over http), and back.
    let signed = browser.sign_in(&start, "alice_1", PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let set = signed
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("auth_session="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"),
        "{set}"
    );
    let back = browser.get(signed.location()).await;
    let code = code_in(&app, &back);
    assert!(code.len() >= 43);

    // The code grant: tokens, an ID token, the scopes.
    let tokens = app.exchange(&client_id, None, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.str("scope"), "openid profile email offline_access");
    let id = jwt_part(&tokens.str("id_token"), 1);
    assert_eq!(id["iss"], app.address.as_str());
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["azp"], client_id.as_str());
    assert_eq!(id["sub"], alice.user_id.as_str());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["email"], "alice_1@example.com");
    assert_eq!(id["preferred_username"], "alice_1");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());
    assert_eq!(jwt_part(&tokens.str("id_token"), 0)["alg"], "ES256");
    let access = tokens.str("access_token");
    let access_claims = jwt_part(&access, 1);
    assert_eq!(access_claims["azp"], client_id.as_str());
    assert_eq!(access_claims["client_id"], client_id.as_str());
    assert_eq!(
        access_claims["scope"],
        "openid profile email offline_access"
    );
    // A first-party app's token reaches the service's own endpoints.
    assert_eq!(app.me(&access).await.status, StatusCode::OK);

    // Userinfo: the scopes' claims, the token in the header or in a form.
    let info = app.get("/oauth/userinfo", Some(&access)).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.body["sub"], alice.user_id.as_str());
    assert_eq!(info.body["email"], "alice_1@example.com");
    assert_eq!(info.body["preferred_username"], "alice_1");
    let posted = app
        .send(
            app.request(Method::POST, "/oauth/userinfo")
                .form(&[("access_token", &access)]),
        )
        .await;
    assert_eq!(posted.body["sub"], alice.user_id.as_str());
    let bare = app.get("/oauth/userinfo", None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.header("www-authenticate"),
        Some("Bearer realm=\"auth-api\"")
    );
    let garbage = app.get("/oauth/userinfo", Some("garbage")).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert!(
        garbage
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // A login's token was granted no openid scope.
    let own = app.login("alice_1", PASSWORD).await;
    let no_scope = app
        .get("/oauth/userinfo", Some(&own.str("access_token")))
        .await;
    assert_eq!(no_scope.status, StatusCode::FORBIDDEN);
    assert_eq!(no_scope.body["error"], "insufficient_scope");
    let twice = app
        .send(
            app.request(Method::POST, "/oauth/userinfo")
                .bearer_auth(&access)
                .form(&[("access_token", &access)]),
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);

    // The sessions: the registration's, the login's and the app's (api), and the sign-in's
    // (browser).
    let listed = app.get("/api/auth/sessions", Some(&access)).await;
    let mut kinds: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["api", "api", "api", "browser"]);

    // The code works once; a second use revokes what the first gave.
    let again = app.exchange(&client_id, None, &code, VERIFIER).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["error"], "invalid_grant");
    assert_eq!(app.me(&access).await.body["code"], "token_revoked");

    // Single sign-on: the next authorization needs no sign-in.
    let sso = browser.get(&authorize_path(&client_id, &[])).await;
    let code = code_in(&app, &sso);
    let tokens = app.exchange(&client_id, None, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    // prompt=login asks again; prompt=none answers at once.
    let login = browser
        .get(&authorize_path(&client_id, &[("prompt", "login")]))
        .await;
    assert!(login.location().starts_with("/signin?"));
    let none = browser
        .get(&authorize_path(&client_id, &[("prompt", "none")]))
        .await;
    code_in(&app, &none);
    let mut stranger = Browser::new(&app);
    let refused = stranger
        .get(&authorize_path(&client_id, &[("prompt", "none")]))
        .await;
    let query = query_of(refused.location());
    assert_eq!(query["error"], "login_required");
    assert_eq!(query["state"], "st-1");
    assert_eq!(query["iss"], app.address);
}

async fn a_code_is_bound_to_its_client_redirect_and_verifier(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let (client_id, _) = app.app_client("public", true).await;
    let (other_id, _) = app.app_client("public", true).await;
    let mut browser = Browser::new(&app);
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    let signed = browser.sign_in(&start, "alice_1", PASSWORD).await;
    let first = code_in(&app, &browser.get(signed.location()).await);
    // Another client, a wrong verifier, another redirect URI: each spends its code for nothing.
    let another = app.exchange(&other_id, None, &first, VERIFIER).await;
    assert_eq!(another.body["error"], "invalid_grant", "{}", another.body);
    assert_eq!(
        app.exchange(&client_id, None, &first, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    let second = code_in(&app, &browser.get(&authorize_path(&client_id, &[])).await);
    let wrong = app
        .exchange(
            &client_id,
            None,
            &second,
            "another-verifier-of-forty-three-characters-01",
        )
        .await;
    assert_eq!(wrong.body["error"], "invalid_grant");
    let third = code_in(&app, &browser.get(&authorize_path(&client_id, &[])).await);
    let elsewhere = app
        .send(app.request(Method::POST, "/oauth/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", &third),
            ("redirect_uri", "http://127.0.0.1/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client_id),
        ]))
        .await;
    assert_eq!(elsewhere.body["error"], "invalid_grant");
    // Expired: a minute later, nothing.
    let fourth = code_in(&app, &browser.get(&authorize_path(&client_id, &[])).await);
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        app.exchange(&client_id, None, &fourth, VERIFIER).await.body["error"],
        "invalid_grant"
    );
    // A code grant without a client is no client's.
    let nobody = app
        .send(app.request(Method::POST, "/oauth/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    assert_eq!(nobody.body["error"], "invalid_client");
}

async fn bad_requests_get_a_page_until_the_client_is_known_and_a_redirect_after(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, _) = app.app_client("public", true).await;
    let mut browser = Browser::new(&app);
    let challenge = challenge(VERIFIER);
    // Not known good: a page, never a redirect.
    for path in [
        format!(
            "/oauth/authorize?response_type=code&client_id=00000000-0000-0000-0000-000000000000&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256"
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=https://evil.example.com/cb&code_challenge={challenge}&code_challenge_method=S256"
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client_id}&code_challenge={challenge}&code_challenge_method=S256"
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client_id}&client_id={client_id}&redirect_uri={REDIRECT}"
        ),
        "/oauth/authorize".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.headers.get(LOCATION).is_none(), "{path}");
        assert!(page.body.contains("This sign-in link does not work"));
    }
    // Known good: back to the client with the error.
    for (extra, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
    ] {
        let base = authorize_path(&client_id, &[]);
        // Replace the parameter named in `extra` rather than repeat it.
        let mut url = url::Url::parse(&format!("http://x{base}")).unwrap();
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(n, _)| !extra.iter().any(|(e, _)| e == n))
            .collect();
        pairs.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        url.query_pairs_mut().clear().extend_pairs(&pairs);
        let page = browser
            .get(&format!("/oauth/authorize?{}", url.query().unwrap()))
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{extra:?}: {}",
            page.body
        );
        let query = query_of(page.location());
        assert_eq!(query["error"], error, "{extra:?}");
        assert_eq!(query["state"], "st-1");
    }
    // Without a challenge at all.
    let bare = browser.get(&format!("/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={REDIRECT}&state=s")).await;
    assert_eq!(query_of(bare.location())["error"], "invalid_request");
}

async fn an_app_that_is_not_first_party_asks_for_consent_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let (client_id, secret) = app.app_client("confidential", false).await;
    let secret = secret.unwrap();
    let mut browser = Browser::new(&app);
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    let consent = browser.sign_in(&start, "alice_1", PASSWORD).await;
    let consent = browser.get(consent.location()).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(
        consent.body.contains("confidential app")
            && consent.body.contains("see your email address")
    );
    let (csrf, return_to) = (consent.hidden("csrf"), consent.hidden("return_to"));
    // Deny: access_denied.
    let denied = browser
        .post(
            "/consent",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(query_of(denied.location())["error"], "access_denied");
    // A forged form (no CSRF token of this browser's) does nothing.
    let mut other = Browser::new(&app);
    let forged = other
        .post(
            "/consent",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Allow: a code, exchanged with the client's secret.
    let allowed = browser
        .post(
            "/consent",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = code_in(&app, &allowed);
    let tokens = app
        .exchange(&client_id, Some(&secret), &code, VERIFIER)
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    // Not first-party: its tokens are for its own use and userinfo, not this service's API.
    let access = tokens.str("access_token");
    app.me(&access)
        .await
        .assert_problem(403, "insufficient_scope");
    assert_eq!(
        app.get("/oauth/userinfo", Some(&access)).await.status,
        StatusCode::OK
    );
    // Its refresh token rotates, for it alone, and keeps the scopes.
    let refreshed = app
        .send(
            app.request(Method::POST, "/oauth/token")
                .basic_auth(&client_id, Some(&secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &tokens.str("refresh_token")),
                ]),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert_eq!(
        jwt_part(&refreshed.str("access_token"), 1)["scope"],
        "openid profile email offline_access"
    );
    // Remembered: no page the next time, unless asked for.
    code_in(&app, &browser.get(&authorize_path(&client_id, &[])).await);
    let asked = browser
        .get(&authorize_path(&client_id, &[("prompt", "consent")]))
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.body.contains("Allow access?"));
    // Alice lists her grants and withdraws this one: the app's tokens of hers end, and it asks
    // again.
    let own = app.login("alice_1", PASSWORD).await.str("access_token");
    let listed = app.get("/api/auth/consents", Some(&own)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["client_id"], client_id.as_str());
    assert_eq!(listed.body["items"][0]["client_name"], "confidential app");
    assert_eq!(
        listed.body["items"][0]["scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    let path = format!("/api/auth/consents/{client_id}");
    let withdrawn = app.call(Method::DELETE, &path, Some(&own), None).await;
    assert_eq!(
        withdrawn.status,
        StatusCode::NO_CONTENT,
        "{}",
        withdrawn.body
    );
    app.call(Method::DELETE, &path, Some(&own), None)
        .await
        .assert_problem(404, "client_not_found");
    assert_eq!(
        app.get("/oauth/userinfo", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/oauth/userinfo", Some(&refreshed.str("access_token")))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me(&own).await.status,
        StatusCode::OK,
        "her own session stays"
    );
    assert_eq!(
        app.get("/api/auth/consents", Some(&own)).await.body["items"],
        json!([])
    );
    let again = browser.get(&authorize_path(&client_id, &[])).await;
    assert!(again.body.contains("Allow access?"));
    let audit = app
        .get("/api/audit?per_page=50", Some(&app.admin().await.access))
        .await;
    let events: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for event in [
        "sso_signin",
        "consent_granted",
        "oauth_authorized",
        "consent_withdrawn",
    ] {
        assert!(events.contains(&event), "{event}: {events:?}");
    }
}

async fn forged_forms_and_other_origins_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let (client_id, _) = app.app_client("public", true).await;
    let mut browser = Browser::new(&app);
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    let page = browser.get(start.location()).await;
    let (csrf, return_to) = (page.hidden("csrf"), page.hidden("return_to"));
    let form = [
        ("csrf", csrf.as_str()),
        ("return_to", return_to.as_str()),
        ("login", "alice_1"),
        ("password", PASSWORD),
    ];
    // From another site: refused, whatever the token.
    let request = browser
        .client
        .post(format!("{}/signin", app.address))
        .header("origin", "https://evil.example.com")
        .form(&form);
    let cross = browser.send(request).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Without the cookie the token came with.
    let mut bare = Browser::new(&app);
    assert_eq!(
        bare.post("/signin", &form).await.status,
        StatusCode::FORBIDDEN
    );
    // A return to anywhere but the authorization endpoint goes nowhere else.
    let elsewhere = browser
        .post(
            "/signin",
            &[
                ("csrf", &csrf),
                ("return_to", "https://evil.example.com/"),
                ("login", "alice_1"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(elsewhere.location(), "/signin/done");
    // A session cookie made up or tampered with is no session.
    let mut forger = Browser::new(&app);
    forger.cookies.insert(
        "auth_session".into(),
        format!("{}.{}", uuid::Uuid::new_v4().simple(), "0".repeat(64)),
    );
    let start = forger.get(&authorize_path(&client_id, &[])).await;
    assert!(start.location().starts_with("/signin?"));
}

async fn concurrent_exchanges_of_one_code_give_tokens_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let (client_id, _) = app.app_client("public", true).await;
    let mut browser = Browser::new(&app);
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    let signed = browser.sign_in(&start, "alice_1", PASSWORD).await;
    let code = code_in(&app, &browser.get(signed.location()).await);
    let tries = (0..8).map(|_| app.exchange(&client_id, None, &code, VERIFIER));
    let answers = futures::future::join_all(tries).await;
    let won: Vec<&Reply> = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert!(
        won.len() <= 1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in answers.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(reply.body["error"], "invalid_grant", "{}", reply.body);
    }
    // Whoever won, the replays revoked it: the code gave nothing that lasts.
    for reply in won {
        assert_eq!(
            app.me(&reply.str("access_token")).await.body["code"],
            "token_revoked"
        );
    }
}

async fn what_a_sign_in_returns_to_is_checked_and_prompt_consent_survives_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let (client_id, _) = app.app_client("confidential", false).await;
    // A return_to that is no checked request neither goes anywhere nor writes the policy.
    let mut browser = Browser::new(&app);
    for forged in [
        "/oauth/authorize?redirect_uri=https://*/x",
        "/oauth/authorize?redirect_uri=https://a;script-src/x",
        "https://evil.example.com/",
    ] {
        let path = format!(
            "/signin?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", forged)
                .finish()
        );
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        let policy = page.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("form-action 'self';"), "{forged}: {policy}");
        assert_eq!(page.hidden("return_to"), "", "{forged}");
    }
    // A repeated parameter on the page's query: the page, not problem+json.
    let odd = browser.get("/signin?return_to=a&return_to=b").await;
    assert_eq!(odd.status, StatusCode::OK);
    assert!(
        odd.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Consent given once; then prompt=consent from a browser that must sign in first still
    // shows the consent page after the sign-in.
    let start = browser.get(&authorize_path(&client_id, &[])).await;
    let signed = browser.sign_in(&start, "alice_1", PASSWORD).await;
    let consent = browser.get(signed.location()).await;
    let (csrf, return_to) = (consent.hidden("csrf"), consent.hidden("return_to"));
    code_in(
        &app,
        &browser
            .post(
                "/consent",
                &[
                    ("csrf", &csrf),
                    ("return_to", &return_to),
                    ("decision", "allow"),
                ],
            )
            .await,
    );
    let mut fresh = Browser::new(&app);
    let start = fresh
        .get(&authorize_path(&client_id, &[("prompt", "consent")]))
        .await;
    let signed = fresh.sign_in(&start, "alice_1", PASSWORD).await;
    let page = fresh.get(signed.location()).await;
    assert!(page.body.contains("Allow access?"), "{}", page.body);

    // Allow pressed several times at once: each answered, none a 500.
    let (csrf, return_to) = (page.hidden("csrf"), page.hidden("return_to"));
    let form = [
        ("csrf", csrf.as_str()),
        ("return_to", return_to.as_str()),
        ("decision", "allow"),
    ];
    let cookie = fresh
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let presses = (0..4).map(|_| {
        fresh
            .client
            .post(format!("{}/consent", app.address))
            .header("cookie", cookie.clone())
            .form(&form)
            .send()
    });
    for answer in futures::future::join_all(presses).await {
        assert_eq!(answer.unwrap().status(), StatusCode::SEE_OTHER);
    }
    // POST-only pages say so.
    let wrong = browser.get("/consent").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers["allow"].to_str().unwrap(), "POST");
}

on_every_backend!(
    a_person_signs_in_once_and_the_app_gets_tokens_and_an_id_token,
    a_code_is_bound_to_its_client_redirect_and_verifier,
    bad_requests_get_a_page_until_the_client_is_known_and_a_redirect_after,
    an_app_that_is_not_first_party_asks_for_consent_once,
    forged_forms_and_other_origins_are_refused,
    concurrent_exchanges_of_one_code_give_tokens_once,
    what_a_sign_in_returns_to_is_checked_and_prompt_consent_survives_it,
);
