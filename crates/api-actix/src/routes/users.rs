use actix_web::{HttpResponse, web};
use domain::DomainError;

use super::{Router, parse_id};
use crate::dto::{PageQuery, PageResponse, UpdateUserRequest, UserResponse};
use crate::error::ApiError;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

const DEFAULT_PER_PAGE: u32 = 20;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/users", &["GET"], |r| r.route(web::get().to(list)));
    router.add("/api/users/{id}", &["GET", "PATCH", "PUT", "DELETE"], |r| {
        r.route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete))
    });
    router.add("/api/users/{id}/unlock", &["POST"], |r| {
        r.route(web::post().to(unlock))
    });
}

async fn list(
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

async fn get(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let user = state.users.get(&me, id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

async fn update(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
    JsonBody(body): JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let user = state.users.update(&me, id, body.into()).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

async fn delete(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    state.users.delete(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn unlock(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    let user = state.users.unlock(&me, id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
