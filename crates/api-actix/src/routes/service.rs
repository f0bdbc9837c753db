use actix_web::{HttpResponse, web};
use domain::DomainError;
use serde_json::json;

use super::resource;
use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", &["GET"]).route(web::get().to(index)))
        .service(resource("/health", &["GET"]).route(web::get().to(health)))
        .service(resource("/health/ready", &["GET"]).route(web::get().to(ready)));
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

/// Liveness: answers without touching the database.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
