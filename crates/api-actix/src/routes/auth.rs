use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{DomainError, LimitedAction};

use super::{Router, parse_id};
use crate::dto::{
    ChangePasswordRequest, Items, LoginRequest, RefreshRequest, RegisterRequest, RevokeRequest,
    SessionResponse, TokenResponse, UserResponse,
};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody, OptionalJsonBody, bearer_token, client_info};
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
        r.route(web::post().to(revoke))
    });
    router.add("/api/auth/me", &["GET"], |r| r.route(web::get().to(me)));
    router.add("/api/auth/whoami", &["GET"], |r| r.route(web::get().to(me)));
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

async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<HttpResponse> {
    let issued = state.auth.register(body.into(), &client_info(&req)).await?;
    Ok(HttpResponse::Created().json(TokenResponse::from(issued)))
}

async fn login(
    state: web::Data<AppState>,
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
    let issued = state
        .auth
        .login(&login, &body.password, &client_info(&req))
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(issued)))
}

/// The refresh token comes as the bearer token or in the body.
async fn refresh(
    state: web::Data<AppState>,
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
    Ok(HttpResponse::Ok().json(TokenResponse::from(issued)))
}

async fn logout(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    state.auth.logout(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn logout_all(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    state.auth.logout_all(&me).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 7009: the same answer whether or not the token meant anything.
async fn revoke(
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

async fn me(Authenticated(me): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserResponse::from(me.user))
}

async fn change_password(
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

async fn sessions(
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

async fn end_session(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::SessionNotFound)?;
    state.auth.end_session(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
