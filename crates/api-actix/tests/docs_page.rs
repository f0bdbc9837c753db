//! The Swagger UI page, loaded in headless Chromium under the service's own
//! Content-Security-Policy: the operations must be listed, and nothing refused.
//!
//! Needs Debian's `chromium`; `.ci/run` installs it and runs this with `--ignored`.

use std::process::Command;
use std::sync::Arc;

use api_actix::clock::SystemClock;
use api_actix::config::Settings;
use api_actix::startup::Application;
use infra_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs this test"]
async fn swagger_ui_lists_the_operations_under_the_services_csp() {
    let vars = [
        ("APP_ENV", "test"),
        ("APP__SERVER__PORT", "0"),
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
    let url = format!("http://127.0.0.1:{}/docs/", app.port());
    tokio::spawn(app.run_until_stopped());

    let profile = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=15000",
                &format!("--user-data-dir={}", profile.path().display()),
                "--dump-dom",
                &url,
            ])
            .output()
            .expect("chromium runs (apt-get install chromium)")
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    for operation in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/users/{id}",
        "/api/audit",
        "/health/ready",
    ] {
        assert!(
            dom.contains(operation),
            "{operation} is listed; page:\n{dom}\nlog:\n{log}"
        );
    }
    assert!(dom.contains("opblock"), "operations are rendered");
    assert!(
        !log.contains("Content Security Policy"),
        "nothing refused by the CSP:\n{log}"
    );
}
