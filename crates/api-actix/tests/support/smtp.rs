//! A real SMTP server on a real port (RFC 5321's commands, as a relay's first hop answers them)
//! and what it received, its MIME parts decoded. Written here so the tests need nothing but cargo.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

/// One message as the server received it, its parts decoded.
#[derive(Debug, Clone)]
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
    received: Arc<Mutex<Vec<Delivered>>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
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
    /// On a port of its own.
    pub fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").unwrap(), 0)
    }

    /// On `port` (a relay that comes back where the server expects it), answering the first
    /// `fail_first` messages with "try again later", as a busy relay does.
    pub fn start_on(port: u16, fail_first: u32) -> Self {
        Self::serve(
            TcpListener::bind(("127.0.0.1", port)).expect("the SMTP sink's port"),
            fail_first,
        )
    }

    fn serve(listener: TcpListener, fail_first: u32) -> Self {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let failures_left = Arc::new(AtomicU32::new(fail_first));
        let acceptor = {
            let (received, stopping) = (received.clone(), stopping.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (received, failures_left) = (received.clone(), failures_left.clone());
                    std::thread::spawn(move || {
                        // A client that hangs up mid-session is its own business.
                        let _ = Session::new(stream, received, failures_left).run();
                    });
                }
            })
        };
        Self {
            port,
            received,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message received so far, in the order received.
    pub fn messages(&self) -> Vec<Delivered> {
        self.received.lock().unwrap().clone()
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
    /// Frees the port: a test that restarts a relay on the same port binds it again.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked accept, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One client's conversation.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    received: Arc<Mutex<Vec<Delivered>>>,
    failures_left: Arc<AtomicU32>,
}

impl Session {
    fn new(
        stream: TcpStream,
        received: Arc<Mutex<Vec<Delivered>>>,
        failures_left: Arc<AtomicU32>,
    ) -> Self {
        let writer = stream.try_clone().unwrap();
        Self {
            reader: BufReader::new(stream),
            writer,
            received,
            failures_left,
        }
    }

    fn reply(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())
    }

    fn run(mut self) -> std::io::Result<()> {
        self.reply("220 sink.test ESMTP")?;
        let mut from = String::new();
        let mut to = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
            match verb.as_str() {
                "EHLO" => {
                    self.reply("250-sink.test")?;
                    self.reply("250-8BITMIME")?;
                    self.reply("250 SMTPUTF8")?;
                }
                "HELO" => self.reply("250 sink.test")?,
                "MAIL" => {
                    from = address_in(line);
                    to.clear();
                    self.reply("250 OK")?;
                }
                "RCPT" => {
                    to.push(address_in(line));
                    self.reply("250 OK")?;
                }
                "DATA" if to.is_empty() => self.reply("503 need RCPT first")?,
                "DATA" => {
                    self.reply("354 end with <CRLF>.<CRLF>")?;
                    let content = self.read_data()?;
                    if self
                        .failures_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        self.reply("451 4.3.0 Try again later")?;
                    } else {
                        let message = parse(&from, &to, &content);
                        self.received.lock().unwrap().push(message);
                        self.reply("250 OK")?;
                    }
                    to.clear();
                }
                "RSET" => {
                    to.clear();
                    self.reply("250 OK")?;
                }
                "NOOP" => self.reply("250 OK")?,
                "QUIT" => {
                    self.reply("221 bye")?;
                    let _ = self.writer.shutdown(Shutdown::Both);
                    return Ok(());
                }
                _ => self.reply("502 not implemented")?,
            }
        }
    }

    /// The message up to the lone `.`, with dot-stuffing undone.
    fn read_data(&mut self) -> std::io::Result<String> {
        let mut content = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let bare = line.trim_end_matches(['\r', '\n']);
            if bare == "." {
                return Ok(content);
            }
            content.push_str(bare.strip_prefix('.').unwrap_or(bare));
            content.push('\n');
        }
    }
}

/// `MAIL FROM:<a@b> SIZE=…` → `a@b`.
fn address_in(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

/// The subject and the decoded text and HTML parts of a message as lettre builds them
/// (a single part, or multipart/alternative; 7bit, quoted-printable or base64).
fn parse(from: &str, to: &[String], content: &str) -> Delivered {
    let (headers, body) = split_headers(content);
    let mut message = Delivered {
        from: from.to_owned(),
        to: to.to_vec(),
        subject: header(&headers, "subject").unwrap_or_default(),
        text: String::new(),
        html: String::new(),
    };
    collect_parts(&headers, body, &mut message);
    message
}

fn collect_parts(headers: &[(String, String)], body: &str, message: &mut Delivered) {
    let content_type = header(headers, "content-type").unwrap_or_else(|| "text/plain".into());
    let lower = content_type.to_lowercase();
    if lower.starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary").expect("a multipart boundary");
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let (part_headers, part_body) = split_headers(part.trim_start_matches(['\r', '\n']));
            collect_parts(&part_headers, part_body, message);
        }
        return;
    }
    let encoding = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_lowercase();
    let decoded = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body");
            String::from_utf8(bytes).expect("UTF-8 body")
        }
        _ => body.to_owned(),
    };
    let decoded = decoded.trim_end_matches('\n').to_owned();
    if lower.starts_with("text/html") {
        message.html = decoded;
    } else if lower.starts_with("text/plain") {
        message.text = decoded;
    }
}

/// Header lines (unfolded) and the body after the blank line.
fn split_headers(content: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = content
        .split_once("\n\n")
        .unwrap_or((content.trim_end(), ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// `multipart/alternative; boundary="abc"` → `abc`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, v) = p.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn quoted_printable(body: &str) -> String {
    let mut bytes = Vec::with_capacity(body.len());
    for line in body.split('\n') {
        let (line, soft_break) = match line.strip_suffix('=') {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'='
                && let Some(hex) = line.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                bytes.push(byte);
                i += 3;
            } else {
                bytes.push(raw[i]);
                i += 1;
            }
        }
        if !soft_break {
            bytes.push(b'\n');
        }
    }
    String::from_utf8(bytes).expect("UTF-8 body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_decodes_soft_breaks_and_escapes() {
        assert_eq!(
            quoted_printable("https://x.test/reset?token=3Dab=\ncd caf=C3=A9"),
            "https://x.test/reset?token=abcd café\n"
        );
    }
}
