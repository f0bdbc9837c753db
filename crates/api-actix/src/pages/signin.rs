//! Sign-in (the password, then a second factor when the account has one) and the forgotten
//! password's form. Wrong credentials, a lockout, a rate limit, a disabled account and an
//! unverified address get the facts `/api/auth/login` would give, in words, and never tell a
//! known login from an unknown one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use domain::{BrowserSession, BrowserSignIn, DomainError, LimitedAction, SecondFactor};
use serde::Deserialize;

use super::csrf::{self, Csrf};
use super::{authorize, form, html, message, repeats_a_name, see_other, trouble};
use crate::extract::client_info;
use crate::rate_limit::check;
use crate::routes::recovery::ask_for_reset;
use crate::state::AppState;

/// Where a sign-in goes on to: an authorization request of this service's that checks out, and
/// nothing else (no other site, no other path: never an open redirector); and the origin of its
/// client, where the answers to this page's forms end up (browsers hold those redirects to
/// `form-action` too).
#[derive(Default)]
struct Return {
    path: String,
    origin: Option<String>,
}

impl Return {
    async fn checked(state: &AppState, return_to: &str) -> Return {
        match authorize::checked_return(state, return_to).await {
            Some(checked) => Return {
                path: return_to.to_owned(),
                origin: Some(csrf::origin_of(&checked.redirect_uri)),
            },
            None => Return::default(),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    title: &'a str,
    problem: Option<&'a str>,
    csrf: &'a str,
    return_to: &'a str,
    login: &'a str,
}

#[derive(Template)]
#[template(path = "second_step.html")]
struct SecondStepPage<'a> {
    title: &'a str,
    problem: Option<&'a str>,
    csrf: &'a str,
    return_to: &'a str,
    mfa_token: &'a str,
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    title: &'a str,
    problem: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    return_to: String,
    login: String,
    password: String,
}

#[derive(Deserialize)]
struct SecondStepForm {
    csrf: String,
    return_to: String,
    mfa_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

#[derive(Deserialize)]
struct ForgotForm {
    csrf: String,
    email: String,
}

/// Renders `page` with the CSRF cookie set if it was new.
fn with_csrf(mut response: HttpResponse, csrf: &Csrf) -> HttpResponse {
    if let Some(cookie) = &csrf.new_cookie
        && let Err(err) = response.add_cookie(cookie)
    {
        tracing::error!(error = %err, "the CSRF cookie was not set");
    }
    response
}

fn sign_in_page(
    status: StatusCode,
    csrf: &Csrf,
    back: &Return,
    login: &str,
    problem: Option<&str>,
) -> HttpResponse {
    let page = SignInPage {
        title: "Sign in",
        problem,
        csrf: &csrf.token,
        return_to: &back.path,
        login,
    };
    with_csrf(html(status, &page, back.origin.as_deref()), csrf)
}

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let csrf = csrf::token(&state, &req);
    // Read by hand: a page answers a strange query with the page, not with problem+json.
    let query = (!repeats_a_name(req.query_string().as_bytes()))
        .then(|| serde_urlencoded::from_str::<SignInQuery>(req.query_string()).ok())
        .flatten()
        .unwrap_or_default();
    let back = match &query.return_to {
        Some(return_to) => Return::checked(&state, return_to).await,
        None => Return::default(),
    };
    let login = query
        .login_hint
        .as_deref()
        .filter(|hint| hint.len() <= 320)
        .unwrap_or_default();
    sign_in_page(StatusCode::OK, &csrf, &back, login, None)
}

fn forged() -> HttpResponse {
    message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Go back, reload the page and send it again.",
    )
}

/// The same facts the JSON API gives, in words; `None` for what the page has no words for.
fn in_words(err: &DomainError) -> Option<(StatusCode, String)> {
    Some(match err {
        DomainError::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            "The login or the password is wrong.".to_owned(),
        ),
        DomainError::AccountLocked {
            retry_after_seconds,
        } => (
            StatusCode::LOCKED,
            format!(
                "Too many failed attempts: this login is locked. Try again in {} minute(s).",
                retry_after_seconds.div_ceil(60).max(1)
            ),
        ),
        DomainError::AccountDisabled => (
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an administrator.".to_owned(),
        ),
        DomainError::EmailNotVerified => (
            StatusCode::FORBIDDEN,
            "Confirm your email address first: use the link we sent to it.".to_owned(),
        ),
        DomainError::InvalidMfaToken => (
            StatusCode::BAD_REQUEST,
            "This sign-in took too long or was finished already: start again.".to_owned(),
        ),
        DomainError::Validation(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code is wrong or was used already.".to_owned(),
        ),
        DomainError::RateLimited {
            retry_after_seconds,
            ..
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many attempts from here: try again in {} minute(s).",
                retry_after_seconds.div_ceil(60).max(1)
            ),
        ),
        _ => return None,
    })
}

/// How long to wait, as the JSON API says it: `Retry-After` on a lockout or a rate limit.
fn retry_after(err: &DomainError) -> Option<u64> {
    match err {
        DomainError::AccountLocked {
            retry_after_seconds,
        }
        | DomainError::RateLimited {
            retry_after_seconds,
            ..
        } => Some(*retry_after_seconds),
        _ => None,
    }
}

fn waiting(mut response: HttpResponse, err: &DomainError) -> HttpResponse {
    if let Some(seconds) = retry_after(err) {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(seconds),
        );
    }
    response
}

/// Signed in: the session's cookie, and on to the authorization (or to a page that says so).
fn signed_in(state: &AppState, signed: BrowserSession, back: &Return) -> HttpResponse {
    let lifetime = (signed.session.expires_at - signed.session.created_at).num_seconds();
    let to = if back.path.is_empty() {
        "/signin/done"
    } else {
        &back.path
    };
    let mut response = see_other(to);
    if let Err(err) = response.add_cookie(&csrf::session(state, signed.cookie, lifetime)) {
        tracing::error!(error = %err, "the session cookie was not set");
    }
    response
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let csrf = csrf::token(&state, &req);
    let Some(submitted) = form::<SignInForm>(&req, &body) else {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            &csrf,
            &Return::default(),
            "",
            Some("Fill in the form."),
        );
    };
    if !csrf::is_genuine(&state, &req, &submitted.csrf) {
        return forged();
    }
    let back = Return::checked(&state, &submitted.return_to).await;
    let again = |err: DomainError| match in_words(&err) {
        Some((status, words)) => waiting(
            sign_in_page(status, &csrf, &back, &submitted.login, Some(&words)),
            &err,
        ),
        None => trouble(err),
    };
    // The login's budget, as /api/auth/login counts it.
    if let Err(err) = check(LimitedAction::Login, &req).await {
        return again(err);
    }
    match state
        .auth
        .browser_sign_in(&submitted.login, &submitted.password, &client_info(&req))
        .await
    {
        Ok(BrowserSignIn::SignedIn(signed)) => signed_in(&state, *signed, &back),
        Ok(BrowserSignIn::SecondFactor { mfa_token }) => {
            second_step_page(StatusCode::OK, &csrf, &back, &mfa_token, None)
        }
        Err(err) => again(err),
    }
}

fn second_step_page(
    status: StatusCode,
    csrf: &Csrf,
    back: &Return,
    mfa_token: &str,
    problem: Option<&str>,
) -> HttpResponse {
    let page = SecondStepPage {
        title: "Confirm it is you",
        problem,
        csrf: &csrf.token,
        return_to: &back.path,
        mfa_token,
    };
    with_csrf(html(status, &page, back.origin.as_deref()), csrf)
}

pub async fn second_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let csrf = csrf::token(&state, &req);
    let Some(submitted) = form::<SecondStepForm>(&req, &body) else {
        return forged();
    };
    if !csrf::is_genuine(&state, &req, &submitted.csrf) {
        return forged();
    }
    let back = Return::checked(&state, &submitted.return_to).await;
    let factor = match (submitted.code.trim(), submitted.recovery_code.trim()) {
        (code, "") if !code.is_empty() => SecondFactor::Code(code),
        ("", recovery) if !recovery.is_empty() => SecondFactor::RecoveryCode(recovery),
        _ => {
            return second_step_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &csrf,
                &back,
                &submitted.mfa_token,
                Some("Type the code from your app, or one recovery code."),
            );
        }
    };
    // The second step's budget, as /api/auth/mfa/verify counts it.
    let outcome = match check(LimitedAction::Mfa, &req).await {
        Ok(_) => {
            state
                .auth
                .browser_second_step(&submitted.mfa_token, factor, &client_info(&req))
                .await
        }
        Err(err) => Err(err),
    };
    match outcome {
        Ok(signed) => signed_in(&state, signed, &back),
        // A token that is no longer good cannot be tried again: back to the start.
        Err(err @ DomainError::InvalidMfaToken) => {
            let words = in_words(&err).map(|(_, w)| w).unwrap_or_default();
            sign_in_page(StatusCode::BAD_REQUEST, &csrf, &back, "", Some(&words))
        }
        Err(err) => match in_words(&err) {
            Some((status, words)) => waiting(
                second_step_page(status, &csrf, &back, &submitted.mfa_token, Some(&words)),
                &err,
            ),
            None => trouble(err),
        },
    }
}

pub async fn done() -> HttpResponse {
    message(
        StatusCode::OK,
        "You are signed in",
        "You can close this page and go back to the app.",
    )
}

pub async fn forgot_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let csrf = csrf::token(&state, &req);
    let page = ForgotPage {
        title: "Forgot your password?",
        problem: None,
        csrf: &csrf.token,
    };
    with_csrf(html(StatusCode::OK, &page, None), &csrf)
}

pub async fn forgot_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let csrf = csrf::token(&state, &req);
    let Some(submitted) = form::<ForgotForm>(&req, &body) else {
        return forged();
    };
    if !csrf::is_genuine(&state, &req, &submitted.csrf) {
        return forged();
    }
    let outcome = match check(LimitedAction::ForgotPassword, &req).await {
        Ok(_) => ask_for_reset(&state, &req, &submitted.email).await,
        Err(err) => Err(err),
    };
    match outcome {
        // The same words whether or not an account has the address.
        Ok(()) => message(
            StatusCode::OK,
            "Check your mail",
            "If an account has this address, a link to choose a new password is on its way.",
        ),
        Err(DomainError::Validation(_)) => {
            let page = ForgotPage {
                title: "Forgot your password?",
                problem: Some("That is not an email address."),
                csrf: &csrf.token,
            };
            with_csrf(html(StatusCode::UNPROCESSABLE_ENTITY, &page, None), &csrf)
        }
        Err(err) => trouble(err),
    }
}
