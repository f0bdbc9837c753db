//! The security headers of every response, and `Cache-Control: no-store` on `/api/auth/*`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

use crate::routes::pages::{PAGE_POLICY, PAGES};

/// JSON needs no sources at all.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
/// The Swagger UI page: its own scripts, styles and images, and the description it fetches.
pub const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let policy = if path == "/docs" || path.starts_with("/docs/") {
        HeaderValue::from_static(DOCS_POLICY)
    } else if PAGES.contains(&path.as_str()) {
        HeaderValue::from_str(&PAGE_POLICY).expect("the policy is ASCII")
    } else {
        HeaderValue::from_static(API_POLICY)
    };
    let sign_in_page = crate::pages::PATHS.contains(&path.as_str());
    // The sign-in pages' forms need their `Origin` named to this service (under `no-referrer`
    // a browser sends `null`); nothing goes to any other site.
    let referrer = if sign_in_page {
        "same-origin"
    } else {
        "no-referrer"
    };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, referrer),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // A page of the sign-in flow sets its own (its forms may go on to the client).
    if !(sign_in_page && headers.contains_key(header::CONTENT_SECURITY_POLICY)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    if path.starts_with("/api/auth/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
