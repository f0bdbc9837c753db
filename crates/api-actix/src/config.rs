//! Configuration, layered as the contract says: `config/default.toml`, `config/{APP_ENV}.toml`,
//! `.env`, then `APP__SECTION__KEY` environment variables; `DATABASE_URL` and `JWT_SECRET_KEY` win.
//! The TOML files are built into the binary; copies found in `./config/` are layered over them.

use std::collections::HashMap;
use std::fmt;

use config::{Config, Environment as EnvSource, File, FileFormat};
use serde::Deserialize;

use crate::client_ip::TrustedProxies;

const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
const DEVELOPMENT_TOML: &str = include_str!("../../../config/development.toml");
const TEST_TOML: &str = include_str!("../../../config/test.toml");
const PRODUCTION_TOML: &str = include_str!("../../../config/production.toml");

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

/// A secret whose value never reaches a log line.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
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
    pub password: PasswordSettings,
    pub lockout: LockoutSettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub housekeeping: HousekeepingSettings,
    pub audit: AuditSettings,
    pub log: LogSettings,
    /// The first admin for container deployments, from `ADMIN_USERNAME`, `ADMIN_EMAIL` and
    /// `ADMIN_PASSWORD`: created at start only while no active admin exists.
    #[serde(skip)]
    pub admin_bootstrap: Option<AdminBootstrap>,
}

#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub username: String,
    pub email: String,
    pub password: Secret,
}

fn default_env() -> AppEnv {
    AppEnv::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a database connection before answering 503.
    pub connect_timeout_seconds: u32,
    pub run_migrations: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    #[serde(default)]
    pub secret: Option<Secret>,
    pub algorithm: String,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u32,
    pub refresh_ttl_seconds: u32,
    pub refresh_reuse_grace_seconds: u32,
    pub leeway_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    /// How many hashes may run at once; default: the number of cores.
    #[serde(default)]
    pub max_concurrent_hashes: Option<usize>,
    /// How many more may wait for a turn before logins are shed with 503.
    pub max_queued_hashes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    pub max_failed_attempts: u32,
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
    pub trusted_proxies: String,
    pub store: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: String,
}

impl CorsSettings {
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
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
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: String,
}

impl Settings {
    /// Reads the process's configuration (after loading `.env`, which never overrides a variable
    /// already set).
    pub fn load() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError::new(".env", err.to_string()));
        }
        Self::from_vars(&std::env::vars().collect(), true)
    }

    /// Builds the settings from the given variables alone (tests use this: no process state).
    pub fn from_vars(vars: &HashMap<String, String>, read_disk: bool) -> Result<Self, ConfigError> {
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
        let mut settings: Settings = config
            .try_deserialize()
            .map_err(|err| ConfigError::new(&key_of(&err.to_string()), err.to_string()))?;
        settings.env = env;
        settings.jwt.secret = settings.jwt.secret.filter(|s| !s.expose().is_empty());
        settings.admin_bootstrap = admin_bootstrap(vars)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !infra_jwt::SUPPORTED_ALGORITHMS.contains(&self.jwt.algorithm.as_str()) {
            return Err(ConfigError::new(
                "APP__JWT__ALGORITHM",
                format!(
                    "{:?} is not supported; use one of {}",
                    self.jwt.algorithm,
                    infra_jwt::SUPPORTED_ALGORITHMS.join(", ")
                ),
            ));
        }
        let cost = self.password.bcrypt_cost;
        if !(infra_bcrypt::MIN_COST..=infra_bcrypt::MAX_COST).contains(&cost) {
            return Err(ConfigError::new(
                "APP__PASSWORD__BCRYPT_COST",
                format!(
                    "{cost} is out of range {}..={}",
                    infra_bcrypt::MIN_COST,
                    infra_bcrypt::MAX_COST
                ),
            ));
        }
        if self.password.max_concurrent_hashes == Some(0) {
            return Err(ConfigError::new(
                "APP__PASSWORD__MAX_CONCURRENT_HASHES",
                "must be at least 1",
            ));
        }
        validate_database_url(&self.database.url)?;
        if self.database.connect_timeout_seconds == 0 {
            return Err(ConfigError::new(
                "APP__DATABASE__CONNECT_TIMEOUT_SECONDS",
                "must be at least 1",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "APP__DATABASE__MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.jwt.access_ttl_seconds == 0 || self.jwt.refresh_ttl_seconds == 0 {
            return Err(ConfigError::new(
                "APP__JWT__ACCESS_TTL_SECONDS",
                "token lifetimes must be at least one second",
            ));
        }
        if self.lockout.max_failed_attempts == 0 {
            return Err(ConfigError::new(
                "APP__LOCKOUT__MAX_FAILED_ATTEMPTS",
                "must be at least 1",
            ));
        }
        if self.audit.retention_days == 0 {
            return Err(ConfigError::new(
                "APP__AUDIT__RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(ConfigError::new(
                "APP__LOG__FORMAT",
                format!("{:?} is not one of pretty, json", self.log.format),
            ));
        }
        TrustedProxies::parse(&self.rate_limit.trusted_proxies)
            .map_err(|err| ConfigError::new("APP__RATE_LIMIT__TRUSTED_PROXIES", err))?;
        for origin in self.cors.origins() {
            if origin != "*" && !is_origin(origin) {
                return Err(ConfigError::new(
                    "APP__CORS__ALLOWED_ORIGINS",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
        }
        if !matches!(self.rate_limit.store.as_str(), "" | "memory" | "database") {
            return Err(ConfigError::new(
                "APP__RATE_LIMIT__STORE",
                format!("{:?} is not one of memory, database", self.rate_limit.store),
            ));
        }
        if self.env == AppEnv::Production {
            self.validate_for_production()?;
        }
        Ok(())
    }

    fn validate_for_production(&self) -> Result<(), ConfigError> {
        match &self.jwt.secret {
            None => Err(ConfigError::new(
                "JWT_SECRET_KEY",
                "is required in production (or APP__JWT__SECRET)",
            )),
            Some(secret) if secret.expose().len() < MIN_SECRET_BYTES => Err(ConfigError::new(
                "JWT_SECRET_KEY",
                format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
            )),
            Some(secret) if looks_like_a_placeholder(secret.expose()) => Err(ConfigError::new(
                "JWT_SECRET_KEY",
                "looks like a placeholder, not a random secret (try `openssl rand -hex 32`)",
            )),
            Some(_) if self.password.bcrypt_cost < MIN_PRODUCTION_BCRYPT_COST => {
                Err(ConfigError::new(
                    "APP__PASSWORD__BCRYPT_COST",
                    format!("must be at least {MIN_PRODUCTION_BCRYPT_COST} in production"),
                ))
            }
            Some(_) => Ok(()),
        }
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
            password: Secret::new(password.clone()),
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

fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    let key = "DATABASE_URL";
    if url.trim().is_empty() {
        return Err(ConfigError::new(key, "is empty"));
    }
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        if host.is_empty() || host.starts_with('/') || host.starts_with(':') {
            return Err(ConfigError::new(key, "a PostgreSQL URL must name a host"));
        }
    } else if url.contains("://") && !url.starts_with("sqlite://") {
        return Err(ConfigError::new(
            key,
            "must be postgres://…, sqlite://…, or a SQLite file path",
        ));
    }
    Ok(())
}

/// The environment variable behind the key that the config crate's message names, if any.
fn key_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(|key| format!("APP__{}", key.replace('.', "__").to_uppercase()))
        .unwrap_or_else(|| "configuration".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRONG: &str = "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903";

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_vars(&vars, false)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = load(&[]).unwrap();
        assert_eq!(s.env, AppEnv::Development);
        assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
        assert_eq!(s.database.url, "data/auth.db");
        assert_eq!(s.jwt.algorithm, "HS256");
        assert_eq!(
            (s.jwt.issuer.as_str(), s.jwt.audience.as_str()),
            ("auth-api", "auth-api")
        );
        assert_eq!(
            (s.jwt.access_ttl_seconds, s.jwt.refresh_ttl_seconds),
            (900, 2_592_000)
        );
        assert_eq!(s.jwt.refresh_reuse_grace_seconds, 10);
        assert_eq!(s.jwt.leeway_seconds, 0);
        assert_eq!(s.password.bcrypt_cost, 12);
        assert_eq!(
            (s.lockout.max_failed_attempts, s.lockout.duration_seconds),
            (5, 900)
        );
        assert!(s.rate_limit.enabled);
        assert_eq!(s.log.format, "pretty");
        assert!(s.jwt.secret.is_none());
    }

    #[test]
    fn environment_variables_override_files_and_conventional_names_win() {
        let s = load(&[
            ("APP__SERVER__PORT", "9001"),
            ("APP__JWT__LEEWAY_SECONDS", "30"),
            ("APP__DATABASE__URL", "from-app.db"),
            ("DATABASE_URL", "postgres://u@db:5432/auth"),
            ("APP__JWT__SECRET", "from-app"),
            ("JWT_SECRET_KEY", "from-conventional"),
        ])
        .unwrap();
        assert_eq!(s.server.port, 9001);
        assert_eq!(s.jwt.leeway_seconds, 30);
        assert_eq!(s.database.url, "postgres://u@db:5432/auth");
        assert_eq!(s.jwt.secret.unwrap().expose(), "from-conventional");
    }

    #[test]
    fn app_env_selects_its_file() {
        assert_eq!(
            load(&[("APP_ENV", "test")]).unwrap().password.bcrypt_cost,
            4
        );
        let s = load(&[("APP_ENV", "production"), ("JWT_SECRET_KEY", STRONG)]).unwrap();
        assert_eq!(s.log.format, "json");
        assert_eq!(s.server.host, "0.0.0.0");
    }

    #[test]
    fn bad_values_are_refused_naming_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("APP_ENV", "staging")], "APP_ENV"),
            (&[("APP__SERVER__PORT", "eighty")], "APP__SERVER__PORT"),
            (&[("APP__JWT__ALGORITHM", "none")], "APP__JWT__ALGORITHM"),
            (
                &[("APP__PASSWORD__BCRYPT_COST", "3")],
                "APP__PASSWORD__BCRYPT_COST",
            ),
            (
                &[("APP__PASSWORD__BCRYPT_COST", "32")],
                "APP__PASSWORD__BCRYPT_COST",
            ),
            (&[("DATABASE_URL", "mysql://h/db")], "DATABASE_URL"),
            (&[("DATABASE_URL", "postgres://")], "DATABASE_URL"),
            (&[("APP__LOG__FORMAT", "xml")], "APP__LOG__FORMAT"),
            (&[("APP_ENV", "production")], "JWT_SECRET_KEY"),
            (
                &[("APP_ENV", "production"), ("JWT_SECRET_KEY", "short")],
                "JWT_SECRET_KEY",
            ),
        ];
        for (vars, key) in cases {
            let err = load(vars).unwrap_err();
            assert_eq!(&err.key, key, "{vars:?}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn the_admin_bootstrap_needs_all_three_variables() {
        assert!(load(&[]).unwrap().admin_bootstrap.is_none());
        let s = load(&[
            ("ADMIN_USERNAME", "root_admin"),
            ("ADMIN_EMAIL", "root@example.com"),
            ("ADMIN_PASSWORD", "password1"),
        ])
        .unwrap();
        let admin = s.admin_bootstrap.unwrap();
        assert_eq!(admin.username, "root_admin");
        assert!(!format!("{admin:?}").contains("password1"));
        let err = load(&[
            ("ADMIN_USERNAME", "root_admin"),
            ("ADMIN_PASSWORD", "password1"),
        ])
        .unwrap_err();
        assert_eq!(err.key, "ADMIN_EMAIL");
    }

    #[test]
    fn production_refuses_cheap_hashing() {
        let err = load(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", STRONG),
            ("APP__PASSWORD__BCRYPT_COST", "9"),
        ])
        .unwrap_err();
        assert_eq!(err.key, "APP__PASSWORD__BCRYPT_COST");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = load(&[("JWT_SECRET_KEY", "super-secret-value")]).unwrap();
        assert!(!format!("{s:?}").contains("super-secret-value"));
    }
}
