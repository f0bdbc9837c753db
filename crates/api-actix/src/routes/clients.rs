//! The clients admins register: list, create (the secret shown once), change, give a new
//! secret, delete.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::{Router, parse_id};
use crate::dto::{ClientResponse, CreateClientRequest, Items, UpdateClientRequest};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/admin/clients", &["GET", "POST"], |r| {
        r.route(web::get().to(list_clients))
            .route(web::post().to(create_client))
    });
    router.add(
        "/api/admin/clients/{client_id}",
        &["PATCH", "DELETE"],
        |r| {
            r.route(web::patch().to(update_client))
                .route(web::delete().to(delete_client))
        },
    );
    router.add("/api/admin/clients/{client_id}/secret", &["POST"], |r| {
        r.route(web::post().to(new_client_secret))
    });
}

#[utoipa::path(
    get, path = "/api/admin/clients", tag = "clients",
    summary = "Every client (admin)",
    description = "Oldest first; never a secret.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The clients", body = Items<ClientResponse>),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_clients(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    let clients = state.auth.clients(&me).await?;
    Ok(HttpResponse::Ok().json(Items {
        items: clients.into_iter().map(ClientResponse::from).collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/admin/clients", tag = "clients",
    summary = "Register a client (admin)",
    description = "`kind`: `service` (the default: a machine account for the `client_credentials` grant and for introspection), `confidential` (a server-side app) or `public` (a single-page or native app, no secret). The `client_secret` is in this answer only; the server keeps a keyed fingerprint of it.",
    request_body = CreateClientRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The client, with its secret", body = ClientResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `name`, `redirect_uris[i]` or `post_logout_redirect_uris[i]`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_client(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<CreateClientRequest>,
) -> Result<HttpResponse> {
    let created = state.auth.create_client(&me, body.into()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ClientResponse::from(created)))
}

#[utoipa::path(
    delete, path = "/api/admin/clients/{client_id}", tag = "clients",
    summary = "Delete a client (admin)",
    description = "Its secret and every token it holds stop working at once.",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`client_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_client(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&path, domain::DomainError::ClientNotFound)?;
    state.auth.delete_client(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    patch, path = "/api/admin/clients/{client_id}", tag = "clients",
    summary = "Change a client (admin)",
    description = "The fields given, and only those: a change made meanwhile to another field stays. A client's kind never changes (register a new one).",
    params(("client_id" = String, Path, description = "The client's id")),
    request_body = UpdateClientRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client as it now is", body = ClientResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`client_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_client(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<String>,
    JsonBody(body): JsonBody<UpdateClientRequest>,
) -> Result<HttpResponse> {
    let id = parse_id(&path, domain::DomainError::ClientNotFound)?;
    let client = state.auth.update_client(&me, id, body.into()).await?;
    Ok(HttpResponse::Ok().json(ClientResponse::from(client)))
}

#[utoipa::path(
    post, path = "/api/admin/clients/{client_id}/secret", tag = "clients",
    summary = "Give a client a new secret (admin)",
    description = "The old secret stops working at once; the new one is in this answer only. A public client has none (422 on `kind`).",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client, with its new secret", body = ClientResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`client_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `kind`: a public client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn new_client_secret(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&path, domain::DomainError::ClientNotFound)?;
    let renewed = state.auth.new_client_secret(&me, id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ClientResponse::from(renewed)))
}
