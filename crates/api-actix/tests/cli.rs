//! The binary as operators run it: its commands, its refusal of bad configuration, and its
//! graceful stop.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use domain::{Role, UserRepository};
use infra_diesel::DieselStore;

const SECRET: &str = "cli-test-secret-that-is-at-least-32-bytes";

/// The binary in an empty folder with only the given variables (no stray `.env` or config).
fn api_actix(dir: &tempfile::TempDir, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "test")
        .env("JWT_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn");
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn create_admin(dir: &tempfile::TempDir, username: &str, stdin: &str) -> Output {
    let mut command = api_actix(dir, &[]);
    command.args([
        "create-admin",
        "--username",
        username,
        "--email",
        &format!("{username}@example.com"),
        "--password-stdin",
    ]);
    run_with_stdin(command, stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn create_admin_creates_then_promotes_and_reads_one_line_of_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let created = create_admin(&dir, "boss", "password1\r\n");
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created admin boss"));
    let again = create_admin(&dir, "BOSS", "password1\n");
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("promoted boss"));

    let url =
        infra_diesel::DatabaseUrl::parse(&dir.path().join("data/auth.db").display().to_string())
            .unwrap();
    let store = DieselStore::connect(&url, 1, Duration::from_secs(5)).unwrap();
    let boss = store.find_by_username("boss").await.unwrap().unwrap();
    assert_eq!(boss.role, Role::Admin);
    assert_eq!(store.count_active_with_role(Role::Admin).await.unwrap(), 1);
}

#[test]
fn create_admin_refuses_a_weak_password_or_a_password_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let weak = create_admin(&dir, "boss", "short\n");
    assert!(!weak.status.success());
    let stderr = text(&weak.stderr);
    assert!(stderr.contains("password"), "{stderr}");
    assert!(!stderr.contains("short\n"));

    let mut command = api_actix(&dir, &[]);
    command.args([
        "create-admin",
        "--username",
        "boss",
        "--email",
        "b@example.com",
    ]);
    let output = run_with_stdin(command, "password1\n");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("--password-stdin"));
}

#[test]
fn migrate_applies_the_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = api_actix(&dir, &[("DATABASE_URL", "db/x.db")])
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(dir.path().join("db/x.db").exists());
}

#[test]
fn a_bad_configuration_stops_the_start_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("APP__PASSWORD__BCRYPT_COST", "3")],
            "APP__PASSWORD__BCRYPT_COST",
        ),
        (&[("APP__JWT__ALGORITHM", "none")], "APP__JWT__ALGORITHM"),
        (&[("DATABASE_URL", "mysql://db/auth")], "DATABASE_URL"),
        (&[("APP__SERVER__PORT", "http")], "APP__SERVER__PORT"),
        (
            &[("APP_ENV", "production"), ("JWT_SECRET_KEY", "")],
            "JWT_SECRET_KEY",
        ),
        (
            &[("APP_ENV", "production"), ("JWT_SECRET_KEY", "too-short")],
            "JWT_SECRET_KEY",
        ),
    ];
    // The development secret generated beside the database may not serve production.
    let dev_secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978";
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/jwt-secret"), dev_secret).unwrap();
    let reused: &[(&str, &str)] = &[
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", dev_secret),
        ("APP__MAIL__SMTP_URL", "smtp://127.0.0.1:2525?tls=none"),
        ("APP__SERVER__PUBLIC_URL", "https://auth.example.com"),
    ];
    let cases = [cases, &[(reused, "JWT_SECRET_KEY")]].concat();
    for (vars, key) in &cases {
        let output = api_actix(&dir, vars).arg("serve").output().unwrap();
        assert!(!output.status.success(), "{vars:?} must not start");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(key), "{key} in {stderr}");
        assert!(!stderr.contains("too-short"), "the secret is not echoed");
        assert!(!stderr.contains(dev_secret), "the secret is not echoed");
    }
}

#[test]
fn the_healthcheck_follows_the_server_which_is_alone_on_its_sqlite_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut child = api_actix(&dir, &[("APP__SERVER__PORT", &port)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let healthcheck = || {
        api_actix(&dir, &[("APP__SERVER__PORT", &port)])
            .arg("healthcheck")
            .output()
            .unwrap()
            .status
            .success()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthcheck() {
        assert!(
            Instant::now() < deadline,
            "the server did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second server on the same SQLite file refuses to start (the first caches what it
    // reads); the command-line tools still work beside the running server.
    let other_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let second = api_actix(&dir, &[("APP__SERVER__PORT", &other_port)])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        text(&second.stderr).contains("another auth-api server is using the SQLite database"),
        "{}",
        text(&second.stderr)
    );
    let created = create_admin(&dir, "boss", "password1\n");
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(healthcheck(), "the first server is unharmed");
    // The probe needs only the address: not the production secret, nor a valid rest.
    let bare_probe = Command::new(env!("CARGO_BIN_EXE_auth-api"))
        .current_dir(dir.path())
        .env_clear()
        .env("APP_ENV", "production")
        .env("APP__SERVER__PORT", &port)
        .env("APP__JWT__ALGORITHM", "none")
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(bare_probe.status.success(), "{}", text(&bare_probe.stderr));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(!healthcheck(), "a stopped server is not healthy");
}

/// Ctrl-C, like SIGTERM, lets a request in flight finish before the server exits.
#[test]
fn ctrl_c_finishes_a_login_in_flight() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_text = port.to_string();
    // A slow hash, so that the login is still being judged when the signal comes.
    let mut child = api_actix(
        &dir,
        &[
            ("APP__SERVER__PORT", &port_text),
            ("APP__PASSWORD__BCRYPT_COST", "14"),
            ("APP__RATE_LIMIT__ENABLED", "false"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let login = std::thread::spawn(move || {
        let body = r#"{"login":"nobody_here","password":"password1"}"#;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    });
    // Let the request reach the hasher (a cost-14 hash takes about a second here).
    std::thread::sleep(Duration::from_millis(300));
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let answer = login.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the login in flight was answered: {answer:?}"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn keys_are_managed_from_the_command_line_and_another_secret_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = |secret: &str, args: &[&str]| {
        let mut command = api_actix(&dir, &[("JWT_SECRET_KEY", secret)]);
        command.arg("keys").args(args);
        command.output().unwrap()
    };
    let rotated = keys(SECRET, &["rotate"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(text(&rotated.stdout).ends_with(" now signs\n"));
    let listed = text(&keys(SECRET, &["list"]).stdout);
    let current = listed
        .lines()
        .find(|line| line.contains(" current "))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(listed.contains(" next "), "{listed}");

    let refused = keys(SECRET, &["retire", &current]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("current key"),
        "{}",
        text(&refused.stderr)
    );

    // A process with another secret refuses, in one line, before it writes anything.
    let other = "another-secret-that-is-at-least-32-bytes!";
    let wrong = keys(other, &["rotate"]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("cannot be decrypted"),
        "{}",
        text(&wrong.stderr)
    );
    let serve = api_actix(
        &dir,
        &[("JWT_SECRET_KEY", other), ("APP__SERVER__PORT", "0")],
    )
    .arg("serve")
    .output()
    .unwrap();
    assert!(!serve.status.success());
    let said = text(&serve.stderr);
    assert!(
        said.contains("cannot load the signing keys") && said.contains("JWT_SECRET_KEY"),
        "{said}"
    );
    assert_eq!(
        text(&keys(SECRET, &["list"]).stdout),
        listed,
        "nothing written"
    );
}
