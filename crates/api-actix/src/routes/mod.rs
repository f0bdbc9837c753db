//! The contract's routes. Handlers parse, call one service, and map the result.

mod audit;
mod auth;
mod service;
mod users;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/auth")
            .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
            .configure(auth::configure),
    )
    .service(web::scope("/api/users").configure(users::configure))
    .configure(audit::configure)
    .configure(service::configure);
}

/// A resource that answers other methods with 405 and the `Allow` list.
fn resource(path: &str, allowed: &'static [&'static str]) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed))
    }))
}

/// Ids in paths are UUIDs; anything else names nothing.
fn parse_id(raw: &str, not_found: domain::DomainError) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::Domain(not_found))
}
