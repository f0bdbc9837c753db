//! The rate-limit middleware for the routes worth flooding: it counts the request against the
//! client's budget before anything else runs (no body is parsed, no password hashed), refuses
//! it with 429 over the budget, and reports the budget in `RateLimit-*` headers either way.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError, web};
use domain::{DomainError, LimitedAction, RateDecision};

use crate::client_ip::rate_limit_key;
use crate::error::{ApiError, RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
use crate::state::AppState;

pub async fn enforce(
    action: LimitedAction,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match check(action, req.request()).await {
        Ok(decision) => {
            let mut response = next.call(req).await?;
            if let Some(decision) = decision {
                add_headers(response.headers_mut(), decision);
            }
            Ok(response)
        }
        Err(err) => {
            let response = ApiError::from(err).error_response();
            Ok(req.into_response(response))
        }
    }
}

/// Counts the request against its client's budget for `action`, for handlers that know the
/// action only from the body (the OAuth grants). `None`: rate limiting is off.
pub async fn check(
    action: LimitedAction,
    req: &HttpRequest,
) -> Result<Option<RateDecision>, DomainError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(None);
    };
    let Some(limiter) = &state.rate_limiter else {
        return Ok(None);
    };
    let client = state
        .trusted_proxies
        .client_ip(req)
        .map_or_else(|| "unknown".to_owned(), rate_limit_key);
    limiter.check(action, &client).await.map(Some)
}

pub fn add_headers(headers: &mut HeaderMap, decision: RateDecision) {
    for (name, value) in [
        (RATELIMIT_LIMIT, u64::from(decision.limit)),
        (RATELIMIT_REMAINING, u64::from(decision.remaining)),
        (RATELIMIT_RESET, decision.reset_after_seconds),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

/// Counts a message for `address` against its hourly budget (`None`: rate limiting is off).
pub async fn check_address(
    action: LimitedAction,
    req: &HttpRequest,
    address: &str,
) -> Result<Option<RateDecision>, DomainError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(None);
    };
    match &state.rate_limiter {
        Some(limiter) => limiter.check_address(action, address).await.map(Some),
        None => Ok(None),
    }
}
