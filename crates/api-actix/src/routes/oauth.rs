//! OAuth 2.0: the token endpoint (RFC 6749: password, refresh_token and client_credentials
//! grants), introspection (RFC 7662) and revocation (RFC 7009). The same services and rules as
//! the JSON API; only the words differ.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::{
    CodeExchange, CodeTokens, DomainError, Introspection, IssuedTokens, LimitedAction,
    LoginOutcome, OAuthClient, TokenType,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::Router;
use crate::extract::client_info;
use crate::metrics::Metrics;
use crate::oauth::{OAuthError, OAuthParams, client_credentials, invalid_client};
use crate::rate_limit::{add_headers, check};
use crate::state::AppState;

type Result<T> = std::result::Result<T, OAuthError>;

pub fn routes(router: &mut Router<'_>) {
    // The token endpoint counts each grant against its JSON twin's budget, once it knows it.
    router.add("/oauth/token", &["POST"], |r| {
        r.route(web::post().to(token))
    });
    // Each counts its request itself, so that a refusal is an OAuth error body too.
    router.add("/oauth/introspect", &["POST"], |r| {
        r.route(web::post().to(introspect))
    });
    router.add("/oauth/revoke", &["POST"], |r| {
        r.route(web::post().to(revoke))
    });
    router.add("/oauth/userinfo", &["GET", "POST"], |r| {
        r.route(web::get().to(userinfo))
            .route(web::post().to(userinfo_by_form))
    });
}

/// The token endpoint's parameters (RFC 6749 §4.3, §6, §4.4), form-encoded: for the OpenAPI
/// description only (the handler reads `OAuthParams`, which refuses repeated parameters).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(example = "password")]
    grant_type: GrantType,
    /// `password` grant: a username or an email.
    username: Option<String>,
    /// `password` grant.
    password: Option<String>,
    /// `refresh_token` grant.
    refresh_token: Option<String>,
    /// Client authentication in the form (or HTTP Basic instead).
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
enum GrantType {
    Password,
    RefreshToken,
    ClientCredentials,
}

/// Introspection's and revocation's parameters, form-encoded.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenParameterForm {
    token: String,
    /// `access_token` or `refresh_token`: a hint only.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Serialize, ToSchema)]
pub struct OAuthTokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Not for `client_credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
    /// The authorization code grant with the `openid` scope: an OpenID Connect ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The authorization code grant: the scopes granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl From<IssuedTokens> for OAuthTokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        OAuthTokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.access_expires_in,
            refresh_token: Some(issued.refresh_token),
            refresh_expires_in: Some(issued.refresh_expires_in),
            id_token: None,
            scope: None,
        }
    }
}

impl From<CodeTokens> for OAuthTokenResponse {
    fn from(issued: CodeTokens) -> Self {
        OAuthTokenResponse {
            id_token: issued.id_token,
            scope: Some(issued.scopes.to_string()),
            ..issued.tokens.into()
        }
    }
}

/// RFC 7662 §2.2: exactly `{"active": false}` for anything not live; the claims otherwise.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// A service client's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A user's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl From<Option<Introspection>> for IntrospectionResponse {
    fn from(live: Option<Introspection>) -> Self {
        let Some(live) = live else {
            return IntrospectionResponse::default();
        };
        let claims = live.claims;
        IntrospectionResponse {
            active: true,
            sub: Some(claims.sub.to_string()),
            client_id: claims.client_id.map(|id| id.to_string()),
            username: live.username,
            role: claims.role.map(|role| role.as_str()),
            sid: claims.sid.map(|id| id.to_string()),
            jti: Some(claims.jti.to_string()),
            iat: Some(claims.iat),
            exp: Some(claims.exp),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            token_type: Some(match claims.token_type {
                TokenType::Access => "access_token",
                TokenType::Refresh => "refresh_token",
            }),
        }
    }
}

/// Counts the request against `action`'s budget.
async fn limit(req: &HttpRequest, action: LimitedAction) -> Result<Option<domain::RateDecision>> {
    Ok(check(action, req).await?)
}

/// The client the request authenticates as, if it presents a secret; presented credentials
/// must be right.
async fn authenticated_client(
    state: &AppState,
    req: &HttpRequest,
    params: &OAuthParams,
) -> Result<Option<OAuthClient>> {
    match client_credentials(req, params)? {
        Some((id, secret)) => Ok(Some(state.auth.authenticate_client(&id, &secret).await?)),
        None => Ok(None),
    }
}

/// The client a user grant comes from: the one it authenticates as, or the public client its
/// `client_id` alone names (a client with a secret must present it).
async fn presented_client(
    state: &AppState,
    req: &HttpRequest,
    params: &OAuthParams,
) -> Result<Option<OAuthClient>> {
    match authenticated_client(state, req, params).await? {
        Some(client) => Ok(Some(client)),
        None => match params.get("client_id") {
            Some(id) => Ok(Some(state.auth.public_client(id).await?)),
            None => Ok(None),
        },
    }
}

/// The client's standing in its budget, as every limited route reports it.
fn with_budget(mut response: HttpResponse, decision: Option<domain::RateDecision>) -> HttpResponse {
    if let Some(decision) = decision {
        add_headers(response.headers_mut(), decision);
    }
    response
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    response
}

#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    summary = "OAuth 2.0 token endpoint",
    description = "`application/x-www-form-urlencoded` (JSON accepted too). `grant_type=password` (`username` is a username or an email, `password`), `refresh_token` (`refresh_token`), or `client_credentials` (client authentication required). The rules of `/api/auth/login` and `/api/auth/refresh` apply: lockout, rate limits, rotation and reuse detection. Client authentication (HTTP Basic or `client_id`/`client_secret`) is optional for the user grants, but presented credentials must be right; a `client_id` alone names a public client. The password grant is refused (`unauthorized_client`) to `confidential` and `public` clients unless an admin set `allow_password_grant`, and to requests naming no client when `APP__OAUTH__PASSWORD_GRANT=false`. An account with MFA on gets 403 `{\"error\": \"mfa_required\", \"mfa_token\": …}`.",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "Tokens (RFC 6749 §5.1); no refresh token for `client_credentials`", body = OAuthTokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant` (wrong password, bad/used refresh token, locked: with `Retry-After`), `unauthorized_client`, `unsupported_grant_type`"),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`"),
        (status = 403, description = "`mfa_required`, with `mfa_token`; `email_not_verified` (the password grant where addresses must be verified first, as login answers)"),
        (status = 429, description = "Over the rate limit, with `Retry-After`"),
    )
)]
pub(crate) async fn token(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    params: OAuthParams,
) -> Result<HttpResponse> {
    let grant = params.require("grant_type")?;
    let action = match grant {
        "password" | "client_credentials" => LimitedAction::Login,
        // An app's server trades its users' codes: as many as their refreshes.
        "refresh_token" | "authorization_code" => LimitedAction::Refresh,
        other => {
            return Err(OAuthError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "`{}` is not a grant this server supports",
                    other.escape_debug()
                ),
            ));
        }
    };
    let decision = limit(&req, action).await?;
    let client = presented_client(&state, &req, &params).await?;
    // User tokens obtained by an authenticated client are that client's alone.
    let client_info = domain::ClientInfo {
        oauth_client: client.as_ref().map(|c| c.id),
        ..client_info(&req)
    };
    let body = match grant {
        "password" => {
            let username = params.require("username")?;
            let password = params.require("password")?;
            match state
                .auth
                .password_grant(username, password, client.as_ref(), &client_info)
                .await?
            {
                LoginOutcome::Tokens(issued) => issued.into(),
                LoginOutcome::MfaRequired { mfa_token, .. } => {
                    return Err(OAuthError::mfa_required(mfa_token));
                }
            }
        }
        "authorization_code" => {
            let client = client.ok_or_else(|| {
                invalid_client(
                    "the code grant needs its client: its id and secret, or a public client's id",
                )
            })?;
            let exchange = CodeExchange {
                code: params.require("code")?,
                redirect_uri: params.require("redirect_uri")?,
                code_verifier: params.require("code_verifier")?,
            };
            let issued = state
                .auth
                .exchange_code(&client, exchange, &client_info)
                .await?;
            issued.into()
        }
        "refresh_token" => {
            let refresh_token = params.require("refresh_token")?;
            let issued = state.auth.refresh(refresh_token, &client_info).await?;
            issued.into()
        }
        _ => {
            let client = client.ok_or_else(|| {
                invalid_client("client_credentials needs the client's id and secret")
            })?;
            let issued = state.auth.client_token(&client)?;
            OAuthTokenResponse {
                access_token: issued.access_token,
                token_type: "Bearer",
                expires_in: issued.expires_in,
                refresh_token: None,
                refresh_expires_in: None,
                id_token: None,
                scope: None,
            }
        }
    };
    metrics.token_issued(grant);
    Ok(with_budget(
        no_store(HttpResponse::Ok().json(body)),
        decision,
    ))
}

#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    summary = "Token introspection (RFC 7662)",
    description = "Form parameters `token` and optional `token_type_hint`; client authentication required (a service client, HTTP Basic or form). Read from the database: a revocation shows at once. Exactly `{\"active\": false}` for anything not live: garbage, a bad signature, expired, a revoked session, a used refresh token, a deactivated or deleted user, a deleted client, and another client's `client_credentials` token.",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "What the token is worth now", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`"),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`"),
        (status = 429, description = "Over the rate limit, with `Retry-After`"),
    )
)]
pub(crate) async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: OAuthParams,
) -> Result<HttpResponse> {
    let decision = limit(&req, LimitedAction::Introspect).await?;
    let caller = authenticated_client(&state, &req, &params)
        .await?
        .ok_or_else(|| invalid_client("introspection needs a client's id and secret"))?;
    let token = params.require("token")?;
    let live = state.auth.introspect(token, &caller).await?;
    Ok(with_budget(
        no_store(HttpResponse::Ok().json(IntrospectionResponse::from(live))),
        decision,
    ))
}

#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    summary = "Token revocation (RFC 7009)",
    description = "Form parameters `token` and optional `token_type_hint`. What `POST /api/auth/revoke` does: the session of any token this service issued is revoked; 200 whether or not the token was valid. Client authentication is optional; presented credentials must be right. A token issued to a client is revoked only by that client (anyone else: 200, nothing revoked).",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "`invalid_request`"),
        (status = 401, description = "`invalid_client`"),
        (status = 429, description = "Over the rate limit, with `Retry-After`"),
    )
)]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    params: OAuthParams,
) -> Result<HttpResponse> {
    let decision = limit(&req, LimitedAction::Revoke).await?;
    let client = presented_client(&state, &req, &params).await?;
    let token = params.require("token")?;
    let client_info = domain::ClientInfo {
        oauth_client: client.map(|c| c.id),
        ..client_info(&req)
    };
    state.auth.revoke_token(token, &client_info).await?;
    Ok(with_budget(no_store(HttpResponse::Ok().finish()), decision))
}

/// RFC 6750 §3: a Bearer challenge, and the error in its body too.
fn bearer_error(
    status: actix_web::http::StatusCode,
    error: Option<&str>,
    description: &str,
) -> HttpResponse {
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"auth-api\", error=\"{error}\""),
        None => "Bearer realm=\"auth-api\"".to_owned(),
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    match error {
        Some(error) => response.json(serde_json::json!({
            "error": error,
            "error_description": description,
        })),
        None => response.finish(),
    }
}

/// The token of a userinfo request: the `Authorization` header, or `access_token` in a form
/// body (RFC 6750 §2.2); one of them, once (`Err` otherwise).
fn userinfo_token(req: &HttpRequest, body: &[u8]) -> std::result::Result<Option<String>, ()> {
    let header = crate::extract::bearer_token(req).map_err(drop)?;
    let is_form = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded");
    let mut posted = Vec::new();
    if is_form {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(drop)?;
        posted = pairs
            .into_iter()
            .filter(|(name, _)| name == "access_token")
            .map(|(_, value)| value)
            .collect();
    }
    match (header, posted.as_slice()) {
        (Some(token), []) => Ok(Some(token)),
        (None, [token]) => Ok(Some(token.clone())),
        (None, []) => Ok(None),
        _ => Err(()),
    }
}

#[utoipa::path(
    get, path = "/oauth/userinfo", tag = "oauth",
    summary = "OpenID Connect userinfo",
    description = "The person behind an access token the authorization code grant gave with the `openid` scope: `sub`, and with `email` `email` and `email_verified`, with `profile` `name`, `preferred_username` and `updated_at`. The token in `Authorization: Bearer` (or, with POST, `access_token` in a form body). Errors in RFC 6750's words, with `WWW-Authenticate: Bearer`.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = Object),
        (status = 401, description = "`invalid_token` (or no token: a bare `WWW-Authenticate: Bearer`)"),
        (status = 403, description = "`insufficient_scope`: no `openid` scope"),
    )
)]
pub(crate) async fn userinfo(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let token = match userinfo_token(&req, &body) {
        Ok(Some(token)) => token,
        Ok(None) => return bearer_error(StatusCode::UNAUTHORIZED, None, ""),
        Err(()) => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "send the access token once: in the Authorization header or as access_token in \
                 a form",
            );
        }
    };
    match state.auth.userinfo(&token).await {
        Ok(info) => no_store(HttpResponse::Ok().json(info)),
        Err(DomainError::InsufficientScope) => bearer_error(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the token was not granted the openid scope",
        ),
        Err(
            err @ (DomainError::Unavailable
            | DomainError::Overloaded
            | DomainError::Internal(_)
            | DomainError::RateLimited { .. }),
        ) => actix_web::ResponseError::error_response(&OAuthError::from(err)),
        Err(_) => bearer_error(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is not valid, expired or revoked",
        ),
    }
}

#[utoipa::path(
    post, path = "/oauth/userinfo", tag = "oauth",
    summary = "OpenID Connect userinfo, posted",
    description = "As `GET /oauth/userinfo`; the token in `Authorization: Bearer` or as `access_token` in a form body (one of them, once).",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = Object),
        (status = 400, description = "`invalid_request`: the token sent twice, or a form that cannot be read"),
        (status = 401, description = "`invalid_token` (or no token: a bare `WWW-Authenticate: Bearer`)"),
        (status = 403, description = "`insufficient_scope`: no `openid` scope"),
    )
)]
pub(crate) async fn userinfo_by_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    userinfo(state, req, body).await
}
