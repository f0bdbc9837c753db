//! Builds the adapters from the settings, hands them to the domain's services, and serves.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::Duration;
use domain::{
    AuthPolicy, AuthService, Clock, DomainError, LoginThrottleRepository, NewUser, Ports,
    SessionRepository, UserRepository, UserService,
};
use infra_bcrypt::BcryptHasher;
use infra_diesel::DieselStore;
use infra_jwt::JwtCodec;

use crate::clock::SystemClock;
use crate::config::{AdminBootstrap, Settings};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{request_id, routes, secrets};

/// The storage ports, from one adapter.
#[derive(Clone)]
pub struct Storage {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub throttle: Arc<dyn LoginThrottleRepository>,
}

impl Storage {
    /// Every port from one store that implements them all.
    pub fn from_store<S>(store: S) -> Self
    where
        S: UserRepository + SessionRepository + LoginThrottleRepository + Clone + 'static,
    {
        Storage {
            users: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            throttle: Arc::new(store),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] infra_diesel::StoreSetupError),
    #[error("cannot migrate the database: {0}")]
    Migrate(domain::StoreError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretFileError),
    #[error("invalid configuration: APP__JWT__ALGORITHM / JWT_SECRET_KEY: {0}")]
    Jwt(#[from] infra_jwt::JwtConfigError),
    #[error("invalid configuration: APP__PASSWORD__BCRYPT_COST: {0}")]
    Bcrypt(#[from] infra_bcrypt::BcryptConfigError),
    #[error("cannot create the first admin from ADMIN_USERNAME/ADMIN_EMAIL/ADMIN_PASSWORD: {0}")]
    AdminBootstrap(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// Opens the configured database (on the blocking pool: connecting blocks) and migrates it
/// unless disabled.
pub async fn open_database(settings: &Settings) -> Result<DieselStore, StartupError> {
    let (url, size) = (
        settings.database.url.clone(),
        settings.database.max_connections,
    );
    let store = tokio::task::spawn_blocking(move || DieselStore::connect(&url, size))
        .await
        .expect("the connect task does not panic")?;
    if settings.database.run_migrations {
        let applied = store.migrate().await.map_err(StartupError::Migrate)?;
        tracing::info!(applied, backend = ?store.backend(), "database ready");
    }
    Ok(store)
}

/// The domain's ports on the configured adapters.
pub fn build_ports(
    settings: &Settings,
    storage: Storage,
    clock: Arc<dyn Clock>,
) -> Result<Ports, StartupError> {
    let secret = secrets::jwt_secret(settings)?;
    let max_hashes = settings
        .password
        .max_concurrent_hashes
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    Ok(Ports {
        users: storage.users,
        sessions: storage.sessions,
        throttle: storage.throttle,
        hasher: Arc::new(BcryptHasher::new(
            settings.password.bcrypt_cost,
            max_hashes,
        )?),
        tokens: Arc::new(JwtCodec::new(
            &settings.jwt.algorithm,
            secret.expose().as_bytes(),
        )?),
        clock,
    })
}

pub fn auth_policy(settings: &Settings) -> AuthPolicy {
    let jwt = &settings.jwt;
    AuthPolicy {
        issuer: jwt.issuer.clone(),
        audience: jwt.audience.clone(),
        access_ttl: Duration::seconds(jwt.access_ttl_seconds.into()),
        refresh_ttl: Duration::seconds(jwt.refresh_ttl_seconds.into()),
        refresh_reuse_grace: Duration::seconds(jwt.refresh_reuse_grace_seconds.into()),
        leeway: Duration::seconds(jwt.leeway_seconds.into()),
        max_failed_attempts: settings.lockout.max_failed_attempts,
        lockout_duration: Duration::seconds(settings.lockout.duration_seconds.into()),
    }
}

async fn bootstrap_admin(users: &UserService, admin: &AdminBootstrap) -> Result<(), StartupError> {
    let new_admin = NewUser {
        username: admin.username.clone(),
        email: admin.email.clone(),
        password: admin.password.expose().to_owned(),
        name: None,
    };
    match users.bootstrap_admin(new_admin).await {
        Ok(Some(created)) => {
            tracing::info!(user_id = %created.id, "first admin created from ADMIN_USERNAME");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(err) => Err(StartupError::AdminBootstrap(describe(&err))),
    }
}

/// A domain error as one line for an operator, with every field problem spelled out.
pub fn describe(err: &DomainError) -> String {
    match err {
        DomainError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// The production wiring: the diesel store and the system clock.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let store = open_database(settings).await?;
        Self::build_with(settings, Storage::from_store(store), Arc::new(SystemClock)).await
    }

    /// Any storage adapter and clock: tests swap them here.
    pub async fn build_with(
        settings: &Settings,
        storage: Storage,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let ports = build_ports(settings, storage, clock)?;
        let state = web::Data::new(AppState {
            auth: AuthService::new(ports.clone(), auth_policy(settings)),
            users: UserService::new(ports),
        });
        if let Some(admin) = &settings.admin_bootstrap {
            bootstrap_admin(&state.users, admin).await?;
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?
            .port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::InvalidBody(vec![domain::FieldError::new(
                        "query",
                        "invalid",
                        err.to_string(),
                    )])
                    .into()
                }))
                .configure(routes::configure)
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::NotFound)
                }))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "no-referrer"))
                        .add((
                            "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'",
                        )),
                )
                .wrap(from_fn(request_id::middleware))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: format!("port {port}"),
            source,
        })?
        .shutdown_timeout(10)
        .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
