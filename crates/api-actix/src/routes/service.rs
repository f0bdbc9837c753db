use actix_web::{HttpResponse, web};
use serde_json::json;

use super::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", &["GET"]).route(web::get().to(index)))
        .service(resource("/health", &["GET"]).route(web::get().to(health)));
}

async fn index() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "auth-api",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": "/docs",
        "openapi": "/api/openapi.json",
    }))
}

/// Liveness: answers without touching the database.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
