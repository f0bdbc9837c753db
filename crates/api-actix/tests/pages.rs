//! The reset and verification pages in headless Chromium, opened from links in mail a real SMTP
//! server received: a person fills the form by its labels, with JavaScript off, submits, and
//! sees the result; nothing is refused by the pages' CSP; a screenshot of each result is kept.
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
