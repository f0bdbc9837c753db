//! The caller's grants to apps: listed, and withdrawn (the app's tokens of theirs end with it).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain::{DomainError, GrantedConsent, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Router, parse_id};
use crate::dto::{Items, rfc3339};
use crate::error::{ApiError, Problem};
use crate::extract::Authenticated;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/auth/consents", &["GET"], |r| {
        r.route(web::get().to(list_consents))
    });
    router.add("/api/auth/consents/{client_id}", &["DELETE"], |r| {
        r.route(web::delete().to(withdraw_consent))
    });
}

/// A grant to an app that is not first-party.
#[derive(Serialize, ToSchema)]
pub struct ConsentResponse {
    pub client_id: String,
    /// `null` if the app was deleted since.
    pub client_name: Option<String>,
    #[schema(example = json!(["openid", "email"]))]
    pub scopes: Vec<&'static str>,
    #[serde(serialize_with = "rfc3339")]
    pub granted_at: DateTime<Utc>,
}

impl From<GrantedConsent> for ConsentResponse {
    fn from(granted: GrantedConsent) -> Self {
        ConsentResponse {
            client_id: granted.consent.client_id.to_string(),
            client_name: granted.client_name,
            scopes: granted.consent.scopes.iter().map(Scope::as_str).collect(),
            granted_at: granted.consent.granted_at,
        }
    }
}

#[utoipa::path(
    get, path = "/api/auth/consents", tag = "auth",
    summary = "The apps the caller allowed, and what",
    description = "Apps that are not first-party ask once per person on the consent page; this lists those grants, oldest first.",
    security(("bearer" = [])),
    responses((status = 200, description = "The grants", body = Items<ConsentResponse>))
)]
pub(crate) async fn list_consents(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    let items = state
        .auth
        .consents(&me)
        .await?
        .into_iter()
        .map(ConsentResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(Items { items }))
}

#[utoipa::path(
    delete, path = "/api/auth/consents/{client_id}", tag = "auth",
    summary = "Withdraw a grant",
    description = "The app is asked again next time, and every session of the caller's that holds its tokens is revoked at once.",
    params(("client_id" = String, Path, description = "The app's client id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn; the app's tokens no longer work"),
        (status = 404, description = "`client_not_found`: no grant to this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn withdraw_consent(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&path, DomainError::ClientNotFound)?;
    state.auth.withdraw_consent(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
