//! The pages in headless Chromium, with JavaScript off: the reset and verification pages opened
//! from links in mail a real SMTP server received, and the sign-in and consent pages an app
//! sends a person to. A person fills each form by its labels, submits, and sees the result;
//! nothing is refused by the pages' CSP; a screenshot of each is kept.
//!
//! Needs Debian's `chromium`, Node.js and `npm ci --prefix crates/api-actix/tests/pages`;
//! `.ci/run` provides them and runs this with `--ignored`.

use std::process::Command;
use std::sync::Arc;

use api_actix::clock::SystemClock;
use api_actix::config::{MailTransport, Settings};
use api_actix::startup::Application;
use infra_memory::MemoryStore;
use serde_json::{Value, json};

#[path = "support/smtp.rs"]
mod smtp;

const NEW_PASSWORD: &str = "a-new-passw0rd";

/// Runs `journey.mjs` with `args`; returns what the page said.
fn journey(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pages/journey.mjs");
    let output = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .expect("node runs (npm ci --prefix crates/api-actix/tests/pages)");
    assert!(
        output.status.success(),
        "the journey {args:?} passes:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the journey's report")
}

/// A PNG of a real page: its signature, a plausible size, and more than one colour's worth of
/// bytes.
fn assert_screenshot(path: &std::path::Path) {
    let bytes = std::fs::read(path).expect("a screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 400 && height >= 300, "{width}x{height}");
    assert!(
        bytes.len() > 4_000,
        "a blank page compresses to almost nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and playwright-core; .ci/run provides them and runs this test"]
async fn a_person_resets_a_password_and_confirms_an_address_from_real_mail() {
    let sink = smtp::SmtpSink::start();
    let port = smtp::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let vars = [
        ("APP_ENV", "test"),
        ("APP__SERVER__PORT", &port.to_string()),
        ("APP__SERVER__PUBLIC_URL", &public_url),
        ("APP__MAIL__SIGN_IN_LINK", "https://app.example.com/sign-in"),
        ("APP__MAIL__POLL_INTERVAL_MS", "50"),
        (
            "JWT_SECRET_KEY",
            "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut settings = Settings::from_vars(&vars, false).unwrap();
    settings.mail.transport = MailTransport::Smtp;
    settings.mail.smtp_url = Some(sink.url().into());
    let app = Application::build_with(
        &settings,
        MemoryStore::new().stores(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{public_url}/api/auth/register"))
        .json(
            &json!({"username": "alice_1", "email": "alice@example.com", "password": "password1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let shots = tempfile::tempdir().unwrap();
    let verify = sink
        .nth("alice@example.com", "Confirm your email address", 1)
        .await;
    let verify_shot = shots.path().join("verify.png");
    let link = verify.link();
    let said = tokio::task::spawn_blocking(move || {
        journey(&["verify", &link, verify_shot.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(
        said["status"]
            .as_str()
            .unwrap()
            .contains("alice@example.com is confirmed")
    );
    assert_eq!(said["next"], "https://app.example.com/sign-in");
    assert_screenshot(&shots.path().join("verify.png"));

    client
        .post(format!("{public_url}/api/auth/password/forgot"))
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    let reset = sink
        .nth("alice@example.com", "Reset your password", 1)
        .await;
    let reset_shot = shots.path().join("reset.png");
    let link = reset.link();
    let said = tokio::task::spawn_blocking(move || {
        journey(&["reset", &link, NEW_PASSWORD, reset_shot.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(
        said["status"]
            .as_str()
            .unwrap()
            .contains("Sign in with your new password")
    );
    assert_eq!(said["next"], "https://app.example.com/sign-in");
    assert_screenshot(&shots.path().join("reset.png"));
    if let Ok(keep) = std::env::var("PAGE_SCREENSHOTS") {
        for name in ["verify.png", "reset.png"] {
            std::fs::copy(shots.path().join(name), format!("{keep}/{name}")).unwrap();
        }
    }

    let login = client
        .post(format!("{public_url}/api/auth/login"))
        .json(&json!({"login": "alice_1", "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the new password logs in");
    let me: Value = client
        .get(format!("{public_url}/api/auth/me"))
        .bearer_auth(
            login.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
}

/// An app's callback: answers every request 200, as the app's page would.
fn callback_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<p>Back in the app</p>",
            );
        }
    });
    port
}

/// Contract section 10 in a browser without JavaScript: an app (not first-party) sends the
/// person to the authorization endpoint; they sign in and allow it on the hosted pages, and land
/// on the app's callback with a code the app exchanges. Nothing is refused by the pages' policy
/// on the way, the redirects to the app included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and playwright-core; .ci/run provides them and runs this test"]
async fn a_person_signs_in_and_allows_an_app_in_a_browser() {
    let port = smtp::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let callback = format!("http://127.0.0.1:{}/cb", callback_server());
    let vars = [
        ("APP_ENV", "test"),
        ("APP__SERVER__PORT", port.to_string().as_str()),
        ("APP__SERVER__PUBLIC_URL", &public_url),
        ("ADMIN_USERNAME", "root_admin"),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", "password1"),
        (
            "JWT_SECRET_KEY",
            "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_vars(&vars, false).unwrap();
    let app = Application::build_with(
        &settings,
        MemoryStore::new().stores(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{public_url}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    post(
        "/api/auth/register",
        None,
        json!({"username": "alice_1", "email": "alice@example.com", "password": "password1"}),
    )
    .await;
    let admin = post(
        "/api/auth/login",
        None,
        json!({"login": "root_admin", "password": "password1"}),
    )
    .await;
    let made = post(
        "/api/admin/clients",
        admin["access_token"].as_str(),
        json!({"name": "Notes", "kind": "public", "redirect_uris": [callback]}),
    )
    .await;
    let client_id = made["client_id"].as_str().unwrap().to_owned();
    // RFC 7636 appendix B's verifier and challenge.
    let authorize = format!(
        "{public_url}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={callback}\
         &scope=openid%20email&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256"
    );
    let shots = tempfile::tempdir().unwrap();
    let shot = shots.path().join("consent.png");
    let (link, prefix, path) = (authorize.clone(), callback.clone(), shot.clone());
    let said = tokio::task::spawn_blocking(move || {
        journey(&[
            "signin",
            &link,
            "alice_1",
            "password1",
            &prefix,
            path.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    assert_screenshot(&shot);
    if let Ok(keep) = std::env::var("PAGE_SCREENSHOTS") {
        std::fs::copy(&shot, format!("{keep}/consent.png")).unwrap();
    }
    let landed = url::Url::parse(said["landed"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "s1");
    assert_eq!(query["iss"], public_url);
    let tokens: Value = client
        .post(format!("{public_url}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", &callback),
            ("client_id", &client_id),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");
}
