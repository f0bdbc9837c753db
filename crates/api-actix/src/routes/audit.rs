use actix_web::{HttpResponse, web};

use super::Router;
use crate::dto::{AuditEntryResponse, PageQuery, PageResponse};
use crate::error::{ApiError, Problem};
use crate::extract::Authenticated;
use crate::state::AppState;

const DEFAULT_PER_PAGE: u32 = 50;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/audit", &["GET"], |r| r.route(web::get().to(list)));
}

#[utoipa::path(
    get, path = "/api/audit", tag = "audit",
    summary = "The audit log (admin)",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page, newest first; `per_page` defaults to 50, at most 100", body = PageResponse<AuditEntryResponse>),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .users
        .audit_log(
            &me,
            query.page.unwrap_or(1),
            query.per_page.unwrap_or(DEFAULT_PER_PAGE),
        )
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::new(page, AuditEntryResponse::from)))
}
