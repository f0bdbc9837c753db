//! Configuration, layered as the contract says: `config/default.toml`, `config/{APP_ENV}.toml`,
//! `.env`, then `APP__SECTION__KEY` environment variables; `DATABASE_URL` and `JWT_SECRET_KEY` win.
//! The TOML files are built into the binary; copies found in `./config/` are layered over them.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};

use config::{Config, Environment as EnvSource, File, FileFormat};
use domain::KeyAlgorithm;
use infra_bcrypt::Cost;
use infra_diesel::DatabaseUrl;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::client_ip::TrustedProxies;

mod env_file;

const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");
const DEVELOPMENT_TOML: &str = include_str!("../../../../config/development.toml");
const TEST_TOML: &str = include_str!("../../../../config/test.toml");
const PRODUCTION_TOML: &str = include_str!("../../../../config/production.toml");

/// Production secrets must be at least this long (HS256's key size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Production refuses cheaper hashing than this.
pub const MIN_PRODUCTION_BCRYPT_COST: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

impl AppEnv {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "development" => Ok(AppEnv::Development),
            "test" => Ok(AppEnv::Test),
            "production" => Ok(AppEnv::Production),
            other => Err(ConfigError::new(
                "APP_ENV",
                format!("{other:?} is not one of development, test, production"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Test => "test",
            AppEnv::Production => "production",
        }
    }

    fn toml(self) -> &'static str {
        match self {
            AppEnv::Development => DEVELOPMENT_TOML,
            AppEnv::Test => TEST_TOML,
            AppEnv::Production => PRODUCTION_TOML,
        }
    }
}

/// A bad setting, named by the environment variable that sets it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(skip, default = "default_env")]
    pub env: AppEnv,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub keys: KeySettings,
    pub password: PasswordSettings,
    pub lockout: LockoutSettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub housekeeping: HousekeepingSettings,
    pub audit: AuditSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub oauth: OAuthSettings,
    pub sso: SsoSettings,
    pub mail: MailSettings,
    /// The first admin for container deployments, from `ADMIN_USERNAME`, `ADMIN_EMAIL` and
    /// `ADMIN_PASSWORD`: created at start only while no active admin exists.
    #[serde(skip)]
    pub admin_bootstrap: Option<AdminBootstrap>,
}

#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub username: String,
    pub email: String,
    pub password: SecretString,
}

fn default_env() -> AppEnv {
    AppEnv::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// The service's own base URL as clients see it (no trailing `/`). Unset: where the server
    /// listens (development and test; production requires it), filled in by
    /// [`Settings::listening_on`].
    #[serde(default, deserialize_with = "optional_public_url")]
    pub public_url: Option<PublicUrl>,
}

fn optional_public_url<'de, D>(deserializer: D) -> Result<Option<PublicUrl>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let url = String::deserialize(deserializer)?;
    if url.trim().is_empty() {
        return Ok(None);
    }
    PublicUrl::parse(&url)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// An absolute `http`/`https` URL without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(url: &str) -> Result<Self, &'static str> {
        let url = url.trim().trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "must be an absolute http:// or https:// URL, e.g. https://auth.example.com",
            );
        }
        Ok(PublicUrl(url.to_owned()))
    }

    /// The URL of a server listening on `host:port`: the loopback address for a server that
    /// listens on every interface, brackets around an IPv6 address.
    fn of_listener(host: &str, port: u16) -> Self {
        let host = match host.trim_matches(['[', ']']) {
            "" | "0.0.0.0" | "::" => "127.0.0.1".to_owned(),
            v6 if v6.contains(':') => format!("[{v6}]"),
            name => name.to_owned(),
        };
        PublicUrl(format!("http://{host}:{port}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: NonZeroU32,
    /// How long a request waits for a database connection before answering 503.
    pub connect_timeout_seconds: NonZeroU32,
    /// How long the server waits at start for a database that cannot be reached yet; 0: not at
    /// all.
    pub startup_timeout_seconds: u32,
    pub run_migrations: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Empty counts as unset (a blank line in `.env`).
    #[serde(default, deserialize_with = "non_empty_secret")]
    pub secret: Option<SecretString>,
    /// Where the secret came from (`JWT_SECRET_KEY from /srv/.env line 7`), for messages.
    #[serde(skip)]
    pub secret_origin: Option<String>,
    pub algorithm: KeyAlgorithm,
    /// Empty: the public URL.
    #[serde(default)]
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: NonZeroU32,
    pub refresh_ttl_seconds: NonZeroU32,
    pub refresh_reuse_grace_seconds: u32,
    pub leeway_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// The current key is rotated when it is this old; 0: only by hand.
    pub rotate_after_days: u32,
    /// How often every replica reloads the keys (and rotates or retires what is due).
    pub reload_seconds: NonZeroU32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub bcrypt_cost: Cost,
    /// How many hashes may run at once; default: the number of cores.
    #[serde(default)]
    pub max_concurrent_hashes: Option<NonZeroUsize>,
    /// How many more may wait for a turn before logins are shed with 503.
    pub max_queued_hashes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    pub max_failed_attempts: NonZeroU32,
    pub duration_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub login_per_minute: u32,
    pub register_per_minute: u32,
    pub refresh_per_minute: u32,
    pub password_per_minute: u32,
    pub users_update_per_minute: u32,
    pub revoke_per_minute: u32,
    pub mfa_per_minute: u32,
    pub introspect_per_minute: u32,
    pub forgot_password_per_minute: u32,
    pub forgot_password_per_hour: u32,
    pub password_reset_per_minute: u32,
    pub email_verify_per_minute: u32,
    pub mail_send_per_minute: u32,
    pub trusted_proxies: TrustedProxies,
    pub store: RateLimitStoreKind,
}

/// Where rate-limit counts live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitStoreKind {
    /// Unset: the database on PostgreSQL (replicas share one budget), memory on SQLite.
    #[serde(rename = "")]
    Auto,
    Memory,
    Database,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: AllowedOrigins,
}

/// Origins allowed cross-origin access, from a comma-separated string: `scheme://host[:port]`
/// each, or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<String> for AllowedOrigins {
    type Error = String;

    fn try_from(list: String) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                if origin == "*" || is_origin(origin) {
                    Ok(origin.to_owned())
                } else {
                    Err(format!(
                        "{origin:?} is not an origin like https://app.example.com"
                    ))
                }
            })
            .collect::<Result<_, _>>()
            .map(AllowedOrigins)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingSettings {
    pub interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Records older than this many days are deleted by housekeeping.
    pub retention_days: NonZeroU32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub require_verified_email: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// The password grant for a request that names no client.
    pub password_grant: bool,
    /// An authorization code's lifetime.
    pub code_ttl_seconds: NonZeroU32,
}

/// The browser session behind the sign-in pages (single sign-on).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    pub ttl_seconds: NonZeroU32,
    pub idle_seconds: NonZeroU32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// Holds the relay's password, if any.
    #[serde(default, deserialize_with = "non_empty_secret")]
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub file_dir: String,
    /// With `{token}`; empty: this service's own page (filled in at load).
    #[serde(default)]
    pub reset_link: String,
    #[serde(default)]
    pub verify_link: String,
    /// Where the recovery pages send people once done (an app's sign-in page); empty: they
    /// only say what to do next.
    #[serde(default)]
    pub sign_in_link: String,
    pub reset_ttl_seconds: NonZeroU32,
    pub verify_ttl_seconds: NonZeroU32,
    pub per_recipient_per_hour: NonZeroU32,
    pub max_attempts: NonZeroU32,
    pub retry_after_seconds: NonZeroU32,
    pub poll_interval_ms: NonZeroU32,
    pub timeout_seconds: NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

fn non_empty_secret<'de, D>(deserializer: D) -> Result<Option<SecretString>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let secret = Option::<SecretString>::deserialize(deserializer)?;
    Ok(secret.filter(|s| !s.expose_secret().is_empty()))
}

impl Settings {
    /// Reads the process's configuration (after loading `.env`, which never overrides a variable
    /// already set).
    pub fn load() -> Result<Self, ConfigError> {
        let (vars, origins) = env_file::load()?;
        let mut settings = Self::from_vars(&vars, true)?;
        settings.jwt.secret_origin = ["JWT_SECRET_KEY", "APP__JWT__SECRET"]
            .into_iter()
            .find(|name| vars.get(*name).is_some_and(|v| !v.is_empty()))
            .map(|name| format!("{name} from {}", origins.of(name)));
        Ok(settings)
    }

    /// Fills in what depends on where the server listens: the public URL when it is not set
    /// (development and test; production requires it), and from it the issuer and the mail
    /// links when they are not set.
    pub fn listening_on(&mut self, host: &str, port: u16) {
        let url = self
            .server
            .public_url
            .get_or_insert_with(|| PublicUrl::of_listener(host, port))
            .clone();
        if self.jwt.issuer.trim().is_empty() {
            self.jwt.issuer = url.as_str().to_owned();
        }
        for link in [
            &mut self.mail.reset_link,
            &mut self.mail.verify_link,
            &mut self.mail.sign_in_link,
        ] {
            *link = link.replace("{public_url}", url.as_str());
        }
    }

    /// What serving needs beyond what every command needs: in production, the URL clients
    /// reach the service at (a migration or a key rotation does without it).
    pub fn check_serving(&self) -> Result<(), ConfigError> {
        if self.env == AppEnv::Production && self.server.public_url.is_none() {
            return Err(ConfigError::new(
                "APP__SERVER__PUBLIC_URL",
                "is required to serve in production: the URL clients reach this service at \
                 (e.g. https://auth.example.com); tokens, discovery and mailed links use it",
            ));
        }
        Ok(())
    }

    /// [`Settings::listening_on`] the configured address, for the commands that do not serve.
    pub fn at_configured_address(mut self) -> Self {
        let (host, port) = (self.server.host.clone(), self.server.port);
        self.listening_on(&host, port);
        self
    }

    /// Builds the settings from the given variables alone (tests use this: no process state).
    pub fn from_vars(vars: &HashMap<String, String>, read_disk: bool) -> Result<Self, ConfigError> {
        let (env, config) = layered(vars, read_disk)?;
        // Each value is checked by its type as it is read; the path of the one that fails names
        // its key.
        let mut settings: Settings = serde_path_to_error::deserialize(config).map_err(|err| {
            let key = variable_of(&err.path().to_string());
            ConfigError::new(&key, err.into_inner().to_string())
        })?;
        settings.env = env;
        settings.admin_bootstrap = admin_bootstrap(vars)?;
        settings.mail.check_links()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The rules that join several values or depend on the environment; every single value
    /// was checked by its type when it was read.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.env == AppEnv::Production {
            self.validate_for_production()?;
            if self.mail.transport != MailTransport::Smtp {
                return Err(ConfigError::new(
                    "APP__MAIL__TRANSPORT",
                    "production sends mail over smtp (set APP__MAIL__SMTP_URL)",
                ));
            }
        }
        if self.mail.transport == MailTransport::Smtp {
            let url = self.mail.smtp_url.as_ref().ok_or_else(|| {
                ConfigError::new("APP__MAIL__SMTP_URL", "is required with the smtp transport")
            })?;
            // The error never repeats the URL: it may hold a password.
            infra_smtp::SmtpTarget::parse(url.expose_secret())
                .map_err(|err| ConfigError::new("APP__MAIL__SMTP_URL", err.to_string()))?;
        }
        Ok(())
    }

    fn validate_for_production(&self) -> Result<(), ConfigError> {
        match &self.jwt.secret {
            None => Err(ConfigError::new(
                "JWT_SECRET_KEY",
                "is required in production (or APP__JWT__SECRET)",
            )),
            Some(secret) if secret.expose_secret().len() < MIN_SECRET_BYTES => {
                Err(ConfigError::new(
                    "JWT_SECRET_KEY",
                    format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                ))
            }
            Some(secret) if looks_like_a_placeholder(secret.expose_secret()) => {
                Err(ConfigError::new(
                    "JWT_SECRET_KEY",
                    "looks like a placeholder, not a random secret (try `openssl rand -hex 32`)",
                ))
            }
            Some(_) if self.password.bcrypt_cost.get() < MIN_PRODUCTION_BCRYPT_COST => {
                Err(ConfigError::new(
                    "APP__PASSWORD__BCRYPT_COST",
                    format!("must be at least {MIN_PRODUCTION_BCRYPT_COST} in production"),
                ))
            }
            Some(_) => Ok(()),
        }
    }
}

impl MailSettings {
    /// Empty links point at this service's own pages; `{public_url}` is the public URL, filled in
    /// once it is known ([`Settings::listening_on`]).
    fn check_links(&mut self) -> Result<(), ConfigError> {
        for (link, page, key) in [
            (
                &mut self.reset_link,
                "reset-password",
                "APP__MAIL__RESET_LINK",
            ),
            (
                &mut self.verify_link,
                "verify-email",
                "APP__MAIL__VERIFY_LINK",
            ),
        ] {
            if link.trim().is_empty() {
                *link = format!("{{public_url}}/{page}?token={{token}}");
            }
            *link = link.trim().to_owned();
            if !link.contains("{token}") {
                return Err(ConfigError::new(key, "must contain {token}"));
            }
            if !["https://", "http://", "{public_url}"]
                .iter()
                .any(|start| link.starts_with(start))
            {
                return Err(ConfigError::new(key, "must be an absolute http(s) URL"));
            }
        }
        self.sign_in_link = self.sign_in_link.trim().to_owned();
        if !self.sign_in_link.is_empty()
            && !["https://", "http://", "{public_url}"]
                .iter()
                .any(|start| self.sign_in_link.starts_with(start))
        {
            return Err(ConfigError::new(
                "APP__MAIL__SIGN_IN_LINK",
                "must be an absolute http(s) URL",
            ));
        }
        Ok(())
    }
}

fn admin_bootstrap(vars: &HashMap<String, String>) -> Result<Option<AdminBootstrap>, ConfigError> {
    let names = ["ADMIN_USERNAME", "ADMIN_EMAIL", "ADMIN_PASSWORD"];
    let values = names.map(|name| vars.get(name).filter(|v| !v.is_empty()));
    match values {
        [None, None, None] => Ok(None),
        [Some(username), Some(email), Some(password)] => Ok(Some(AdminBootstrap {
            username: username.clone(),
            email: email.clone(),
            password: SecretString::from(password.as_str()),
        })),
        _ => {
            let missing = names
                .iter()
                .zip(values)
                .find(|(_, value)| value.is_none())
                .map_or("ADMIN_PASSWORD", |(name, _)| name);
            Err(ConfigError::new(
                missing,
                "ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD go together",
            ))
        }
    }
}

/// Words that only a hand-typed example secret contains, or too few distinct characters.
fn looks_like_a_placeholder(secret: &str) -> bool {
    let lower = secret.to_lowercase();
    let distinct: std::collections::HashSet<char> = secret.chars().collect();
    [
        "change",
        "example",
        "secret",
        "placeholder",
        "your",
        "default",
        "password",
    ]
    .iter()
    .any(|word| lower.contains(word))
        || distinct.len() < 10
}

/// `scheme://host[:port]`, nothing after.
fn is_origin(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains('/')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The layers of the contract, merged: built-in files, files on disk, `APP__…` variables, then
/// the conventional names.
fn layered(
    vars: &HashMap<String, String>,
    read_disk: bool,
) -> Result<(AppEnv, Config), ConfigError> {
    let env = match vars.get("APP_ENV") {
        Some(value) => AppEnv::parse(value)?,
        None => AppEnv::Development,
    };
    let app_vars: HashMap<String, String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("APP__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut builder = Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .add_source(File::from_str(env.toml(), FileFormat::Toml));
    if read_disk {
        builder = builder
            .add_source(File::with_name("config/default").required(false))
            .add_source(File::with_name(&format!("config/{}", env.as_str())).required(false));
    }
    builder = builder.add_source(
        EnvSource::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(app_vars)),
    );
    let overrides = [
        ("database.url", "DATABASE_URL"),
        ("jwt.secret", "JWT_SECRET_KEY"),
    ];
    for (key, var) in overrides {
        // An empty value (a blank line in .env) counts as unset.
        if let Some(value) = vars.get(var).filter(|v| !v.is_empty()) {
            builder = builder
                .set_override(key, value.clone())
                .map_err(|err| ConfigError::new(var, err.to_string()))?;
        }
    }
    let config = builder
        .build()
        .map_err(|err| ConfigError::new("configuration", err.to_string()))?;
    Ok((env, config))
}

impl ServerSettings {
    /// Only where the server listens, read from the same layers as everything else: what
    /// `healthcheck` needs, without the rest of the configuration (a production secret, say).
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_vars(&env_file::load()?.0, true)
    }

    pub fn from_vars(vars: &HashMap<String, String>, read_disk: bool) -> Result<Self, ConfigError> {
        let (_, config) = layered(vars, read_disk)?;
        let server = config
            .get::<config::Value>("server")
            .map_err(|err| ConfigError::new("APP__SERVER", err.to_string()))?;
        serde_path_to_error::deserialize(server).map_err(|err| {
            let key = variable_of(&format!("server.{}", err.path()));
            ConfigError::new(&key, err.into_inner().to_string())
        })
    }
}

/// The variable that sets the value at `path` (`jwt.algorithm` → `APP__JWT__ALGORITHM`; the
/// conventional names for the two that have one).
fn variable_of(path: &str) -> String {
    match path {
        "database.url" => "DATABASE_URL".to_owned(),
        "jwt.secret" => "JWT_SECRET_KEY".to_owned(),
        "" | "." => "configuration".to_owned(),
        path => format!("APP__{}", path.replace('.', "__").to_uppercase()),
    }
}

#[cfg(test)]
mod tests;
