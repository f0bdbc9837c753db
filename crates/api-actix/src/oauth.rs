//! What OAuth 2.0 endpoints speak: form-encoded (or JSON) parameters, client credentials from
//! HTTP Basic or the form, and RFC 6749 §5.2 error bodies instead of problem+json.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::DomainError;
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use serde::Serialize;

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    /// The password grant of an account with MFA on: the login goes on at
    /// `POST /api/auth/mfa/verify`.
    mfa_token: Option<String>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
            mfa_token: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn mfa_required(mfa_token: String) -> Self {
        Self {
            mfa_token: Some(mfa_token),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "mfa_required",
                "this account has multi-factor authentication on: complete the login at \
                 POST /api/auth/mfa/verify with this mfa_token",
            )
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

/// The domain's failures in OAuth's words.
impl From<DomainError> for OAuthError {
    fn from(err: DomainError) -> Self {
        let described = |status, error| OAuthError::new(status, error, err.to_string());
        match &err {
            DomainError::InvalidClient => described(StatusCode::UNAUTHORIZED, "invalid_client"),
            DomainError::UnauthorizedClient => {
                described(StatusCode::BAD_REQUEST, "unauthorized_client")
            }
            // As login answers it (contract section 17), in OAuth's words.
            DomainError::EmailNotVerified => described(StatusCode::FORBIDDEN, "email_not_verified"),
            DomainError::InvalidCredentials
            | DomainError::AccountDisabled
            | DomainError::InvalidToken
            | DomainError::WrongTokenType
            | DomainError::TokenExpired
            | DomainError::TokenRevoked
            | DomainError::RefreshTokenReused
            | DomainError::InvalidGrant => described(StatusCode::BAD_REQUEST, "invalid_grant"),
            DomainError::AccountLocked {
                retry_after_seconds,
            } => OAuthError {
                retry_after: Some(*retry_after_seconds),
                ..described(StatusCode::BAD_REQUEST, "invalid_grant")
            },
            DomainError::RateLimited {
                retry_after_seconds,
                ..
            } => OAuthError {
                retry_after: Some(*retry_after_seconds),
                ..described(StatusCode::TOO_MANY_REQUESTS, "invalid_request")
            },
            DomainError::Validation(errors) => OAuthError::invalid_request(
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            DomainError::Unavailable | DomainError::Overloaded => OAuthError {
                retry_after: Some(5),
                ..OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "try again shortly",
                )
            },
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "request failed unexpectedly");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "an unexpected error occurred; it has been logged with this request's id",
                )
            }
            _ => described(StatusCode::BAD_REQUEST, "invalid_request"),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a str>,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"auth-api\""));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(ErrorBody {
            error: self.error,
            error_description: &self.description,
            mfa_token: self.mfa_token.as_deref(),
        })
    }
}

/// The parameters of an OAuth request, from a form-encoded body or a JSON object of strings.
/// A parameter sent twice is refused (RFC 6749 §3.2).
pub struct OAuthParams(HashMap<String, String>);

impl OAuthParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("the `{name}` parameter is required"))
        })
    }

    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let mime = req.mime_type().ok().flatten();
        let is = |kind: &str| mime.as_ref().is_some_and(|m| m.essence_str() == kind);
        let pairs: Vec<(String, String)> = if is("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(body)
                .map_err(|_| OAuthError::invalid_request("the form body cannot be read"))?
        } else if is("application/json") {
            let Some(serde_json::Value::Object(object)) = crate::strict_json::parse(body) else {
                return Err(OAuthError::invalid_request(
                    "the body is not a JSON object, or repeats a parameter",
                ));
            };
            object
                .into_iter()
                .map(|(name, value)| match value {
                    serde_json::Value::String(value) => Ok((name, value)),
                    _ => Err(OAuthError::invalid_request(format!(
                        "the `{name}` parameter must be a string"
                    ))),
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(OAuthError::invalid_request(
                "send the parameters as application/x-www-form-urlencoded (or JSON)",
            ));
        };
        let mut params = HashMap::new();
        for (name, value) in pairs {
            if params.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "the `{name}` parameter is repeated"
                )));
            }
        }
        Ok(Self(params))
    }
}

impl FromRequest for OAuthParams {
    type Error = OAuthError;
    type Future = LocalBoxFuture<'static, Result<Self, OAuthError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                // Read whole and bounded already (`bounded_body`).
                let chunk =
                    chunk.map_err(|_| OAuthError::invalid_request("the body cannot be read"))?;
                body.extend_from_slice(&chunk);
            }
            Self::parse(&req, &body)
        })
    }
}

/// Client credentials as presented: HTTP Basic (RFC 6749 §2.3.1: both parts form-encoded) or
/// `client_id`/`client_secret` parameters, never both. `None`: no secret was presented (a bare
/// `client_id` identifies nobody).
pub fn client_credentials(
    req: &HttpRequest,
    params: &OAuthParams,
) -> Result<Option<(String, String)>, OAuthError> {
    let basic = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| invalid_client("the Authorization header cannot be read"))?;
            match value.split_once(' ') {
                Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(decode_basic(encoded.trim())?)
                }
                _ => None,
            }
        }
        None => None,
    };
    let posted = params
        .get("client_secret")
        .map(|secret| (params.get("client_id").unwrap_or_default(), secret));
    match (basic, posted) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "authenticate the client one way: HTTP Basic or the form, not both",
        )),
        (Some(basic), None) if params.get("client_id").is_some_and(|id| id != basic.0) => {
            Err(OAuthError::invalid_request(
                "the client_id parameter names another client than HTTP Basic",
            ))
        }
        (Some(basic), None) => Ok(Some(basic)),
        (None, Some((id, secret))) => Ok(Some((id.to_owned(), secret.to_owned()))),
        (None, None) => Ok(None),
    }
}

pub fn invalid_client(description: &str) -> OAuthError {
    OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
}

fn decode_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let malformed = || invalid_client("the Basic credentials cannot be read");
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={}", part.replace('&', "%26")))
                .map_err(|_| malformed())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%20client:s%3Acret+x");
        assert_eq!(
            decode_basic(&encoded).unwrap(),
            ("my client".to_owned(), "s:cret x".to_owned())
        );
        for junk in [
            "%%%",
            &STANDARD.encode("no-colon"),
            &STANDARD.encode([0xff, b':']),
        ] {
            assert!(decode_basic(junk).is_err(), "{junk}");
        }
    }
}
