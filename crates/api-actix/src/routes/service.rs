use actix_web::{HttpResponse, web};
use domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

use super::Router;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The serialized OpenAPI description, built once at start (by `crate::openapi`).
pub struct OpenApiJson(pub String);

pub fn routes(router: &mut Router<'_>) {
    router.add("/", &["GET"], |r| r.route(web::get().to(index)));
    router.add("/health", &["GET"], |r| r.route(web::get().to(health)));
    router.add("/health/ready", &["GET"], |r| r.route(web::get().to(ready)));
    router.add("/metrics", &["GET"], |r| r.route(web::get().to(metrics)));
    router.add("/api/openapi.json", &["GET"], |r| {
        r.route(web::get().to(openapi))
    });
    router.add("/docs", &["GET"], |r| r.route(web::get().to(docs)));
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ServiceInfo {
    #[schema(example = "auth-api")]
    name: &'static str,
    version: &'static str,
    #[schema(example = "/docs")]
    docs: &'static str,
    #[schema(example = "/api/openapi.json")]
    openapi: &'static str,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

#[utoipa::path(
    get, path = "/api/openapi.json", tag = "service",
    summary = "This description (OpenAPI 3.1)",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(crate) async fn openapi(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

#[utoipa::path(
    get, path = "/docs", tag = "service",
    summary = "Swagger UI for this description",
    responses((status = 308, description = "To `/docs/`, where the Swagger UI page is served"))
)]
pub(crate) async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

#[utoipa::path(
    get, path = "/", tag = "service",
    summary = "What this service is",
    responses((status = 200, description = "Name, version and where the docs are", body = ServiceInfo))
)]
pub(crate) async fn index() -> HttpResponse {
    HttpResponse::Ok().json(ServiceInfo {
        name: "auth-api",
        version: env!("CARGO_PKG_VERSION"),
        docs: "/docs",
        openapi: "/api/openapi.json",
    })
}

/// Readiness: 200 while the database answers, 503 `unavailable` while it does not.
#[utoipa::path(
    get, path = "/health/ready", tag = "service",
    summary = "Readiness: does the database answer?",
    responses((status = 200, description = "`{\"status\": \"ready\"}`", body = Status))
)]
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store_health.ping().await.map_err(DomainError::from)?;
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "service",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Text exposition format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(
            state.store_health.as_ref(),
            state.keys.current().map(|(_, since)| since),
        ))
}

/// Liveness: answers without touching the database.
#[utoipa::path(
    get, path = "/health", tag = "service",
    summary = "Liveness (no I/O)",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Status))
)]
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}
