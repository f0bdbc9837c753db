//! Multi-factor authentication: TOTP enrolment and the second step of a login.

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{DomainError, LimitedAction, SecondFactor};

use super::{Router, parse_id};
use crate::dto::{
    CodeRequest, DisableTotpRequest, MfaVerifyRequest, PasswordRequest, RecoveryCodesResponse,
    TokenResponse, TotpEnrolmentResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, JsonBody, client_info};
use crate::metrics::Metrics;
use crate::rate_limit::enforce;
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/auth/mfa/verify", &["POST"], |r| {
        r.wrap(from_fn(|req, next| enforce(LimitedAction::Mfa, req, next)))
            .route(web::post().to(verify))
    });
    router.add("/api/auth/mfa/totp", &["POST", "DELETE"], |r| {
        r.wrap(from_fn(|req, next| enforce(LimitedAction::Mfa, req, next)))
            .route(web::post().to(enrol))
            .route(web::delete().to(disable))
    });
    router.add("/api/auth/mfa/totp/confirm", &["POST"], |r| {
        r.wrap(from_fn(|req, next| enforce(LimitedAction::Mfa, req, next)))
            .route(web::post().to(confirm))
    });
    router.add("/api/auth/mfa/recovery-codes", &["POST"], |r| {
        r.wrap(from_fn(|req, next| enforce(LimitedAction::Mfa, req, next)))
            .route(web::post().to(regenerate))
    });
    router.add("/api/users/{id}/mfa", &["DELETE"], |r| {
        r.route(web::delete().to(reset))
    });
}

/// Exactly one of `code` and `recovery_code`.
fn second_factor(body: &MfaVerifyRequest) -> Result<SecondFactor<'_>> {
    match (&body.code, &body.recovery_code) {
        (Some(code), None) => Ok(SecondFactor::Code(code)),
        (None, Some(code)) => Ok(SecondFactor::RecoveryCode(code)),
        _ => Err(ApiError::InvalidBody(vec![domain::FieldError::new(
            "code",
            "required",
            "give either `code` or `recovery_code`",
        )])),
    }
}

#[utoipa::path(
    post, path = "/api/auth/mfa/verify", tag = "mfa",
    summary = "Complete a login with a second factor",
    description = "The `mfa_token` of the login's first step with a code from the authenticator app (`code`) or a recovery code (`recovery_code`). The token works once; each time step is accepted once per user and each recovery code once. A wrong code counts towards the account's lockout.",
    request_body = MfaVerifyRequest,
    security(()),
    responses(
        (status = 200, description = "Logged in; the access token's `amr` is `[\"pwd\", \"otp\"]`", body = TokenResponse),
        (status = 400, description = "`invalid_mfa_token` (unknown, expired or used), or `malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_code` on `code` or `recovery_code`, or `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
    JsonBody(body): JsonBody<MfaVerifyRequest>,
) -> Result<HttpResponse> {
    let factor = second_factor(&body)?;
    let issued = state
        .auth
        .complete_mfa_login(&body.mfa_token, factor, &client_info(&req))
        .await?;
    metrics.token_issued("mfa");
    Ok(HttpResponse::Ok().json(TokenResponse::from(issued)))
}

#[utoipa::path(
    post, path = "/api/auth/mfa/totp", tag = "mfa",
    summary = "Start TOTP enrolment",
    description = "The caller proves their password; the answer holds a new secret for an authenticator app (RFC 6238: SHA-1, 6 digits, 30 s). MFA is on only once `/api/auth/mfa/totp/confirm` gets a first code. A new enrolment replaces a pending one.",
    request_body = PasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pending factor", body = TotpEnrolmentResponse),
        (status = 409, description = "`mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`wrong_password` on `password`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enrol(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<PasswordRequest>,
) -> Result<HttpResponse> {
    let enrolment = state.auth.enrol_totp(&me, &body.password).await?;
    Ok(HttpResponse::Ok().json(TotpEnrolmentResponse::from(enrolment)))
}

#[utoipa::path(
    post, path = "/api/auth/mfa/totp/confirm", tag = "mfa",
    summary = "Turn MFA on with a first code",
    description = "Answers ten recovery codes, shown this once and stored only as keyed fingerprints. Every other session of the caller is revoked.",
    request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is on", body = RecoveryCodesResponse),
        (status = 409, description = "`mfa_already_enabled`, or `mfa_not_enabled` (no enrolment pending)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_code` on `code`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn confirm(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<CodeRequest>,
) -> Result<HttpResponse> {
    let recovery_codes = state.auth.confirm_totp(&me, &body.code).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse { recovery_codes }))
}

#[utoipa::path(
    delete, path = "/api/auth/mfa/totp", tag = "mfa",
    summary = "Turn MFA off",
    request_body = DisableTotpRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "MFA is off; the recovery codes are gone"),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`wrong_password` on `password` or `invalid_code` on `code`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn disable(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<DisableTotpRequest>,
) -> Result<HttpResponse> {
    state
        .auth
        .disable_totp(&me, &body.password, &body.code)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/auth/mfa/recovery-codes", tag = "mfa",
    summary = "A new set of recovery codes",
    description = "For a current code; the old recovery codes stop working.",
    request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new codes, shown this once", body = RecoveryCodesResponse),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_code` on `code`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`account_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn regenerate(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    JsonBody(body): JsonBody<CodeRequest>,
) -> Result<HttpResponse> {
    let recovery_codes = state
        .auth
        .regenerate_recovery_codes(&me, &body.code)
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse { recovery_codes }))
}

#[utoipa::path(
    delete, path = "/api/users/{id}/mfa", tag = "users",
    summary = "Turn a user's MFA off (admin)",
    description = "For a user who lost their authenticator and their recovery codes. Audited as `mfa_disabled` with the admin as actor.",
    params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "MFA is off"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reset(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&id, DomainError::UserNotFound)?;
    state.auth.reset_mfa(&me, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
