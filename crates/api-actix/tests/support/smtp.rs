//! A real SMTP server (aiosmtpd, `smtp_sink.py` beside this file) and what it received.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One message as the server received it, its parts decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Delivered {
    /// The first link in the text part.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|word| word.starts_with("http://") || word.starts_with("https://"))
            .unwrap_or_else(|| panic!("a link in {:?}", self.text))
            .to_owned()
    }

    /// The `token` of the first link.
    pub fn token(&self) -> String {
        let link = self.link();
        link.split_once("token=")
            .map(|(_, token)| token.to_owned())
            .unwrap_or_else(|| panic!("a token in {link}"))
    }
}

pub struct SmtpSink {
    pub port: u16,
    child: Child,
    folder: tempfile::TempDir,
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The SMTP URL of a relay on `port` that speaks plain SMTP.
pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?tls=none")
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_on(free_port(), 0)
    }

    /// On `port`, answering the first `fail_first` messages with "try again later".
    pub fn start_on(port: u16, fail_first: u32) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--folder")
            .arg(folder.path())
            .arg("--fail-first")
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink (pip install aiosmtpd)");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "the SMTP sink starts (pip install aiosmtpd)"
        );
        Self {
            port,
            child,
            folder,
        }
    }

    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message received so far, in the order received.
    pub fn messages(&self) -> Vec<Delivered> {
        let mut names: Vec<_> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }

    /// The messages to `to`, once at least `count` of them arrived (within ten seconds).
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Delivered> {
        let started = Instant::now();
        loop {
            let received: Vec<_> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|r| r == to))
                .collect();
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{count} message(s) to {to} within 10 s; got {received:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The newest message to `to` with this subject, once `count` such have arrived.
    pub async fn nth(&self, to: &str, subject: &str, count: usize) -> Delivered {
        let started = Instant::now();
        loop {
            let matching: Vec<_> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|r| r == to) && m.subject == subject)
                .collect();
            if matching.len() >= count {
                return matching[count - 1].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{count} {subject:?} message(s) to {to} within 10 s; got {matching:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
