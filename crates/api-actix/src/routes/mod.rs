//! The contract's routes. Handlers parse, call one service, and map the result.

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod clients;
pub(crate) mod consents;
pub(crate) mod keys;
pub(crate) mod mfa;
pub(crate) mod oauth;
pub(crate) mod pages;
pub(crate) mod recovery;
pub(crate) mod service;
pub(crate) mod users;

use actix_web::dev::HttpServiceFactory;
use actix_web::{HttpResponse, Resource, web};

use crate::error::ApiError;

/// Every route, registered through one list so that the same list can be read back (the OpenAPI
/// description is checked against it).
pub enum Router<'a> {
    Serve(&'a mut web::ServiceConfig),
    List(&'a mut Vec<(&'static str, &'static [&'static str])>),
}

impl Router<'_> {
    /// Adds `path` answering `allowed` methods (and 405 with `Allow` to others); `build` adds
    /// the routes and middleware to the resource.
    fn add<F, R>(&mut self, path: &'static str, allowed: &'static [&'static str], build: F)
    where
        F: FnOnce(Resource) -> R,
        R: HttpServiceFactory + 'static,
    {
        match self {
            Router::Serve(cfg) => {
                let resource = web::resource(path).default_service(web::to(move || async move {
                    Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed))
                }));
                cfg.service(build(resource));
            }
            Router::List(list) => list.push((path, allowed)),
        }
    }

    /// An HTML page for people: served like any route, but not part of the API's description.
    pub(crate) fn add_page<F, R>(
        &mut self,
        path: &'static str,
        allowed: &'static [&'static str],
        build: F,
    ) where
        F: FnOnce(Resource) -> R,
        R: HttpServiceFactory + 'static,
    {
        if let Router::Serve(cfg) = self {
            let resource = web::resource(path).default_service(web::to(move || async move {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed))
            }));
            cfg.service(build(resource));
        }
    }
}

fn routes(router: &mut Router<'_>) {
    auth::routes(router);
    mfa::routes(router);
    recovery::routes(router);
    pages::routes(router);
    crate::pages::routes(router);
    users::routes(router);
    audit::routes(router);
    keys::routes(router);
    clients::routes(router);
    consents::routes(router);
    oauth::routes(router);
    service::routes(router);
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    routes(&mut Router::Serve(cfg));
}

/// Every path the server answers, with its methods.
pub fn table() -> Vec<(&'static str, &'static [&'static str])> {
    let mut list = Vec::new();
    routes(&mut Router::List(&mut list));
    list
}

/// Ids in paths are UUIDs; anything else names nothing.
fn parse_id(raw: &str, not_found: domain::DomainError) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::Domain(not_found))
}
