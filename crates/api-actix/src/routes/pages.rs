//! The two pages the links in the messages open: small server-rendered forms with no script and
//! no asset of their own beyond one inline style the CSP names by its hash. Opening a page
//! (GET or HEAD, a mail scanner's prefetch too) only shows the form; only submitting it (POST)
//! uses the token.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::from_fn;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use domain::{DomainError, LimitedAction};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde::Deserialize;
use sha2::Digest;

use super::Router;
use crate::extract::{BODY_LIMIT, client_info};
use crate::rate_limit::enforce;
use crate::state::AppState;

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;\
background:#f6f7f9;color:#1b1f24}main{max-width:26rem;margin:3rem auto;padding:2rem;\
background:#fff;border:1px solid #d0d7de;border-radius:8px}h1{font-size:1.4rem;margin-top:0}\
label{display:block;font-weight:600;margin-top:1rem}input{box-sizing:border-box;width:100%;\
padding:.5rem;font-size:1rem;border:1px solid #8c959f;border-radius:4px}button{margin-top:1.5rem;\
padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;background:#0969da;color:#fff}\
.error{color:#a40e26}.done{color:#116329}";

/// The pages' Content-Security-Policy: their one inline style, forms to this origin, nothing
/// else.
pub static PAGE_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
});

pub const PAGES: [&str; 2] = ["/reset-password", "/verify-email"];

pub fn routes(router: &mut Router<'_>) {
    router.add_page("/reset-password", &["GET", "HEAD", "POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(reset_form))
            .route(web::post().to(reset_submit).wrap(from_fn(|req, next| {
                enforce(LimitedAction::PasswordReset, req, next)
            })))
    });
    router.add_page("/verify-email", &["GET", "HEAD", "POST"], |r| {
        r.app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::get().to(verify_form))
            .route(web::post().to(verify_submit).wrap(from_fn(|req, next| {
                enforce(LimitedAction::EmailVerify, req, next)
            })))
    });
}

/// The link's query; other parameters (a scanner's, a tracker's) are ignored.
#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    new_password: String,
    confirm_password: String,
}

#[derive(Deserialize)]
struct VerifyForm {
    token: String,
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>",
        title = text(title),
    );
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

fn message(status: StatusCode, title: &str, class: &str, words: &str) -> HttpResponse {
    let role = if class == "error" { "alert" } else { "status" };
    page(
        status,
        title,
        &format!("<p class=\"{class}\" role=\"{role}\">{}</p>", text(words)),
    )
}

/// A success, and the way on: the configured sign-in page, if there is one.
fn done(title: &str, words: &str, sign_in: Option<&str>) -> HttpResponse {
    let next = sign_in.map_or(String::new(), |link| {
        format!("<p><a href=\"{}\">Continue to sign in</a></p>", attr(link))
    });
    page(
        StatusCode::OK,
        title,
        &format!(
            "<p class=\"done\" role=\"status\">{}</p>{next}",
            text(words)
        ),
    )
}

fn incomplete_link() -> HttpResponse {
    message(
        StatusCode::BAD_REQUEST,
        "This link is incomplete",
        "error",
        "Open the whole link from the message, or copy all of it into the address bar.",
    )
}

fn reset_page(status: StatusCode, token: &str, problem: Option<&str>) -> HttpResponse {
    let problem = problem.map_or(String::new(), |p| {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"problem\">{}</p>",
            text(p)
        )
    });
    page(
        status,
        "Choose a new password",
        &format!(
            "{problem}<form method=\"post\" action=\"/reset-password\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label for=\"new_password\">New password</label>\
             <input id=\"new_password\" name=\"new_password\" type=\"password\" \
             autocomplete=\"new-password\" minlength=\"8\" maxlength=\"72\" required \
             aria-describedby=\"rules\">\
             <p id=\"rules\">8 to 72 bytes, with at least one letter and one digit.</p>\
             <label for=\"confirm_password\">The same password again</label>\
             <input id=\"confirm_password\" name=\"confirm_password\" type=\"password\" \
             autocomplete=\"new-password\" minlength=\"8\" maxlength=\"72\" required>\
             <button type=\"submit\">Set the new password</button></form>",
            token = attr(token),
        ),
    )
}

async fn reset_form(query: web::Query<LinkQuery>) -> HttpResponse {
    match &query.token {
        Some(token) if !token.is_empty() => reset_page(StatusCode::OK, token, None),
        _ => incomplete_link(),
    }
}

/// A form body, or the page's answer to anything else.
fn form<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Option<T> {
    let is_form = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded");
    is_form
        .then(|| serde_urlencoded::from_bytes(body).ok())
        .flatten()
}

async fn reset_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(submitted) = form::<ResetForm>(&req, &body) else {
        return incomplete_link();
    };
    if submitted.new_password != submitted.confirm_password {
        return reset_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &submitted.token,
            Some("The two passwords differ: type the same one twice."),
        );
    }
    match state
        .recovery
        .reset_password(
            &submitted.token,
            &submitted.new_password,
            &client_info(&req),
        )
        .await
    {
        Ok(()) => done(
            "Your password is changed",
            "Every device that was logged in has been logged out. Sign in with your new password.",
            state.sign_in_link.as_deref(),
        ),
        Err(DomainError::Validation(errors)) => {
            let words: Vec<_> = errors
                .iter()
                .map(|e| format!("The password {}.", e.message))
                .collect();
            reset_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &submitted.token,
                Some(&words.join(" ")),
            )
        }
        Err(DomainError::InvalidResetToken) => message(
            StatusCode::BAD_REQUEST,
            "This link does not work any more",
            "error",
            "It was used already, it expired, or a newer link was sent. Ask for a new one.",
        ),
        Err(err) => trouble(err),
    }
}

async fn verify_form(query: web::Query<LinkQuery>) -> HttpResponse {
    match &query.token {
        Some(token) if !token.is_empty() => page(
            StatusCode::OK,
            "Confirm your email address",
            &format!(
                "<p>Press the button to confirm that this address is yours.</p>\
                 <form method=\"post\" action=\"/verify-email\">\
                 <input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <button type=\"submit\">Confirm my address</button></form>",
                attr(token)
            ),
        ),
        _ => incomplete_link(),
    }
}

async fn verify_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(submitted) = form::<VerifyForm>(&req, &body) else {
        return incomplete_link();
    };
    match state
        .recovery
        .verify_email(&submitted.token, &client_info(&req))
        .await
    {
        Ok(user) => done(
            "Your address is confirmed",
            &format!("Thank you: {} is confirmed.", user.email),
            state.sign_in_link.as_deref(),
        ),
        Err(DomainError::InvalidVerificationToken) => message(
            StatusCode::BAD_REQUEST,
            "This link does not work any more",
            "error",
            "It was used already, it expired, a newer link was sent, or the account's address \
             changed since. Log in and ask for a new one.",
        ),
        Err(err) => trouble(err),
    }
}

/// Everything else, said plainly and without detail (it is logged with the request id).
fn trouble(err: DomainError) -> HttpResponse {
    let err = crate::error::ApiError::from(err);
    let status = actix_web::ResponseError::status_code(&err);
    if status.is_server_error() {
        tracing::error!(error = %err, "a page request failed");
    }
    let words = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many attempts from here: wait a minute, then try again."
    } else {
        "Something went wrong on our side. Try again in a moment."
    };
    message(status, "That did not work", "error", words)
}
