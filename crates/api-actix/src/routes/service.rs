use actix_web::{HttpResponse, web};
use domain::DomainError;
use serde_json::json;

use super::Router;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

pub fn routes(router: &mut Router<'_>) {
    router.add("/", &["GET"], |r| r.route(web::get().to(index)));
    router.add("/health", &["GET"], |r| r.route(web::get().to(health)));
    router.add("/health/ready", &["GET"], |r| r.route(web::get().to(ready)));
    router.add("/metrics", &["GET"], |r| r.route(web::get().to(metrics)));
}

async fn index() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "auth-api",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": "/docs",
        "openapi": "/api/openapi.json",
    }))
}

/// Readiness: 200 while the database answers, 503 `unavailable` while it does not.
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store_health.ping().await.map_err(DomainError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// Prometheus text exposition.
async fn metrics(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(state.store_health.as_ref()))
}

/// Liveness: answers without touching the database.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
