//! The JSON shapes of the contract. Requests refuse unknown fields, so that nothing a client
//! slips in (`"role": "admin"` at register) is silently dropped or, worse, applied.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::validation::{
    EMAIL_MAX_CHARS, NAME_MAX_CHARS, PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, USERNAME_MAX_CHARS,
    USERNAME_MIN_CHARS,
};
use domain::{
    AuditRecord, IssuedTokens, LoginOutcome, NewUser, Page, Registration, Role, Session,
    TotpEnrolment, User, UserPatch,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

pub(crate) fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// `user` or `admin`.
fn role_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["user", "admin"]))
        .build()
}

/// The input fields' schemas, from the limits the domain's rules use (`domain::validation`), so
/// that the description and the rules cannot drift apart.
fn username_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^[A-Za-z0-9_]{{{USERNAME_MIN_CHARS},{USERNAME_MAX_CHARS}}}$"
        )))
        .examples(["alice_1"])
        .build()
}

fn email_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(EMAIL_MAX_CHARS))
        .examples(["alice@example.com"])
        .build()
}

/// Counted in bytes by the rules; JSON Schema counts characters, so the schema states what it
/// can (at least 8, at most 72 characters) and the description says the rest.
fn password_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(PASSWORD_MIN_BYTES))
        .max_length(Some(PASSWORD_MAX_BYTES))
        .description(Some(format!(
            "{PASSWORD_MIN_BYTES}–{PASSWORD_MAX_BYTES} bytes in UTF-8, with a letter and a digit."
        )))
        .examples(["correct-horse-1"])
        .build()
}

/// A name, or `null` for none (in an update: clear it).
fn name_schema() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(NAME_MAX_CHARS))
        .examples(["Alice"])
        .build()
}

/// A field that was sent (left out, `#[serde(default)]` makes it `None`): with `T = Option<_>` a
/// `null` is `Some(None)` (clear it); with a plain `T` a `null` is refused.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = username_schema)]
    pub username: String,
    #[schema(schema_with = email_schema)]
    pub email: String,
    #[schema(schema_with = password_schema)]
    pub password: String,
    #[serde(default)]
    #[schema(schema_with = name_schema, required = false)]
    pub name: Option<String>,
}

impl From<RegisterRequest> for NewUser {
    fn from(r: RegisterRequest) -> Self {
        NewUser {
            username: r.username.into(),
            email: r.email.into(),
            password: r.password.into(),
            name: r.name.map(Into::into),
        }
    }
}

/// `login` is a username or an email; `username` or `email` may stand in for it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// RFC 7009's request; the hint is accepted and not needed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub token: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub token_type_hint: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(schema_with = password_schema)]
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = username_schema, required = false)]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = email_schema, required = false)]
    pub email: Option<String>,
    /// `null` clears the name.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = name_schema, required = false)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = role_schema, nullable = false)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub is_active: Option<bool>,
    /// Required when the caller changes their own `email`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, format = Password)]
    pub current_password: Option<String>,
}

impl From<UpdateUserRequest> for UserPatch {
    fn from(r: UpdateUserRequest) -> Self {
        UserPatch {
            username: r.username.map(Into::into),
            email: r.email.map(Into::into),
            name: r.name.map(|name| name.map(Into::into)),
            role: r.role,
            is_active: r.is_active,
            email_verified: None,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    // utoipa takes literals here: `the_page_bounds_are_the_domains` keeps them the domain's.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    #[schema(schema_with = role_schema)]
    pub role: Role,
    pub is_active: bool,
    #[serde(serialize_with = "rfc3339_opt")]
    pub locked_until: Option<DateTime<Utc>>,
    pub mfa_enabled: bool,
    /// Whether a link sent to `email` was used.
    pub email_verified: bool,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            id: u.id.to_string(),
            username: u.username,
            email: u.email,
            name: u.name,
            role: u.role,
            is_active: u.is_active,
            locked_until: u.locked_until,
            mfa_enabled: u.mfa_enabled,
            email_verified: u.email_verified,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The OAuth 2.0 token response, with the user.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user: UserResponse,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        TokenResponse {
            token_type: "Bearer",
            access_token: t.access_token,
            expires_in: t.access_expires_in,
            refresh_token: t.refresh_token,
            refresh_expires_in: t.refresh_expires_in,
            user: t.user.into(),
        }
    }
}

/// A registration where addresses must be verified first: the account, no session.
#[derive(Serialize, ToSchema)]
pub struct VerificationRequiredResponse {
    pub user: UserResponse,
    /// Always `true`: log in once the link sent to the address has been used.
    pub email_verification_required: bool,
}

/// Register's answer: tokens, or the account alone while its address is unverified.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RegisterResponse {
    Tokens(TokenResponse),
    VerificationRequired(VerificationRequiredResponse),
}

impl From<Registration> for RegisterResponse {
    fn from(registration: Registration) -> Self {
        match registration {
            Registration::Tokens(issued) => RegisterResponse::Tokens(issued.into()),
            Registration::VerificationRequired(user) => {
                RegisterResponse::VerificationRequired(VerificationRequiredResponse {
                    user: user.into(),
                    email_verification_required: true,
                })
            }
        }
    }
}

/// The first step of a login whose account has MFA on: no tokens yet.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// For `POST /api/auth/mfa/verify`: single-use, bound to this login.
    pub mfa_token: String,
    pub expires_in: i64,
}

/// A login's answer: tokens, or the second step it needs.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenResponse),
    MfaRequired(MfaRequiredResponse),
}

impl From<LoginOutcome> for LoginResponse {
    fn from(outcome: LoginOutcome) -> Self {
        match outcome {
            LoginOutcome::Tokens(issued) => LoginResponse::Tokens(issued.into()),
            LoginOutcome::MfaRequired {
                mfa_token,
                expires_in,
            } => LoginResponse::MfaRequired(MfaRequiredResponse {
                mfa_required: true,
                mfa_token,
                expires_in,
            }),
        }
    }
}

/// The second step of a login: a code from the authenticator app, or a recovery code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    pub mfa_token: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits from the authenticator app.
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    pub password: String,
    pub code: String,
}

/// A pending TOTP factor: add it to an authenticator app, then confirm it with a code.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, an SVG document.
    pub qr_svg: String,
}

impl From<TotpEnrolment> for TotpEnrolmentResponse {
    fn from(e: TotpEnrolment) -> Self {
        TotpEnrolmentResponse {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        }
    }
}

/// Shown once; each works once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    pub id: String,
    /// `api` (a login's tokens) or `browser` (a sign-in on the hosted pages).
    #[schema(example = "api")]
    pub kind: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub last_used_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub current: bool,
}

impl SessionResponse {
    pub fn new(s: Session, current_id: uuid::Uuid) -> Self {
        SessionResponse {
            id: s.id.to_string(),
            kind: s.kind.as_str(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
            current: s.id == current_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Serialize, ToSchema)]
pub struct PageResponse<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

impl<T> PageResponse<T> {
    pub fn new<D>(page: Page<D>, item: impl Fn(D) -> T) -> Self {
        PageResponse {
            items: page.items.into_iter().map(item).collect(),
            page: page.page,
            per_page: page.per_page,
            total: page.total,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryResponse {
    pub id: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub event: &'static str,
    pub outcome: &'static str,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditEntryResponse {
    fn from(r: AuditRecord) -> Self {
        AuditEntryResponse {
            id: r.id.to_string(),
            at: r.at,
            event: r.event.as_str(),
            outcome: r.outcome.as_str(),
            user_id: r.user_id.map(|id| id.to_string()),
            actor_id: r.actor_id.map(|id| id.to_string()),
            ip: r.ip,
            request_id: r.request_id,
            detail: r.detail,
        }
    }
}

/// A signing key as admins see it: never its private half.
#[derive(Serialize, ToSchema)]
pub struct SigningKeyResponse {
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: &'static str,
    /// `next`, `current`, `previous` or `retired`.
    pub state: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub activated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub deactivated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<domain::SigningKey> for SigningKeyResponse {
    fn from(key: domain::SigningKey) -> Self {
        SigningKeyResponse {
            alg: key.algorithm.as_str(),
            state: key.state.as_str(),
            kid: key.kid,
            created_at: key.created_at,
            activated_at: key.activated_at,
            deactivated_at: key.deactivated_at,
            retired_at: key.retired_at,
        }
    }
}

/// What a client is: a machine account, a server-side app, or a public (browser or native) app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKindDto {
    /// `client_credentials` only; a secret.
    #[default]
    Service,
    /// The authorization code flow; a secret (`client_secret_basic` or `client_secret_post`).
    Confidential,
    /// The authorization code flow with PKCE alone; no secret.
    Public,
}

impl From<ClientKindDto> for domain::ClientKind {
    fn from(kind: ClientKindDto) -> Self {
        match kind {
            ClientKindDto::Service => domain::ClientKind::Service,
            ClientKindDto::Confidential => domain::ClientKind::Confidential,
            ClientKindDto::Public => domain::ClientKind::Public,
        }
    }
}

impl From<domain::ClientKind> for ClientKindDto {
    fn from(kind: domain::ClientKind) -> Self {
        match kind {
            domain::ClientKind::Service => ClientKindDto::Service,
            domain::ClientKind::Confidential => ClientKindDto::Confidential,
            domain::ClientKind::Public => ClientKindDto::Public,
        }
    }
}

/// Only `name` is required; a client of another kind than `service` needs its redirect URIs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    #[schema(example = "billing-service", min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub kind: ClientKindDto,
    /// Absolute, no fragment, `https` (or `http` on a loopback host); matched exactly (a public
    /// client's loopback redirect on any port). At most 20.
    #[serde(default)]
    #[schema(example = json!(["https://app.example.com/callback"]))]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Its users are never asked to consent.
    #[serde(default)]
    pub first_party: bool,
    /// It must push its authorization requests (RFC 9126).
    #[serde(default)]
    pub require_par: bool,
    /// It may use the password grant.
    #[serde(default)]
    pub allow_password_grant: bool,
}

impl From<CreateClientRequest> for domain::ClientRegistration {
    fn from(body: CreateClientRequest) -> Self {
        domain::ClientRegistration {
            name: body.name,
            kind: body.kind.into(),
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            first_party: body.first_party,
            require_par: body.require_par,
            allow_password_grant: body.allow_password_grant,
        }
    }
}

/// The fields to change; those left out stay as they are. A client's kind never changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub require_par: Option<bool>,
    pub allow_password_grant: Option<bool>,
}

impl From<UpdateClientRequest> for domain::ClientChanges {
    fn from(body: UpdateClientRequest) -> Self {
        domain::ClientChanges {
            name: body.name,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            first_party: body.first_party,
            require_par: body.require_par,
            allow_password_grant: body.allow_password_grant,
        }
    }
}

/// A client; its secret only in the answer that made it.
#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    pub client_id: String,
    /// Shown once, when made or replaced: store it now. Never for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    pub kind: ClientKindDto,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub first_party: bool,
    pub require_par: bool,
    pub allow_password_grant: bool,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<domain::OAuthClient> for ClientResponse {
    fn from(client: domain::OAuthClient) -> Self {
        ClientResponse {
            client_id: client.id.to_string(),
            client_secret: None,
            name: client.name,
            kind: client.kind.into(),
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            first_party: client.first_party,
            require_par: client.require_par,
            allow_password_grant: client.allow_password_grant,
            created_at: client.created_at,
            updated_at: client.updated_at,
        }
    }
}

impl From<domain::CreatedClient> for ClientResponse {
    fn from(created: domain::CreatedClient) -> Self {
        ClientResponse {
            client_secret: created.secret,
            ..created.client.into()
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(schema_with = email_schema)]
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link.
    pub token: String,
    #[schema(schema_with = password_schema)]
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the verification link.
    pub token: String,
}

/// `{}`: the request was taken; any mail goes out shortly.
#[derive(Serialize, ToSchema)]
pub struct Accepted {}
