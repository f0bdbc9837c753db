//! A newcomer's first hour with the binary: the shipped `.env.example` works, a broken `.env` or
//! a secret that does not open the stored keys says where to look, mailed links follow the port
//! the server listens on, and development mail can be read from the command line.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The binary in `dir`, with nothing from this process's environment but PATH.
fn auth_api(dir: &tempfile::TempDir, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        // Development's hashing cost, without the wait.
        .env("APP__PASSWORD__BCRYPT_COST", "4");
    for (key, value) in vars {
        command.env(key, value);
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request over plain HTTP/1.0; the status and body.
fn http(port: u16, method: &str, path: &str, json: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` on `port`, its log in `dir/server.log`, once `/health` answers.
fn serve(dir: &tempfile::TempDir, port: u16, vars: &[(&str, &str)]) -> Server {
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let port_var = port.to_string();
    let mut vars = vars.to_vec();
    vars.push(("APP__SERVER__PORT", &port_var));
    let child = auth_api(dir, &vars)
        .arg("serve")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start: {}",
            std::fs::read_to_string(dir.path().join("server.log")).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[test]
fn the_shipped_env_example_works_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
    std::fs::copy(example, dir.path().join(".env")).unwrap();
    let migrated = auth_api(&dir, &[]).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let keys = auth_api(&dir, &[]).args(["keys", "list"]).output().unwrap();
    assert!(keys.status.success(), "{}", text(&keys.stderr));
}

#[test]
fn a_broken_env_file_is_named_by_its_path_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# the mail sender\nSMTP_URL=\nMAIL_FROM=auth-api <no-reply@example.com>\n",
    )
    .unwrap();
    for args in [&["migrate"][..], &["mail", "last"], &["serve"]] {
        let output = auth_api(&dir, &[]).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let said = text(&output.stderr);
        assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
        let env_file = std::fs::canonicalize(dir.path().join(".env")).unwrap();
        assert!(
            said.contains(&format!("{} line 3", env_file.display())) && said.contains("MAIL_FROM"),
            "{said}"
        );
    }
}

#[test]
fn keys_that_do_not_decrypt_name_where_the_secret_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let first = "first-secret-of-this-database-3f9a1c7e5b";
    let made = auth_api(&dir, &[("JWT_SECRET_KEY", first)])
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    // The compose walk-through's .env, then `cargo run` in the same folder.
    std::fs::write(
        dir.path().join(".env"),
        "POSTGRES_PASSWORD=x\nJWT_SECRET_KEY=a-compose-secret-nobody-made-these-keys-with\n",
    )
    .unwrap();
    let env_file = std::fs::canonicalize(dir.path().join(".env")).unwrap();
    let port = free_port().to_string();
    let refused = auth_api(&dir, &[("APP__SERVER__PORT", &port)])
        .arg("serve")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("cannot be decrypted")
            && said.contains(&format!(
                "JWT_SECRET_KEY from {} line 2",
                env_file.display()
            )),
        "{said}"
    );
    assert!(
        !said.contains("a-compose-secret"),
        "never the secret: {said}"
    );
    // Set in the environment, it wins over the file, and the message says so.
    let refused = auth_api(
        &dir,
        &[
            ("APP__SERVER__PORT", &port),
            ("JWT_SECRET_KEY", "yet-another-secret-of-32-bytes-or-more"),
        ],
    )
    .arg("serve")
    .output()
    .unwrap();
    let said = text(&refused.stderr);
    assert!(
        said.contains("JWT_SECRET_KEY from the environment"),
        "{said}"
    );
    // The right one still opens them.
    let listed = auth_api(&dir, &[("JWT_SECRET_KEY", first)])
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
}

#[test]
fn development_mail_is_named_in_the_log_and_read_back_with_its_links_on_the_servers_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = serve(&dir, port, &[]);
    let mail_last = |args: &[&str]| -> Output {
        auth_api(&dir, &[])
            .args(["mail", "last"])
            .args(args)
            .output()
            .unwrap()
    };
    let none = mail_last(&["--to", "alice@example.com"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("no message to alice@example.com"),
        "{}",
        text(&none.stderr)
    );

    let (status, body) = http(
        port,
        "POST",
        "/api/auth/register",
        r#"{"username":"alice_1","email":"alice@example.com","password":"correct-horse-1"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let links = mail_last(&["--to", "alice@example.com", "--links", "--wait", "30"]);
    assert!(links.status.success(), "{}", text(&links.stderr));
    let link = text(&links.stdout);
    // Only APP__SERVER__PORT was set: the link names that port.
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/verify-email?token=")),
        "{link}"
    );
    assert_eq!(link.lines().count(), 1, "{link}");
    let (discovered, doc) = http(port, "GET", "/.well-known/openid-configuration", "");
    assert_eq!(discovered, 200);
    assert!(
        doc.contains(&format!("\"issuer\":\"http://127.0.0.1:{port}\"")),
        "{doc}"
    );

    let whole = text(&mail_last(&["--subject", "Confirm"]).stdout);
    assert!(
        whole.starts_with("To: alice@example.com\nSubject: Confirm your email address\n"),
        "{whole}"
    );
    assert!(whole.contains(link.trim()), "the link whole: {whole}");
    let log = without_colours(&std::fs::read_to_string(dir.path().join("server.log")).unwrap());
    let written = log
        .lines()
        .find(|line| line.contains("mail written"))
        .unwrap_or_else(|| panic!("the log names the file: {log}"));
    let eml = written
        .split_whitespace()
        .find_map(|word| word.strip_prefix("file="))
        .unwrap_or_else(|| panic!("a file= field: {written}"));
    assert!(eml.ends_with("-alice@example.com.eml"), "{written}");
    let txt = dir.path().join(eml.replace(".eml", ".txt"));
    assert_eq!(std::fs::read_to_string(txt).unwrap(), whole);
    assert!(!log.contains("token="), "no token in the log");
}

/// The log as a person reads it: terminal colour codes removed.
fn without_colours(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn production_serves_only_with_a_public_url_and_the_other_commands_do_without() {
    let dir = tempfile::tempdir().unwrap();
    let production = [
        ("APP_ENV", "production"),
        ("JWT_SECRET_KEY", "4b7e9d2a1c8f3e6b5a0d9c2f71e83a5d"),
        ("APP__MAIL__SMTP_URL", "smtp://127.0.0.1:9?tls=none"),
        ("APP__PASSWORD__BCRYPT_COST", "10"),
    ];
    let migrated = auth_api(&dir, &production).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let port = free_port().to_string();
    let mut serving = production.to_vec();
    serving.push(("APP__SERVER__PORT", &port));
    let refused = auth_api(&dir, &serving).arg("serve").output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    assert!(said.contains("APP__SERVER__PUBLIC_URL"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
}
