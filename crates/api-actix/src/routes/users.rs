use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use domain::{DomainError, LimitedAction};

use super::{Router, parse_id};
use crate::dto::{PageQuery, PageResponse, UpdateUserRequest, UserResponse};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, JsonBody};
use crate::rate_limit::enforce;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

const DEFAULT_PER_PAGE: u32 = 20;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/users", &["GET"], |r| r.route(web::get().to(list)));
    router.add("/api/users/{id}", &["GET", "PATCH", "PUT", "DELETE"], |r| {
        let limited = |route: actix_web::Route| {
            route.to(update).wrap(from_fn(|req, next| {
                enforce(LimitedAction::UsersUpdate, req, next)
            }))
        };
        r.route(web::get().to(get))
            .route(limited(web::patch()))
            .route(limited(web::put()))
            .route(web::delete().to(delete))
    });
    router.add("/api/users/{id}/unlock", &["POST"], |r| {
        r.route(web::post().to(unlock))
    });
}

#[utoipa::path(
    get, path = "/api/users", tag = "users",
    summary = "List users (admin)",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page, oldest first; `per_page` defaults to 20, at most 100", body = PageResponse<UserResponse>),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse> {
    let page = state
        .users
        .list(
            &me,
            query.page.unwrap_or(1),
            query.per_page.unwrap_or(DEFAULT_PER_PAGE),
        )
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::new(page, UserResponse::from)))
}

#[utoipa::path(
    get, path = "/api/users/{id}", tag = "users",
    summary = "One user (admin, or the user themself)",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let user = state.users.get(&me, id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

#[utoipa::path(
    method(patch, put), path = "/api/users/{id}", tag = "users",
    summary = "Change a user (admin, or the user themself)",
    description = "Anyone: `username`, `email`, `name`. Admins only: `role`, `is_active`. A new `email` of one's own needs `current_password` (missing or wrong: 422 `wrong_password` on `current_password`, counted towards the lockout; 423 once locked); an admin changing another user's address needs none. PUT is the same as PATCH.",
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed user", body = UserResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`, `email_taken` or `last_admin`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, e.g. `current_password` missing or wrong for a new address of one's own", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`: too many wrong passwords", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
    JsonBody(mut body): JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let current_password = body.current_password.take();
    let user = state
        .users
        .update(&me, id, body.into(), current_password.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

#[utoipa::path(
    delete, path = "/api/users/{id}", tag = "users",
    summary = "Delete a user and their sessions (admin)",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    state.users.delete(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/users/{id}/unlock", tag = "users",
    summary = "Lift a lockout (admin)",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, unlocked", body = UserResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn unlock(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let user = state.users.unlock(&me, id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
