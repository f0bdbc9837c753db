//! Extractors: JSON bodies with the contract's 400/413/415/422 answers, the bearer token, and
//! the caller's principal.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain::{ClientInfo, FieldError, Principal};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// Larger request bodies are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON object body deserialized into `T`, which should refuse unknown fields.
pub struct JsonBody<T>(pub T);

/// As `JsonBody`, for endpoints whose body may be left out entirely.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move { parse(&body.await?).map(JsonBody) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let absent = !req.headers().contains_key(header::CONTENT_TYPE)
            && declared_length(req).unwrap_or(0) == 0;
        if absent {
            return Box::pin(async { Ok(OptionalJsonBody(None)) });
        }
        let body = read_body(req, payload);
        Box::pin(async move { parse(&body.await?).map(|v| OptionalJsonBody(Some(v))) })
    }
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// A JSON-typed body, already read whole (and bounded) by `bounded_body`.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::BytesMut, ApiError>> {
    let json = is_json(req);
    let mut payload = payload.take();
    Box::pin(async move {
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::MalformedJson("The request body could not be read."))?;
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

/// 400 for what is not a JSON object; 422, naming the field, for an object of the wrong shape.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = crate::strict_json::parse(body).ok_or(ApiError::MalformedJson(
        "The request body is not valid JSON, or repeats a member.",
    ))?;
    if !value.is_object() {
        return Err(ApiError::MalformedJson(
            "The request body must be a JSON object.",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        ApiError::InvalidBody(vec![field_error(&path, &message)])
    })
}

/// Names the field serde complained about and classifies the complaint.
fn field_error(path: &str, message: &str) -> FieldError {
    let quoted = message.split('`').nth(1).unwrap_or_default();
    if message.starts_with("missing field") {
        FieldError::new(quoted, "required", "is required")
    } else if message.starts_with("unknown field") {
        FieldError::new(quoted, "unknown_field", "is not an accepted field")
    } else if message.starts_with("invalid type") {
        let expected = message.rsplit("expected ").next().unwrap_or("another type");
        FieldError::new(path, "invalid_type", format!("must be {expected}"))
    } else {
        FieldError::new(path, "invalid", "is not a valid value")
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| domain::DomainError::InvalidToken)?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Ok(None);
    }
    Ok(Some(token.to_owned()))
}

pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let ip = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.trusted_proxies.client_ip(req),
        None => req.peer_addr().map(|addr| addr.ip()),
    };
    ClientInfo {
        request_id: crate::request_id::current(),
        ip: ip.map(|ip| ip.to_string()),
        // Read as UTF-8 (lossily): the domain removes what must not be stored and cuts it.
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        oauth_client: None,
    }
}

/// The caller, authenticated by an access token checked against the store.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let client = client_info(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?.ok_or(ApiError::MissingToken)?;
            let state = state.ok_or(ApiError::Domain(domain::DomainError::Internal(
                "application state missing".into(),
            )))?;
            Ok(Authenticated(
                state.auth.authenticate(&token, client).await?,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: Option<u32>,
    }

    fn field(result: Result<Body, ApiError>) -> (String, &'static str) {
        match result {
            Err(ApiError::InvalidBody(errors)) => (errors[0].field.clone(), errors[0].code),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_malformed() {
        for body in [
            &b"{"[..],
            b"",
            b"[]",
            b"\"text\"",
            b"42",
            b"null",
            b"\xff\xfe",
        ] {
            assert!(matches!(
                parse::<Body>(body),
                Err(ApiError::MalformedJson(_))
            ));
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse::<Body>(deep.as_bytes()),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn objects_of_the_wrong_shape_name_the_field() {
        assert_eq!(field(parse(b"{}")), ("name".into(), "required"));
        assert_eq!(
            field(parse(br#"{"name":"a","role":"admin"}"#)),
            ("role".into(), "unknown_field")
        );
        assert_eq!(
            field(parse(br#"{"name":1}"#)),
            ("name".into(), "invalid_type")
        );
        assert_eq!(
            field(parse(br#"{"name":"a","age":-1}"#)),
            ("age".into(), "invalid")
        );
        assert!(parse::<Body>(br#"{"name":"a","age":null}"#).is_ok());
    }
}
