//! Request bodies arrive whole, soon, and small, or not at all: a body is read here, before
//! routing, within `BODY_TIMEOUT` and `BODY_LIMIT`, and handed on from memory. actix bounds how
//! long a request's head may take but not its body, so a client declaring a body and sending it
//! slowly (or never) would otherwise hold its connection, and a worker's attention, for ever.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use futures::StreamExt;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::oauth::OAuthError;

/// How long a whole body may take to arrive: 64 KiB at 6.4 kB/s.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

enum Refusal {
    TooLarge,
    TooSlow,
    Unreadable,
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !has_body(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let read = if declared.is_some_and(|length| length > BODY_LIMIT) {
        Err(Refusal::TooLarge)
    } else {
        let payload = req.take_payload();
        tokio::time::timeout(BODY_TIMEOUT, read_whole(payload))
            .await
            .unwrap_or(Err(Refusal::TooSlow))
    };
    match read {
        Ok(body) => {
            req.set_payload(Payload::from(body.freeze()));
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(refusal) => {
            let response = if req.path().starts_with("/oauth/") {
                oauth_answer(refusal).error_response()
            } else {
                api_answer(refusal).error_response()
            };
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

async fn read_whole(mut payload: Payload) -> Result<web::BytesMut, Refusal> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Refusal::Unreadable)?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(Refusal::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn api_answer(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::TooLarge => ApiError::PayloadTooLarge,
        Refusal::TooSlow => ApiError::RequestTimeout,
        Refusal::Unreadable => ApiError::MalformedJson("The request body could not be read."),
    }
}

fn oauth_answer(refusal: Refusal) -> OAuthError {
    match refusal {
        Refusal::TooLarge => OAuthError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the body is over 64 KiB",
        ),
        Refusal::TooSlow => OAuthError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "the body did not arrive in time",
        ),
        Refusal::Unreadable => OAuthError::invalid_request("the body cannot be read"),
    }
}
