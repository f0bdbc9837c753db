use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{DomainError, LimitedAction, Registration};

use super::{Router, parse_id};
use crate::dto::{
    ChangePasswordRequest, Items, LoginRequest, LoginResponse, RefreshRequest, RegisterRequest,
    RegisterResponse, RevokeRequest, SessionResponse, TokenResponse, UserResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, JsonBody, OptionalJsonBody, bearer_token, client_info};
use crate::metrics::Metrics;
use crate::rate_limit::enforce;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/auth/register", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::Register, req, next)
        }))
        .route(web::post().to(register))
    });
    router.add("/api/auth/login", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::Login, req, next)
        }))
        .route(web::post().to(login))
    });
    router.add("/api/auth/refresh", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::Refresh, req, next)
        }))
        .route(web::post().to(refresh))
    });
    router.add("/api/auth/logout", &["POST"], |r| {
        r.route(web::post().to(logout))
    });
    router.add("/api/auth/logout-all", &["POST"], |r| {
        r.route(web::post().to(logout_all))
    });
    router.add("/api/auth/revoke", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::Revoke, req, next)
        }))
        .route(web::post().to(revoke))
    });
    router.add("/api/auth/me", &["GET"], |r| r.route(web::get().to(me)));
    router.add("/api/auth/whoami", &["GET"], |r| {
        r.route(web::get().to(whoami))
    });
    router.add("/api/auth/password", &["PUT"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::PasswordChange, req, next)
        }))
        .route(web::put().to(change_password))
    });
    router.add("/api/auth/sessions", &["GET"], |r| {
        r.route(web::get().to(sessions))
    });
    router.add("/api/auth/sessions/{id}", &["DELETE"], |r| {
        r.route(web::delete().to(end_session))
    });
}

#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    summary = "Create an account and log in",
    description = "With `APP__AUTH__REQUIRE_VERIFIED_EMAIL=true` no session opens before the address is verified: the answer is `{user, email_verification_required: true}` and no tokens.",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; a session is open, or (addresses must be verified first) only the account", body = RegisterResponse),
        (status = 409, description = "`username_taken` or `email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn register(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<HttpResponse> {
    let registration = state.auth.register(body.into(), &client_info(&req)).await?;
    if matches!(registration, Registration::Tokens(_)) {
        metrics.token_issued("register");
    }
    Ok(HttpResponse::Created().json(RegisterResponse::from(registration)))
}

#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    summary = "Log in with a username or an email",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in and a session is open (a token response); or, when the account has MFA on, `{mfa_required: true, mfa_token, expires_in}` for `/api/auth/mfa/verify`", body = LoginResponse),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`; `Retry-After` gives the seconds left", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<HttpResponse> {
    let login = body.login.or(body.username).or(body.email).ok_or_else(|| {
        ApiError::InvalidBody(vec![domain::FieldError::new(
            "login",
            "required",
            "is required (a username or an email)",
        )])
    })?;
    let outcome = state
        .auth
        .login(&login, &body.password, &client_info(&req))
        .await?;
    if matches!(outcome, domain::LoginOutcome::Tokens(_)) {
        metrics.token_issued("password");
    }
    Ok(HttpResponse::Ok().json(LoginResponse::from(outcome)))
}

/// The refresh token comes as the bearer token or in the body.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    summary = "Trade a refresh token for a new pair (rotation)",
    description = "The refresh token comes as the bearer token or in the body.",
    request_body(content = RefreshRequest, description = "Not needed when the token is the bearer token"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A new access token and a new refresh token", body = TokenResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, `wrong_token_type`, `token_expired`, `token_revoked` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn refresh(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    OptionalJsonBody(body): OptionalJsonBody<RefreshRequest>,
) -> Result<HttpResponse> {
    let token = match bearer_token(&req)? {
        Some(token) => token,
        None => body
            .map(|b| b.refresh_token)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MissingToken)?,
    };
    let issued = state.auth.refresh(&token, &client_info(&req)).await?;
    metrics.token_issued("refresh_token");
    Ok(HttpResponse::Ok().json(TokenResponse::from(issued)))
}

#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    summary = "Revoke the current session",
    security(("bearer" = [])),
    responses((status = 204, description = "The session's tokens no longer work"))
)]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    state.auth.logout(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    summary = "Revoke every session of the caller",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session of the user is revoked"))
)]
pub(crate) async fn logout_all(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    state.auth.logout_all(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 7009: the same answer whether or not the token meant anything.
#[utoipa::path(
    post, path = "/api/auth/revoke", tag = "auth",
    summary = "Revoke a token (RFC 7009)",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Always `{}`, whether or not the token meant anything", body = Object),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<RevokeRequest>,
) -> Result<HttpResponse> {
    state
        .auth
        .revoke_token(&body.token, &client_info(&req))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

#[utoipa::path(
    get, path = "/api/auth/me", tag = "auth",
    summary = "The caller's account",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserResponse))
)]
pub(crate) async fn me(Authenticated(me): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(me.user))
}

#[utoipa::path(
    get, path = "/api/auth/whoami", tag = "auth",
    summary = "The caller's account (alias of /api/auth/me)",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserResponse))
)]
pub(crate) async fn whoami(caller: Authenticated) -> HttpResponse {
    me(caller).await
}

#[utoipa::path(
    put, path = "/api/auth/password", tag = "auth",
    summary = "Change the caller's password",
    description = "Every other session of the user is revoked; the current one keeps working. A wrong `current_password` counts towards the account's lockout like a failed login.",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 423, description = "`account_locked`: too many wrong passwords; `Retry-After` gives the seconds left", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse> {
    state
        .auth
        .change_password(&me, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/auth/sessions", tag = "auth",
    summary = "The caller's active sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "Newest first", body = Items<SessionResponse>))
)]
pub(crate) async fn sessions(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    let items = state
        .auth
        .sessions(&me)
        .await?
        .into_iter()
        .map(|s| SessionResponse::new(s, me.session_id))
        .collect();
    Ok(HttpResponse::Ok().json(Items { items }))
}

#[utoipa::path(
    delete, path = "/api/auth/sessions/{id}", tag = "auth",
    summary = "End one of the caller's sessions",
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session's tokens no longer work"),
        (status = 404, description = "`session_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn end_session(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::SessionNotFound)?;
    state.auth.end_session(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
