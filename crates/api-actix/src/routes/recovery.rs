//! Account recovery and address verification over JSON (contract section 8).

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::validation::EMAIL_MAX_CHARS;
use domain::{DomainError, LimitedAction};

use super::{Router, parse_id};
use crate::dto::{
    Accepted, ForgotPasswordRequest, ResetPasswordRequest, UserResponse, VerifyEmailRequest,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, JsonBody, client_info};
use crate::rate_limit::{check_address, enforce};
use crate::state::AppState;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes(router: &mut Router<'_>) {
    router.add("/api/auth/password/forgot", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::ForgotPassword, req, next)
        }))
        .route(web::post().to(forgot_password))
    });
    router.add("/api/auth/password/reset", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::PasswordReset, req, next)
        }))
        .route(web::post().to(reset_password))
    });
    router.add("/api/auth/email/verify", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::EmailVerify, req, next)
        }))
        .route(web::post().to(verify_email))
    });
    router.add("/api/auth/email/resend", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::MailSend, req, next)
        }))
        .route(web::post().to(resend_verification))
    });
    router.add("/api/users/{id}/password-reset", &["POST"], |r| {
        r.wrap(from_fn(|req, next| {
            enforce(LimitedAction::MailSend, req, next)
        }))
        .route(web::post().to(send_reset))
    });
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(Accepted {})
}

#[utoipa::path(
    post, path = "/api/auth/password/forgot", tag = "recovery",
    summary = "Ask for a password reset link by mail",
    description = "The same answer, after about the same time, whether or not an account has the address: a link is queued only for an active account's. Limited per IP and per address (`forgot_password`, 5 an hour per address by default).",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Taken; if an active account has this address, a link is on its way", body = Accepted),
        (status = 422, description = "`validation_failed`: not an address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn forgot_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<ForgotPasswordRequest>,
) -> Result<HttpResponse> {
    ask_for_reset(&state, &req, &body.email).await?;
    Ok(accepted())
}

/// A request for a reset link, counted per address too (the JSON API's and the page's).
pub(crate) async fn ask_for_reset(
    state: &AppState,
    req: &HttpRequest,
    email: &str,
) -> std::result::Result<(), DomainError> {
    // Only something that may be an address is counted (anything else is refused next): the
    // key must stay small and storable.
    let address = email.trim().to_lowercase();
    if address.chars().count() <= EMAIL_MAX_CHARS && !address.contains(char::is_control) {
        check_address(LimitedAction::ForgotPassword, req, &address).await?;
    }
    state
        .recovery
        .forgot_password(email, &client_info(req))
        .await
}

#[utoipa::path(
    post, path = "/api/auth/password/reset", tag = "recovery",
    summary = "Set a new password with the token of a reset link",
    description = "Spends the token, sets the password, revokes every session and clears the lockout, at once. The token works once, expires, and a newer link voids it.",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is set; every session is revoked"),
        (status = 400, description = "`invalid_reset_token`: unknown, used, expired or replaced", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the new password breaks a rule", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<ResetPasswordRequest>,
) -> Result<HttpResponse> {
    state
        .recovery
        .reset_password(&body.token, &body.new_password, &client_info(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/auth/email/verify", tag = "recovery",
    summary = "Verify an address with the token of a verification link",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified", body = UserResponse),
        (status = 400, description = "`invalid_verification_token`: unknown, used, expired, or for an address the account no longer has", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<VerifyEmailRequest>,
) -> Result<HttpResponse> {
    let user = state
        .recovery
        .verify_email(&body.token, &client_info(&req))
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

#[utoipa::path(
    post, path = "/api/auth/email/resend", tag = "recovery",
    summary = "Send a new verification link to the caller's address",
    description = "Voids the older link. Nothing is sent when the address is verified already.",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Taken", body = Accepted),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired` or `token_revoked`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resend_verification(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authenticated(me): Authenticated,
) -> Result<HttpResponse> {
    check_address(LimitedAction::MailSend, &req, &me.user.email).await?;
    state.recovery.resend_verification(&me).await?;
    Ok(accepted())
}

#[utoipa::path(
    post, path = "/api/users/{id}/password-reset", tag = "users",
    summary = "Send a user a password reset link (admin)",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A reset link is on its way to the user's address", body = Accepted),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`user_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn send_reset(
    state: web::Data<AppState>,
    Authenticated(me): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_id(&path, DomainError::UserNotFound)?;
    state.recovery.send_reset(&me, id).await?;
    Ok(accepted())
}
