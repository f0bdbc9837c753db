//! resource-server: another service that trusts auth-api's access tokens. It verifies them
//! itself with the public keys auth-api publishes at its JWKS URL: no shared secret, and no call
//! to auth-api per request.
//!
//! Configuration: `AUTH_API_JWKS_URL` and `AUTH_API_ISSUER` (required), `AUTH_API_AUDIENCE`
//! (default `auth-api`), `PORT` (default 8090); it listens on 127.0.0.1.

mod keys;

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::keys::{JwksCache, KeyError};

/// Seconds of clock difference allowed between auth-api's host and this one (`exp`, `nbf`).
const LEEWAY_SECONDS: u64 = 30;

struct Verifier {
    keys: JwksCache,
    issuer: String,
    audience: String,
}

/// The claims this service reads; jsonwebtoken checks `iss`, `aud`, `exp` and `nbf`.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(rename = "type")]
    token_type: String,
    #[serde(default)]
    role: Option<String>,
}

enum Refusal {
    /// 401, with the reason (a real service may prefer to say less).
    Invalid(&'static str),
    /// 503: no key set could be fetched yet.
    Unavailable,
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<(Claims, String), Refusal> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid("malformed token"))?;
        // Keys come from auth-api's set only, never from where the token says they are; and
        // nothing here understands a critical extension.
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(Refusal::Invalid("the token names its own key"));
        }
        if header.crit.is_some() {
            return Err(Refusal::Invalid("unsupported critical header"));
        }
        let kid = header.kid.ok_or(Refusal::Invalid("the token has no kid"))?;
        let jwk = self.keys.key(&kid).await.map_err(|err| match err {
            KeyError::UnknownKid => Refusal::Invalid("unknown kid"),
            KeyError::Unavailable => Refusal::Unavailable,
        })?;
        // The key decides the algorithm. A token that claims another one (the classic: HS256,
        // with the public key as the HMAC secret) is refused before any verification.
        let algorithm = key_algorithm(&jwk).ok_or(Refusal::Invalid("unusable key"))?;
        if header.alg != algorithm {
            return Err(Refusal::Invalid("the algorithm is not the key's"));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| Refusal::Invalid("unusable key"))?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|err| {
            Refusal::Invalid(match err.kind() {
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                _ => "invalid token",
            })
        })?;
        // A refresh token is signed by the same keys: it must not open this service.
        if data.claims.token_type != "access" {
            return Err(Refusal::Invalid("not an access token"));
        }
        Ok((data.claims, kid))
    }
}

/// The algorithm the key was published for (its `alg`): only a signature key of an asymmetric
/// algorithm, since a public set has no business holding a shared secret.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let usage = jwk.common.public_key_use.as_ref();
    if usage.is_some_and(|usage| *usage != PublicKeyUse::Signature) {
        return None;
    }
    // `KeyAlgorithm` prints as its JWA name ("ES256", "EdDSA", "RS256").
    let algorithm: Algorithm = jwk.common.key_algorithm?.to_string().parse().ok()?;
    (algorithm.family() != AlgorithmFamily::Hmac).then_some(algorithm)
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthorized(error: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(json!({ "error": error }))
}

async fn hello(req: HttpRequest, verifier: web::Data<Verifier>) -> HttpResponse {
    let Some(token) = bearer(&req) else {
        return unauthorized("missing bearer token");
    };
    match verifier.verify(token).await {
        Ok((claims, kid)) => HttpResponse::Ok().json(json!({
            "sub": claims.sub,
            "role": claims.role,
            "kid": kid,
        })),
        Err(Refusal::Invalid(why)) => unauthorized(why),
        Err(Refusal::Unavailable) => HttpResponse::ServiceUnavailable()
            .json(json!({ "error": "auth-api's keys cannot be fetched" })),
    }
}

fn required(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => anyhow::bail!("{name} must be set"),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let jwks_url = required("AUTH_API_JWKS_URL")?;
    let issuer = required("AUTH_API_ISSUER")?;
    let audience = std::env::var("AUTH_API_AUDIENCE").unwrap_or_else(|_| "auth-api".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().context("PORT must be a port number")?,
        Err(_) => 8090,
    };

    let keys = JwksCache::new(jwks_url)?;
    keys.prefetch().await;
    let verifier = web::Data::new(Verifier {
        keys,
        issuer,
        audience,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/hello", web::get().to(hello))
    })
    .bind(("127.0.0.1", port))
    .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    tracing::info!(port, "resource-server listening");
    server.run().await?;
    Ok(())
}
