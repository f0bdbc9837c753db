//! The one place where failures become HTTP: RFC 9457 problem details with the contract's codes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use domain::{DomainError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Everything a request can fail with: the domain's errors and the HTTP layer's own.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    MalformedJson(&'static str),
    #[error("the request body does not have the expected shape")]
    InvalidBody(Vec<FieldError>),
    #[error("an access token is required: send Authorization: Bearer <token>")]
    MissingToken,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(&'static [&'static str]),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
}

/// RFC 9457 problem details, with the contract's `code` and the request's id.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the `code` says what went wrong.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    #[schema(example = "Unauthorized")]
    pub title: &'static str,
    #[schema(example = 401)]
    pub status: u16,
    #[schema(example = "The access token has expired.")]
    pub detail: String,
    /// The stable, machine-readable reason.
    #[schema(example = "token_expired")]
    pub code: &'static str,
    pub request_id: Option<String>,
    /// One entry per broken rule, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorBody {
    #[schema(example = "password")]
    pub field: String,
    #[schema(example = "too_short")]
    pub code: &'static str,
    #[schema(example = "must be at least 8 bytes")]
    pub message: String,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(err) => match err {
                DomainError::Validation(_) => "validation_failed",
                DomainError::UsernameTaken => "username_taken",
                DomainError::EmailTaken => "email_taken",
                DomainError::InvalidCredentials => "invalid_credentials",
                DomainError::AccountLocked { .. } => "account_locked",
                DomainError::AccountDisabled => "account_disabled",
                DomainError::InvalidToken => "invalid_token",
                DomainError::WrongTokenType => "wrong_token_type",
                DomainError::TokenExpired => "token_expired",
                DomainError::TokenRevoked => "token_revoked",
                DomainError::RefreshTokenReused => "refresh_token_reused",
                DomainError::Forbidden => "forbidden",
                DomainError::InsufficientScope => "insufficient_scope",
                DomainError::UserNotFound => "user_not_found",
                DomainError::SessionNotFound => "session_not_found",
                DomainError::LastAdmin => "last_admin",
                DomainError::InvalidMfaToken => "invalid_mfa_token",
                DomainError::MfaAlreadyEnabled => "mfa_already_enabled",
                DomainError::MfaNotEnabled => "mfa_not_enabled",
                DomainError::InvalidResetToken => "invalid_reset_token",
                DomainError::InvalidVerificationToken => "invalid_verification_token",
                DomainError::EmailNotVerified => "email_not_verified",
                DomainError::KeyNotFound => "key_not_found",
                DomainError::KeyInUse { .. } => "key_in_use",
                DomainError::SharedSecretSigning => "shared_secret_signing",
                DomainError::InvalidClient => "invalid_client",
                DomainError::UnauthorizedClient => "unauthorized_client",
                DomainError::ClientNotFound => "client_not_found",
                DomainError::InvalidGrant => "invalid_grant",
                DomainError::AuthorizationRefused(refusal) => refusal.error,
                DomainError::RateLimited { .. } => "rate_limited",
                DomainError::Unavailable | DomainError::Overloaded => "unavailable",
                DomainError::Internal(_) | DomainError::KeysUnreadable => "internal_error",
            },
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidBody(_) => "validation_failed",
            ApiError::MissingToken => "missing_token",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
        }
    }

    fn field_errors(&self) -> Option<&[FieldError]> {
        match self {
            ApiError::Domain(DomainError::Validation(errors)) | ApiError::InvalidBody(errors) => {
                Some(errors)
            }
            _ => None,
        }
    }

    /// What a client may read. Internal failures say nothing of their cause.
    fn detail(&self) -> String {
        match self {
            ApiError::Domain(DomainError::Internal(_) | DomainError::KeysUnreadable) => {
                "An unexpected error occurred; it has been logged with this request's id.".into()
            }
            ApiError::Domain(DomainError::Unavailable) => {
                "The database cannot be reached right now; try again shortly.".into()
            }
            ApiError::Domain(DomainError::Overloaded) => {
                "The server is too busy to take this request now; try again shortly.".into()
            }
            ApiError::Domain(DomainError::RateLimited {
                retry_after_seconds,
                ..
            }) => format!("Too many requests; try again in {retry_after_seconds} seconds."),
            other => {
                let text = other.to_string();
                let mut chars = text.chars();
                let sentence = match chars.next() {
                    Some(first) => format!("{}{}", first.to_uppercase(), chars.as_str()),
                    None => text,
                };
                if sentence.ends_with('.') {
                    sentence
                } else {
                    sentence + "."
                }
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(err) => match err {
                DomainError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                DomainError::InvalidMfaToken
                | DomainError::InvalidGrant
                | DomainError::AuthorizationRefused(_)
                | DomainError::InvalidResetToken
                | DomainError::InvalidVerificationToken => StatusCode::BAD_REQUEST,
                DomainError::UsernameTaken
                | DomainError::EmailTaken
                | DomainError::LastAdmin
                | DomainError::MfaAlreadyEnabled
                | DomainError::MfaNotEnabled
                | DomainError::KeyInUse { .. }
                | DomainError::SharedSecretSigning => StatusCode::CONFLICT,
                DomainError::InvalidCredentials
                | DomainError::InvalidToken
                | DomainError::WrongTokenType
                | DomainError::TokenExpired
                | DomainError::TokenRevoked
                | DomainError::RefreshTokenReused
                | DomainError::InvalidClient => StatusCode::UNAUTHORIZED,
                DomainError::AccountLocked { .. } => StatusCode::LOCKED,
                DomainError::AccountDisabled
                | DomainError::EmailNotVerified
                | DomainError::UnauthorizedClient
                | DomainError::InsufficientScope
                | DomainError::Forbidden => StatusCode::FORBIDDEN,
                DomainError::UserNotFound
                | DomainError::SessionNotFound
                | DomainError::KeyNotFound
                | DomainError::ClientNotFound => StatusCode::NOT_FOUND,
                DomainError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                DomainError::Unavailable | DomainError::Overloaded => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                DomainError::Internal(_) | DomainError::KeysUnreadable => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MissingToken => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Domain(DomainError::Internal(cause)) => {
                tracing::error!(%cause, "request failed unexpectedly");
            }
            ApiError::Domain(err @ DomainError::KeysUnreadable) => {
                tracing::error!(cause = %err, "request failed unexpectedly");
            }
            ApiError::Domain(DomainError::Unavailable) => {
                tracing::warn!("request failed: the database is unavailable");
            }
            _ => {}
        }
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            request_id: request_id::current(),
            errors: self.field_errors().map(|errors| {
                errors
                    .iter()
                    .map(|e| FieldErrorBody {
                        field: e.field.clone(),
                        code: e.code,
                        message: e.message.clone(),
                    })
                    .collect()
            }),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::MissingToken => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Domain(
                DomainError::InvalidToken
                | DomainError::WrongTokenType
                | DomainError::TokenExpired
                | DomainError::TokenRevoked,
            ) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            ApiError::Domain(DomainError::AccountLocked {
                retry_after_seconds,
            }) => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::Domain(DomainError::Unavailable) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::Domain(DomainError::Overloaded) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Domain(DomainError::RateLimited {
                limit,
                retry_after_seconds,
            }) => {
                let reset = retry_after_seconds.to_string();
                response
                    .insert_header((header::RETRY_AFTER, reset.clone()))
                    .insert_header((RATELIMIT_LIMIT, limit.to_string()))
                    .insert_header((RATELIMIT_REMAINING, "0"))
                    .insert_header((RATELIMIT_RESET, reset));
            }
            ApiError::MethodNotAllowed(allowed) => {
                let mut allowed = allowed.to_vec();
                // Every GET route answers HEAD too (`head::as_get`).
                if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
                    allowed.push("HEAD");
                }
                response.insert_header((header::ALLOW, allowed.join(", ")));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}
