//! What the mail features keep secret: no token in a log line, no readable message or token in
//! the database, and a link to a page that spends nothing until its form is sent.

use reqwest::StatusCode;
use serde_json::json;

#[path = "../support/smtp.rs"]
mod smtp;

use crate::helpers::{Backend, smtp_to, spawn_app_with};
use crate::logs;

/// The database as bytes: the SQLite file and its write-ahead log, or PostgreSQL's tables as text.
fn database_text(url: &str) -> String {
    if url.starts_with("postgres") {
        let output = std::process::Command::new("pg_dump")
            .args(["--data-only", url])
            .output()
            .expect("pg_dump runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let path = url.trim_start_matches("sqlite://");
    [path.to_owned(), format!("{path}-wal")]
        .iter()
        .filter_map(|file| std::fs::read(file).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}

async fn tokens_reach_neither_logs_nor_the_database(backend: Backend) {
    logs::capture();
    // Down at first: the messages wait in the outbox, sealed.
    let port = smtp::free_port();
    let app = spawn_app_with(backend, |s| smtp_to(s, &smtp::smtp_url(port))).await;
    let alice = app.register("alice_1").await;
    assert_eq!(
        app.post(
            "/api/auth/password/forgot",
            json!({"email": "alice_1@example.com"})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    if let Some(url) = app.database_url() {
        let stored = database_text(url);
        for clear in [
            "reset-password?token=",
            "verify-email?token=",
            "Someone asked to reset",
        ] {
            assert!(!stored.contains(clear), "{clear:?} is stored in clear");
        }
    }

    let sink = smtp::SmtpSink::start_on(port, 0);
    app.clock.advance(chrono::Duration::minutes(5));
    let reset = sink
        .nth("alice_1@example.com", "Reset your password", 1)
        .await;
    let verify = sink
        .nth("alice_1@example.com", "Confirm your email address", 1)
        .await;
    // Opened as a person (or a scanner) would: the token is in the query string.
    let page = app
        .request(
            reqwest::Method::GET,
            &reset.link().replace(&app.address, ""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let done = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset.token(), "new_password": "new-password-2"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    app.post("/api/auth/email/verify", json!({"token": verify.token()}))
        .await;
    if let Some(url) = app.database_url() {
        let stored = database_text(url);
        for token in [reset.token(), verify.token()] {
            assert!(!stored.contains(&token), "a token is stored in clear");
        }
    }
    logs::assert_absent(&[
        &reset.token(),
        &verify.token(),
        "new-password-2",
        &alice.refresh,
    ]);
}

on_every_backend!(tokens_reach_neither_logs_nor_the_database);
