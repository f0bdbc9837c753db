//! The authorization endpoint (RFC 6749 §4.1.1) and the consent page. Until the client and its
//! redirect URI are known good an error is a page (400), never a redirect; after, the person
//! goes back to the client with `error`, `error_description`, `state` and `iss` (RFC 9207).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use domain::{
    AuthorizationRequest, AuthorizationStep, BrowserSession, CheckedRequest, DomainError, Refusal,
    Scope,
};
use serde::Deserialize;
use url::form_urlencoded;

use super::csrf::{self, Csrf};
use super::{form, html, message, repeats_a_name, see_other, trouble};
use crate::extract::client_info;
use crate::state::AppState;

/// Where a sign-in or a consent goes on to: back here, with the request.
const AUTHORIZE: &str = "/oauth/authorize?";

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    title: &'a str,
    client: &'a str,
    scopes: Vec<&'static str>,
    username: &'a str,
    csrf: &'a str,
    return_to: &'a str,
}

#[derive(Deserialize)]
struct ConsentForm {
    csrf: String,
    return_to: String,
    decision: String,
}

pub async fn by_query(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let encoded = req.query_string().as_bytes().to_vec();
    authorize(&state, &req, &encoded).await
}

pub async fn by_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if form::<Vec<(String, String)>>(&req, &body).is_none() && !body.is_empty() {
        return unreadable();
    }
    authorize(&state, &req, &body).await
}

fn unreadable() -> HttpResponse {
    refused_page(
        "invalid_request",
        "the request cannot be read, or names a parameter twice",
    )
}

async fn authorize(state: &AppState, req: &HttpRequest, encoded: &[u8]) -> HttpResponse {
    let Some(request) = parse(encoded) else {
        return unreadable();
    };
    let checked = match state.auth.check_authorization(&request, false).await {
        Ok(checked) => checked,
        Err(err) => return refused(state, err),
    };
    let browser = match current(state, req).await {
        Ok(browser) => browser,
        Err(err) => return trouble(err),
    };
    let info = client_info(req);
    match state
        .auth
        .authorize(&checked, browser.as_ref(), &info)
        .await
    {
        Ok(AuthorizationStep::SignIn) => {
            let mut to_sign_in = after("/signin?");
            to_sign_in.append_pair("return_to", &return_to(&checked));
            if let Some(hint) = &checked.login_hint {
                to_sign_in.append_pair("login_hint", hint);
            }
            see_other(&to_sign_in.finish())
        }
        Ok(AuthorizationStep::Consent) => match &browser {
            Some(browser) => consent_page(state, req, &checked, browser, &return_to(&checked)),
            None => trouble(DomainError::Internal("consent asked of nobody".into())),
        },
        Ok(AuthorizationStep::Code(code)) => to_client(state, &checked, &code),
        Err(err) => refused(state, err),
    }
}

/// The request's parameters, each named once at most (`None` otherwise).
fn parse(encoded: &[u8]) -> Option<AuthorizationRequest> {
    if repeats_a_name(encoded) {
        return None;
    }
    let mut request = AuthorizationRequest::default();
    for (name, value) in form_urlencoded::parse(encoded) {
        let value = Some(value.into_owned());
        match name.as_ref() {
            "client_id" => request.client_id = value,
            "redirect_uri" => request.redirect_uri = value,
            "response_type" => request.response_type = value,
            "scope" => request.scope = value,
            "state" => request.state = value,
            "nonce" => request.nonce = value,
            "code_challenge" => request.code_challenge = value,
            "code_challenge_method" => request.code_challenge_method = value,
            "prompt" => request.prompt = value,
            "max_age" => request.max_age = value,
            "login_hint" => request.login_hint = value,
            // Anything else is ignored (RFC 6749 §3.1).
            _ => {}
        }
    }
    Some(request)
}

/// The request again, as it was checked, to come back to once signed in: without `login` in
/// `prompt`, nor `max_age`, which the sign-in just made satisfies (asking again would ask for
/// ever); `consent` stays.
fn return_to(checked: &CheckedRequest) -> String {
    let mut query = after(AUTHORIZE);
    let client_id = checked.client.id.to_string();
    let scope = checked.scopes.to_string();
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &checked.redirect_uri)
        .append_pair("code_challenge", &checked.code_challenge)
        .append_pair("code_challenge_method", "S256");
    for (name, value) in [
        ("scope", Some(scope.as_str()).filter(|s| !s.is_empty())),
        ("state", checked.state.as_deref()),
        ("nonce", checked.nonce.as_deref()),
        ("login_hint", checked.login_hint.as_deref()),
        ("prompt", checked.prompt.consent.then_some("consent")),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// The checked request a sign-in or consent form is to go back to, if it is one.
pub(super) async fn checked_return(state: &AppState, return_to: &str) -> Option<CheckedRequest> {
    let request = parse(return_to.strip_prefix(AUTHORIZE)?.as_bytes())?;
    state.auth.check_authorization(&request, false).await.ok()
}

/// A query string that follows `prefix` (a path and its `?`).
fn after(prefix: &str) -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::for_suffix(prefix.to_owned(), prefix.len())
}

/// The browser session the request's cookie names, if it is live.
async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<BrowserSession>, DomainError> {
    match csrf::session_cookie(state, req) {
        Some(cookie) => state.auth.browser_session(&cookie).await,
        None => Ok(None),
    }
}

/// `redirect_uri` with the given parameters added to its query.
fn redirect(redirect_uri: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    Some(url.into())
}

fn to_client(state: &AppState, checked: &CheckedRequest, code: &str) -> HttpResponse {
    let mut pairs = vec![("code", code)];
    if let Some(client_state) = &checked.state {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", &state.issuer));
    match redirect(&checked.redirect_uri, &pairs) {
        Some(location) => see_other(&location),
        None => trouble(DomainError::Internal(
            "a checked redirect URI did not parse".into(),
        )),
    }
}

/// A refusal: back to the client once it is known good, on a page before.
fn refused(state: &AppState, err: DomainError) -> HttpResponse {
    let DomainError::AuthorizationRefused(refusal) = err else {
        return trouble(err);
    };
    let Refusal {
        error,
        description,
        redirect: to,
    } = *refusal;
    let Some((redirect_uri, client_state)) = to else {
        return refused_page(error, &description);
    };
    let mut pairs = vec![
        ("error", error),
        ("error_description", description.as_str()),
    ];
    if let Some(client_state) = &client_state {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", &state.issuer));
    match redirect(&redirect_uri, &pairs) {
        Some(location) => see_other(&location),
        None => refused_page(error, &description),
    }
}

fn refused_page(error: &str, description: &str) -> HttpResponse {
    message(
        StatusCode::BAD_REQUEST,
        "This sign-in link does not work",
        &format!(
            "The app that sent you here made a mistake ({error}: {description}). Go back to it and try again."
        ),
    )
}

/// What a scope lets the client have, in words.
fn described(scope: Scope) -> &'static str {
    match scope {
        Scope::OpenId => "know who you are (your account's id)",
        Scope::Profile => "see your name and username",
        Scope::Email => "see your email address and whether it is confirmed",
        Scope::OfflineAccess => "stay connected to your account while you are away",
    }
}

fn consent_page(
    state: &AppState,
    req: &HttpRequest,
    checked: &CheckedRequest,
    browser: &BrowserSession,
    return_to: &str,
) -> HttpResponse {
    let Csrf { token, new_cookie } = csrf::token(state, req);
    let page = ConsentPage {
        title: "Allow access?",
        client: &checked.client.name,
        scopes: checked.scopes.iter().map(described).collect(),
        username: &browser.user.username,
        csrf: &token,
        return_to,
    };
    let origin = csrf::origin_of(&checked.redirect_uri);
    let mut response = html(StatusCode::OK, &page, Some(&origin));
    if let Some(cookie) = new_cookie
        && let Err(err) = response.add_cookie(&cookie)
    {
        tracing::error!(error = %err, "the CSRF cookie was not set");
    }
    response
}

pub async fn decided(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(submitted) = form::<ConsentForm>(&req, &body) else {
        return unreadable();
    };
    if !csrf::is_genuine(&state, &req, &submitted.csrf) {
        return message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back to the app and sign in again.",
        );
    }
    let Some(request) = submitted
        .return_to
        .strip_prefix(AUTHORIZE)
        .and_then(|query| parse(query.as_bytes()))
    else {
        return unreadable();
    };
    let checked = match state.auth.check_authorization(&request, false).await {
        Ok(checked) => checked,
        Err(err) => return refused(&state, err),
    };
    let browser = match current(&state, &req).await {
        Ok(Some(browser)) => browser,
        // Signed out meanwhile: sign in again, and be asked again.
        Ok(None) => return see_other(&return_to(&checked)),
        Err(err) => return trouble(err),
    };
    match submitted.decision.as_str() {
        "allow" => match state
            .auth
            .consent(&checked, &browser, &client_info(&req))
            .await
        {
            Ok(AuthorizationStep::Code(code)) => to_client(&state, &checked, &code),
            Ok(_) => trouble(DomainError::Internal("a consent gave no code".into())),
            Err(err) => refused(&state, err),
        },
        _ => refused(&state, state.auth.denied(&checked)),
    }
}
