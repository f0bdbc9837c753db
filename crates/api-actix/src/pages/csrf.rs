//! The pages' cookies: the browser session's, and the CSRF token's (double submit: a form
//! carries the value of a cookie another site can neither read nor set, and a POST whose
//! `Origin` is another site's is refused too).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use uuid::Uuid;

use crate::state::AppState;

/// The page's CSRF token, and the cookie to set when the browser had none.
pub struct Csrf {
    pub token: String,
    pub new_cookie: Option<Cookie<'static>>,
}

/// Cookie names: with `__Host-` (Secure, this host only, Path=/) when the service is reached
/// over https, as the contract names them; plain over http (development), where a browser
/// would drop a Secure cookie.
fn name(state: &AppState, base: &'static str) -> String {
    if secure(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

fn cookie(state: &AppState, base: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name(state, base), value);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_secure(secure(state));
    cookie
}

/// The token of the CSRF cookie the browser sent, or a new one to set.
pub fn token(state: &AppState, req: &HttpRequest) -> Csrf {
    match req
        .cookie(&name(state, "auth_csrf"))
        .map(|c| c.value().to_owned())
        .filter(|value| is_token(value))
    {
        Some(token) => Csrf {
            token,
            new_cookie: None,
        },
        None => {
            let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
            let mut new = cookie(state, "auth_csrf", token.clone());
            new.set_same_site(SameSite::Strict);
            Csrf {
                token,
                new_cookie: Some(new),
            }
        }
    }
}

/// Whether a POST carries the CSRF cookie's token and comes from this service's own pages.
pub fn is_genuine(state: &AppState, req: &HttpRequest, submitted: &str) -> bool {
    let cookie = req.cookie(&name(state, "auth_csrf"));
    let same_token = cookie.is_some_and(|c| is_token(c.value()) && c.value() == submitted);
    // A browser names the origin of a cross-site POST; a missing header is an old browser's.
    let same_origin = req
        .headers()
        .get(header::ORIGIN)
        .is_none_or(|origin| origin.as_bytes() == origin_of(&state.public_url).as_bytes());
    same_token && same_origin
}

fn is_token(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// The browser session's cookie, as sent.
pub fn session_cookie(state: &AppState, req: &HttpRequest) -> Option<String> {
    req.cookie(&name(state, "auth_session"))
        .map(|c| c.value().to_owned())
}

/// The cookie that names a new browser session: Lax, so that a client's redirect to the
/// authorization endpoint carries it; for the session's lifetime.
pub fn session(state: &AppState, value: String, lifetime_seconds: i64) -> Cookie<'static> {
    let mut cookie = cookie(state, "auth_session", value);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::seconds(lifetime_seconds));
    cookie
}
