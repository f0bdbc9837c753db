//! The hosted pages of the authorization code flow: sign-in (password, then a second factor),
//! consent, a forgotten password, and the authorization endpoint that leads through them.
//! Server-rendered with askama (templates checked when the crate compiles, beside this module),
//! no script, one inline style named by its hash in the Content-Security-Policy, a CSRF token
//! on every form. Every rule comes from the domain service the JSON API uses.

mod authorize;
mod csrf;
mod signin;

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use sha2::Digest;

use crate::extract::BODY_LIMIT;
use crate::routes::Router;

/// The one inline style every page has (the same as the recovery pages').
pub const STYLE: &str = crate::routes::pages::STYLE;

static STYLE_HASH: LazyLock<String> =
    LazyLock::new(|| base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE)));

/// The paths served here.
pub const PATHS: [&str; 6] = [
    "/oauth/authorize",
    "/signin",
    "/signin/mfa",
    "/consent",
    "/forgot-password",
    "/signin/done",
];

pub fn routes(router: &mut Router<'_>) {
    router.add_page("/oauth/authorize", &["GET", "HEAD", "POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(authorize::by_query))
            .route(web::post().to(authorize::by_form))
    });
    router.add_page("/consent", &["POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::post().to(authorize::decided))
    });
    router.add_page("/signin", &["GET", "HEAD", "POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(signin::page))
            .route(web::post().to(signin::submit))
    });
    router.add_page("/signin/mfa", &["POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::post().to(signin::second_step))
    });
    router.add_page("/signin/done", &["GET", "HEAD"], |r| {
        r.route(web::get().to(signin::done))
    });
    router.add_page("/forgot-password", &["GET", "HEAD", "POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(signin::forgot_form))
            .route(web::post().to(signin::forgot_submit))
    });
}

/// The policy of a page: its style, and forms that go to this service, or on to
/// `redirect_origin` (a form's answer that redirects to the client is held to `form-action`
/// too).
fn policy(redirect_origin: Option<&str>) -> String {
    let form_action = match redirect_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; style-src 'sha256-{}'; form-action {form_action}; base-uri 'none'; \
         frame-ancestors 'none'",
        *STYLE_HASH
    )
}

/// A rendered page, never cached, under its own policy.
fn html(status: StatusCode, page: &impl Template, redirect_origin: Option<&str>) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, policy(redirect_origin)))
            .body(body),
        Err(err) => {
            tracing::error!(error = %err, "a page did not render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    class: &'a str,
    words: &'a str,
}

/// A page that only says something.
fn message(status: StatusCode, title: &str, words: &str) -> HttpResponse {
    let class = if status.is_success() { "done" } else { "error" };
    html(
        status,
        &Message {
            title,
            class,
            words,
        },
        None,
    )
}

/// Anything the page has no words of its own for, said plainly (logged with the request id).
fn trouble(err: domain::DomainError) -> HttpResponse {
    let err = crate::error::ApiError::from(err);
    let status = actix_web::ResponseError::status_code(&err);
    if status.is_server_error() {
        tracing::error!(error = %err, "a page request failed");
    }
    let words = match status {
        StatusCode::TOO_MANY_REQUESTS => {
            "Too many attempts from here: wait a minute, then try again."
        }
        StatusCode::SERVICE_UNAVAILABLE => "The service is busy: try again in a moment.",
        _ => "Something went wrong on our side. Try again in a moment.",
    };
    message(status, "That did not work", words)
}

/// A form body (the fields `T` names, each once), or `None` for anything else.
fn form<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Option<T> {
    let is_form = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded");
    if !is_form || repeats_a_name(body) {
        return None;
    }
    serde_urlencoded::from_bytes(body).ok()
}

/// Whether a form or query names a parameter twice (refused rather than one picked).
fn repeats_a_name(encoded: &[u8]) -> bool {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(encoded) else {
        return true;
    };
    let mut names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

/// 303: where a form's answer sends the browser on.
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
