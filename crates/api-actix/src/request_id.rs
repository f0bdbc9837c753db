//! `X-Request-Id`: echoed when the client sent a sensible one, made up otherwise; carried in the
//! request's tracing span (so every log line has it) and in every problem+json body.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use uuid::Uuid;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// 1–64 characters of `[A-Za-z0-9._-]`: anything else could forge log lines.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let header_value = HeaderValue::from_str(&id).expect("checked to be a valid header value");
    let result = REQUEST_ID
        .scope(id, next.call(req))
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let mut response = result?;
    response.headers_mut().insert(HEADER, header_value);
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request finished"
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_echoed() {
        assert!(acceptable("abc-123_X.y"));
        assert!(acceptable(&"a".repeat(64)));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("has space"));
        assert!(!acceptable("new\nline"));
        assert!(!acceptable("ünï"));
    }
}
