//! The OpenAPI 3.1 description, generated from the handlers' annotations, with the problem
//! responses every operation can give added in one place.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::dto::{Accepted, ForgotPasswordRequest, ResetPasswordRequest, VerifyEmailRequest};
use crate::dto::{
    AuditEntryResponse, ChangePasswordRequest, CodeRequest, DisableTotpRequest, Items,
    LoginRequest, LoginResponse, MfaRequiredResponse, MfaVerifyRequest, PageResponse,
    PasswordRequest, RecoveryCodesResponse, RefreshRequest, RegisterRequest, RevokeRequest,
    SessionResponse, TokenResponse, TotpEnrolmentResponse, UpdateUserRequest, UserResponse,
};
use crate::dto::{
    ClientKindDto, ClientResponse, CreateClientRequest, SigningKeyResponse, UpdateClientRequest,
};
use crate::dto::{RegisterResponse, VerificationRequiredResponse};
use crate::error::{FieldErrorBody, Problem};
use crate::routes::consents::ConsentResponse;
use crate::routes::keys::{JwkSet, ServerMetadata};
use crate::routes::oauth::{IntrospectionResponse, OAuthTokenResponse};
use crate::routes::service::OpenApiJson;
use crate::routes::{audit, auth, clients, consents, keys, mfa, oauth, recovery, service, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-api",
        description = "Registration, login, JWT sessions, users and roles. Every error is \
                       `application/problem+json` with a stable `code`."
    ),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::logout_all, auth::revoke,
        auth::me, auth::whoami, auth::change_password, auth::sessions, auth::end_session,
        mfa::verify, mfa::enrol, mfa::confirm, mfa::disable, mfa::regenerate, mfa::reset,
        recovery::forgot_password, recovery::reset_password, recovery::verify_email,
        recovery::resend_verification, recovery::send_reset,
        users::list, users::get, users::update, users::delete, users::unlock,
        audit::list,
        keys::jwks, keys::openid_configuration, keys::authorization_server, keys::list_keys,
        keys::rotate_key, clients::list_clients, clients::create_client, clients::update_client,
        clients::new_client_secret, clients::delete_client, consents::list_consents,
        consents::withdraw_consent,
        oauth::token, oauth::introspect, oauth::revoke, oauth::userinfo,
        oauth::userinfo_by_form,
        service::index, service::health, service::ready, service::metrics, service::openapi,
        service::docs,
    ),
    components(schemas(
        Problem, FieldErrorBody, RegisterRequest, LoginRequest, RefreshRequest, RevokeRequest,
        ChangePasswordRequest, UpdateUserRequest, UserResponse, TokenResponse, SessionResponse,
        Items<SessionResponse>, PageResponse<UserResponse>, PageResponse<AuditEntryResponse>,
        AuditEntryResponse, LoginResponse, MfaRequiredResponse, MfaVerifyRequest, PasswordRequest,
        CodeRequest, DisableTotpRequest, TotpEnrolmentResponse, RecoveryCodesResponse,
        SigningKeyResponse, Items<SigningKeyResponse>, ClientResponse, Items<ClientResponse>,
        CreateClientRequest, UpdateClientRequest, ClientKindDto, ConsentResponse,
        Items<ConsentResponse>, JwkSet, ServerMetadata, OAuthTokenResponse, IntrospectionResponse,
        ForgotPasswordRequest, ResetPasswordRequest, VerifyEmailRequest, Accepted,
        RegisterResponse, VerificationRequiredResponse,
    )),
    modifiers(&BearerScheme, &CommonProblems, &OptionalRefreshBody),
    tags(
        (name = "auth", description = "Register, log in, tokens and one's own sessions"),
        (name = "mfa", description = "Multi-factor authentication (TOTP) and the second step of a login"),
        (name = "recovery", description = "Password reset and address verification by mail"),
        (name = "users", description = "User management"),
        (name = "audit", description = "Security events"),
        (name = "discovery", description = "Public keys and server metadata for services that verify tokens"),
        (name = "oauth", description = "OAuth 2.0 token, introspection and revocation endpoints (RFC 6749, 7662, 7009): RFC 6749 error bodies, not problem+json"),
        (name = "keys", description = "Signing keys (admin)"),
        (name = "clients", description = "Clients: machine accounts, server-side apps and public apps (admin)"),
        (name = "service", description = "Health, metrics and this description"),
    )
)]
pub struct ApiDoc;

impl ApiDoc {
    pub fn json() -> OpenApiJson {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the description serializes");
        login_needs_a_name(&mut doc);
        one_second_factor(&mut doc);
        OpenApiJson(doc.to_string())
    }
}

/// A login names the account by `login`, `username` or `email`: at least one of them, as a string.
/// (utoipa's derive cannot say "one of these keys", so the rule is added to the document.)
fn login_needs_a_name(doc: &mut serde_json::Value) {
    let named_by = |key: &str| serde_json::json!({ "required": [key], "properties": { key: { "type": "string" } } });
    if let Some(schema) = doc.pointer_mut("/components/schemas/LoginRequest") {
        schema["anyOf"] =
            serde_json::json!([named_by("login"), named_by("username"), named_by("email")]);
    }
}

/// The second step of a login takes `code` or `recovery_code`, not both.
fn one_second_factor(doc: &mut serde_json::Value) {
    let with = |key: &str| serde_json::json!({ "required": [key], "properties": { key: { "type": "string" } } });
    if let Some(schema) = doc.pointer_mut("/components/schemas/MfaVerifyRequest") {
        schema["oneOf"] = serde_json::json!([with("code"), with("recovery_code")]);
    }
}

/// The refresh token may come as the bearer token instead: the body is optional, but not `null`.
struct OptionalRefreshBody;

impl Modify for OptionalRefreshBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/api/auth/refresh")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The problem answers that follow from an operation's shape rather than its meaning.
struct CommonProblems;

impl CommonProblems {
    fn add(operation: &mut Operation, status: &str, description: &str) {
        if operation.responses.responses.contains_key(status) {
            return;
        }
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_owned(), response.into());
    }
}

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // OAuth endpoints answer in RFC 6749's words, each described by its operation.
            if path.starts_with("/oauth/") {
                continue;
            }
            let has_id = path.contains('{');
            for operation in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                if operation.request_body.is_some() {
                    Self::add(operation, "400", "`malformed_json`: not a JSON object");
                    Self::add(operation, "413", "`payload_too_large`: over 64 KiB");
                    Self::add(
                        operation,
                        "415",
                        "`unsupported_media_type`: not application/json",
                    );
                }
                let has_query = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                if operation.request_body.is_some() || has_query || has_id {
                    Self::add(
                        operation,
                        "422",
                        "`validation_failed`, with `errors` per field",
                    );
                }
                if secured {
                    Self::add(
                        operation,
                        "401",
                        "`missing_token`, `invalid_token`, `wrong_token_type`, `token_expired` or `token_revoked`",
                    );
                }
                Self::add(operation, "500", "`internal_error`");
                Self::add(
                    operation,
                    "503",
                    "`unavailable`: the database cannot be reached",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(&ApiDoc::json().0).unwrap();
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (path.clone(), method.to_uppercase()))
            })
            .collect()
    }

    #[test]
    fn every_route_is_described_and_every_description_is_a_route() {
        let served: BTreeSet<(String, String)> = crate::routes::table()
            .into_iter()
            .flat_map(|(path, methods)| {
                methods
                    .iter()
                    .map(move |method| (path.to_owned(), (*method).to_owned()))
            })
            .collect();
        let documented = documented();
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes without a description: {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(extra.is_empty(), "descriptions without a route: {extra:?}");
    }

    #[test]
    fn the_description_is_openapi_3_1_with_bearer_auth_and_problem_answers() {
        let doc: serde_json::Value = serde_json::from_str(&ApiDoc::json().0).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let bearer = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(bearer["scheme"], "bearer");
        assert_eq!(bearer["bearerFormat"], "JWT");
        let login = &doc["paths"]["/api/auth/login"]["post"];
        for status in [
            "400", "401", "413", "415", "422", "423", "429", "500", "503",
        ] {
            let content = &login["responses"][status]["content"]["application/problem+json"];
            assert_eq!(
                content["schema"]["$ref"], "#/components/schemas/Problem",
                "{status}"
            );
        }
        let me = &doc["paths"]["/api/auth/me"]["get"];
        assert_eq!(me["security"][0]["bearer"], serde_json::json!([]));
        assert!(me["responses"]["401"].is_object());
        let problem = &doc["components"]["schemas"]["Problem"]["properties"];
        for field in [
            "type",
            "title",
            "status",
            "detail",
            "code",
            "request_id",
            "errors",
        ] {
            assert!(problem.get(field).is_some(), "{field}");
        }
        let user = &doc["components"]["schemas"]["UserResponse"]["properties"];
        assert_eq!(user["role"]["enum"], serde_json::json!(["user", "admin"]));
        assert!(user.get("password_hash").is_none());
    }

    #[test]
    fn a_login_must_name_the_account() {
        let doc: serde_json::Value = serde_json::from_str(&ApiDoc::json().0).unwrap();
        let any_of = doc["components"]["schemas"]["LoginRequest"]["anyOf"]
            .as_array()
            .unwrap();
        let named: Vec<&str> = any_of
            .iter()
            .map(|branch| branch["required"][0].as_str().unwrap())
            .collect();
        assert_eq!(named, ["login", "username", "email"]);
    }

    #[test]
    fn the_page_bounds_are_the_domains() {
        let doc: serde_json::Value = serde_json::from_str(&ApiDoc::json().0).unwrap();
        for path in ["/api/users", "/api/audit"] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let bound = |name: &str, key: &str| {
                params.iter().find(|p| p["name"] == name).unwrap()["schema"][key]
                    .as_u64()
                    .unwrap()
            };
            assert_eq!(bound("page", "minimum"), 1);
            assert_eq!(
                bound("page", "maximum"),
                u64::from(domain::services::MAX_PAGE)
            );
            assert_eq!(bound("per_page", "minimum"), 1);
            assert_eq!(
                bound("per_page", "maximum"),
                u64::from(domain::services::MAX_PER_PAGE)
            );
        }
    }
}
