//! Signing keys in public (the JWK set and the discovery documents) and for admins.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::Router;
use crate::dto::{Items, SigningKeyResponse};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, client_info};
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

/// How long verifiers may keep the key set: a new `next` key is published at least this long
/// before it signs whenever rotation is automatic.
const JWKS_MAX_AGE: &str = "public, max-age=300";

pub fn routes(router: &mut Router<'_>) {
    router.add("/.well-known/jwks.json", &["GET"], |r| {
        r.route(web::get().to(jwks))
    });
    router.add("/.well-known/openid-configuration", &["GET"], |r| {
        r.route(web::get().to(openid_configuration))
    });
    router.add("/.well-known/oauth-authorization-server", &["GET"], |r| {
        r.route(web::get().to(authorization_server))
    });
    router.add("/api/admin/keys", &["GET"], |r| {
        r.route(web::get().to(list_keys))
    });
    router.add("/api/admin/keys/rotate", &["POST"], |r| {
        r.route(web::post().to(rotate_key))
    });
}

/// RFC 7517 JWK set: public keys only.
#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    #[schema(value_type = Vec<Object>)]
    pub keys: std::sync::Arc<Vec<domain::PublicJwk>>,
}

#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "discovery",
    summary = "The public signing keys (RFC 7517)",
    description = "The `next`, `current` and `previous` keys: `kty`, `kid`, `alg`, `use: \"sig\"`, and `crv`/`x`/`y` (EC, OKP) or `n`/`e` (RSA). Never a private or symmetric key: `{\"keys\": []}` when tokens are signed with `JWT_SECRET_KEY` (HS algorithms). Cacheable for 300 seconds; refetch on an unknown `kid`.",
    security(()),
    responses((status = 200, description = "The key set", body = JwkSet))
)]
pub(crate) async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, JWKS_MAX_AGE))
        .json(JwkSet {
            keys: state.keys.published(),
        })
}

/// RFC 8414 authorization server metadata: only what this service does.
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub grant_types_supported: [&'static str; 4],
    pub response_types_supported: [&'static str; 1],
    /// PKCE is required of every client, with S256.
    pub code_challenge_methods_supported: [&'static str; 1],
    pub scopes_supported: [&'static str; 4],
    pub claims_supported: [&'static str; 15],
    pub subject_types_supported: [&'static str; 1],
    pub prompt_values_supported: [&'static str; 3],
    /// RFC 9207: every authorization response names its issuer.
    pub authorization_response_iss_parameter_supported: bool,
    /// `none`: a public client names itself by its `client_id`.
    pub token_endpoint_auth_methods_supported: [&'static str; 3],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 3],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 2],
    /// The algorithm access tokens are signed with.
    pub access_token_signing_alg_values_supported: [&'static str; 1],
    /// The algorithm ID tokens are signed with: the same key.
    pub id_token_signing_alg_values_supported: [&'static str; 1],
}

fn metadata(state: &AppState) -> ServerMetadata {
    let base = &state.public_url;
    let client_auth = ["client_secret_basic", "client_secret_post"];
    let algorithm = state.keys.algorithm().as_str();
    ServerMetadata {
        issuer: state.issuer.clone(),
        authorization_endpoint: format!("{base}/oauth/authorize"),
        userinfo_endpoint: format!("{base}/oauth/userinfo"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/oauth/token"),
        revocation_endpoint: format!("{base}/oauth/revoke"),
        introspection_endpoint: format!("{base}/oauth/introspect"),
        grant_types_supported: [
            "authorization_code",
            "password",
            "refresh_token",
            "client_credentials",
        ],
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        scopes_supported: domain::Scope::ALL.map(domain::Scope::as_str),
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "azp",
            "sid",
            "email",
            "email_verified",
            "name",
            "preferred_username",
            "updated_at",
        ],
        subject_types_supported: ["public"],
        prompt_values_supported: ["none", "login", "consent"],
        authorization_response_iss_parameter_supported: true,
        token_endpoint_auth_methods_supported: [client_auth[0], client_auth[1], "none"],
        revocation_endpoint_auth_methods_supported: [client_auth[0], client_auth[1], "none"],
        introspection_endpoint_auth_methods_supported: client_auth,
        access_token_signing_alg_values_supported: [algorithm],
        id_token_signing_alg_values_supported: [algorithm],
    }
}

#[utoipa::path(
    get, path = "/.well-known/openid-configuration", tag = "discovery",
    summary = "Discovery document (the OpenID Connect location)",
    description = "The same document as `/.well-known/oauth-authorization-server`, where JWT libraries and OAuth clients look for it.",
    security(()),
    responses((status = 200, description = "Server metadata", body = ServerMetadata))
)]
pub(crate) async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(metadata(&state))
}

#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    summary = "Authorization server metadata (RFC 8414)",
    security(()),
    responses((status = 200, description = "Server metadata", body = ServerMetadata))
)]
pub(crate) async fn authorization_server(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(metadata(&state))
}

#[utoipa::path(
    get, path = "/api/admin/keys", tag = "keys",
    summary = "Every signing key (admin)",
    description = "Oldest first, retired ones too; never a private key.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = Items<SigningKeyResponse>),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_keys(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    let keys = state.keys.list(Some(&me)).await?;
    Ok(HttpResponse::Ok().json(Items {
        items: keys.into_iter().map(SigningKeyResponse::from).collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/admin/keys/rotate", tag = "keys",
    summary = "Rotate the signing key (admin)",
    description = "The `next` key becomes `current` and a new `next` is made; the old current key becomes `previous` and verifies the tokens it signed until they expire, so nobody is logged out. Every replica sees it within `APP__KEYS__RELOAD_SECONDS`, and at once when a token names the new key.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new current key", body = SigningKeyResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`shared_secret_signing`: tokens are signed with `JWT_SECRET_KEY` (an HS algorithm)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn rotate_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    let current = state.keys.rotate(Some(&me), &client_info(&req)).await?;
    Ok(HttpResponse::Ok().json(SigningKeyResponse::from(current)))
}
