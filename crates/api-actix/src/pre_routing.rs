//! Errors actix-http answers itself, before any route or middleware sees the request: a header
//! section too large (431), a request it cannot parse (400), a request that never finished
//! arriving (408). It writes those as a bare status line with no body and offers no hook, so the
//! connection's writes are watched instead: such an answer (the last thing written on its
//! connection, which is closed after it) is replaced with the contract's problem+json, with a
//! request id and the security headers, before it reaches the client.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

use crate::headers::API_POLICY;

/// A connection whose pre-routing error answers are rewritten.
pub struct ContractIo<T> {
    inner: T,
    /// Bytes to write before anything else: a rewritten answer (and what preceded it in the
    /// same write), already reported as written to the server.
    pending: Vec<u8>,
    written: usize,
}

impl<T> ContractIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> ContractIo<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ContractIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ContractIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(at) = bare_error_at(buf) {
            let answer = problem(bare_status(&buf[at..]));
            self.pending = [&buf[..at], answer.as_bytes()].concat();
            // Reported as written; the rest goes out on the flush that follows.
            let _ = self.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The statuses actix-http answers on its own.
const BARE: [(u16, &str, &str, &str); 3] = [
    (
        400,
        "Bad Request",
        "malformed_request",
        "The request could not be read as HTTP.",
    ),
    (
        408,
        "Request Timeout",
        "request_timeout",
        "The request did not arrive in time.",
    ),
    (
        431,
        "Request Header Fields Too Large",
        "headers_too_large",
        "The request's header section is too large.",
    ),
];

/// Where a write ends with one of actix-http's own bodiless error answers: a status line of
/// `BARE`, headers without a request id (every routed answer has one), an empty body, nothing
/// after it.
fn bare_error_at(buf: &[u8]) -> Option<usize> {
    // Such an answer ends its write with an empty line: any other write is passed on at once.
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = buf.windows(7).rposition(|w| w == b"HTTP/1.")?;
    let tail = std::str::from_utf8(&buf[at..]).ok()?;
    let head = tail.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.get(9..12)?.parse().ok()?;
    let mut empty = false;
    for line in lines {
        let line = line.to_ascii_lowercase();
        if line.starts_with("x-request-id:") {
            return None;
        }
        if let Some(length) = line.strip_prefix("content-length:") {
            empty = length.trim() == "0";
        }
    }
    (empty && BARE.iter().any(|(code, ..)| *code == status)).then_some(at)
}

fn bare_status(tail: &[u8]) -> u16 {
    std::str::from_utf8(tail)
        .ok()
        .and_then(|t| t.get(9..12))
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

/// The contract's answer for `status`, as raw HTTP/1.1.
fn problem(status: u16) -> String {
    let (_, title, code, detail) = BARE
        .iter()
        .find(|(s, ..)| *s == status)
        .copied()
        .unwrap_or(BARE[0]);
    let request_id = Uuid::new_v4().to_string();
    tracing::info!(
        request_id = %request_id,
        status,
        code,
        "request refused before routing"
    );
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    })
    .to_string();
    format!(
        "HTTP/1.1 {status} {title}\r\n\
         content-type: application/problem+json\r\n\
         content-length: {length}\r\n\
         connection: close\r\n\
         x-request-id: {request_id}\r\n\
         x-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\n\
         referrer-policy: no-referrer\r\n\
         content-security-policy: {API_POLICY}\r\n\
         cache-control: no-store\r\n\
         \r\n{body}",
        length = body.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actix_https_own_answers_are_found_at_the_end_of_a_write() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Thu, 03 Dec 2026 17:00:00 GMT\r\n\r\n";
        assert_eq!(bare_error_at(bare), Some(0));
        let after_a_response = [
            b"HTTP/1.1 200 OK\r\nx-request-id: a\r\ncontent-length: 2\r\n\r\n{}".as_slice(),
            bare,
        ]
        .concat();
        assert_eq!(
            bare_error_at(&after_a_response),
            Some(after_a_response.len() - bare.len())
        );
    }

    #[test]
    fn routed_answers_and_bodies_are_left_alone() {
        for write in [
            b"HTTP/1.1 400 Bad Request\r\nx-request-id: a\r\ncontent-length: 0\r\n\r\n".as_slice(),
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\nHTTP/",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"{\"detail\": \"HTTP/1.1 400 \"}",
        ] {
            assert_eq!(
                bare_error_at(write),
                None,
                "{}",
                String::from_utf8_lossy(write)
            );
        }
    }

    #[test]
    fn the_answer_is_problem_json_with_an_id_and_the_security_headers() {
        let answer = problem(431);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        for header in [
            "content-type: application/problem+json",
            "x-request-id: ",
            "x-content-type-options: nosniff",
            "x-frame-options: DENY",
            "content-security-policy: default-src 'none'",
        ] {
            assert!(head.contains(header), "{header}");
        }
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"], 431);
        assert_eq!(body["code"], "headers_too_large");
        assert_eq!(head.len() + 4 + body.to_string().len(), answer.len());
    }
}
