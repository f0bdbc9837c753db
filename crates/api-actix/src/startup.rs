//! Builds the adapters from the settings, hands them to the domain's services, and serves.

use std::net::TcpListener;
use std::num::NonZeroUsize;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::Condition;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use chrono::Duration;
use domain::{
    AccountMail, AuthPolicy, AuthService, ClientInfo, Clock, DeliveryPolicy, DomainError,
    Housekeeping, KeyPolicy, KeyService, MailDelivery, MailPolicy, Mailer, MfaPorts, NewUser,
    Ports, RateLimitPolicy, RateLimiter, RecoveryService, Stores, UserService,
};
use infra_bcrypt::BcryptHasher;
use infra_crypto::{Fingerprinter, S256, Sealer};
use infra_diesel::{Backend, DieselStore};
use infra_file_mail::FileMailer;
use infra_jwt::{JwtCodec, KeyPairs};
use infra_memory::MemoryRateLimitStore;
use infra_smtp::SmtpMailer;
use infra_totp::TotpCodes;

use crate::audit::ObservedAudit;
use crate::clock::SystemClock;
use crate::config::{AdminBootstrap, MailTransport, RateLimitStoreKind, Settings};
use crate::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::openapi::ApiDoc;
use crate::pre_routing::ContractIo;
use crate::state::AppState;
use crate::{bounded_body, head, headers, request_id, routes, secrets};
use secrecy::ExposeSecret;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

/// Serves `make_app` on `listener` over HTTP/1.1, as actix-web's `HttpServer` would, but on
/// connections whose pre-routing errors answer in the contract's words (`pre_routing`).
fn serve<F, A, B>(listener: TcpListener, make_app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
    let local = listener.local_addr()?;
    let server = actix_server::Server::build()
        .listen("auth-api", listener, move || {
            let app = make_app()
                .into_factory()
                .map_err(|err: actix_web::Error| err.error_response());
            let http = actix_http::HttpService::build()
                .keep_alive(actix_http::KeepAlive::Timeout(REQUEST_TIMEOUT))
                .client_request_timeout(REQUEST_TIMEOUT)
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(local)
                .h1(map_config(app, |_| actix_web::dev::AppConfig::default()));
            fn_service(|io: actix_rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    ContractIo::new(io),
                    peer,
                )))
            })
            .and_then(http)
        })?
        .shutdown_timeout(10)
        // actix stops at once on SIGINT; this server finishes what is in flight on Ctrl-C too.
        .disable_signals()
        .run();
    Ok(server)
}

/// How long a client may take to send a request's head, and keep an idle connection open.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Rate-limit counts live in the database when replicas must share them (the default on
/// PostgreSQL), else in this process.
fn shares_rate_limits(settings: &Settings, backend: Backend) -> bool {
    match settings.rate_limit.store {
        RateLimitStoreKind::Database => true,
        RateLimitStoreKind::Memory => false,
        RateLimitStoreKind::Auto => backend == Backend::Postgres,
    }
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers([
            "x-request-id",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
        ])
        .max_age(3600)
        // Other origins get no CORS headers (the browser then refuses), not a non-JSON error.
        .block_on_origin_mismatch(false);
    // Bearer tokens need no cookies: credentials are never allowed, so `*` is safe to offer.
    for origin in settings.cors.allowed_origins.iter() {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] infra_diesel::StoreSetupError),
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("cannot migrate the database: {0}")]
    Migrate(domain::StoreError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("invalid configuration: JWT_SECRET_KEY: {0}")]
    Jwt(#[from] infra_jwt::JwtConfigError),
    #[error("cannot load the signing keys: {0}")]
    Keys(String),
    #[error("invalid configuration: {key}: {message}")]
    Mail { key: &'static str, message: String },
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
    let store = connect_waiting(settings).await?;
    if settings.database.run_migrations {
        let applied = store.migrate().await.map_err(StartupError::Migrate)?;
        tracing::info!(applied, backend = ?store.backend(), "database ready");
    }
    Ok(store)
}

/// Connects, and while the database cannot be reached (a compose stack starting in any order),
/// tries again with a growing pause for up to `APP__DATABASE__STARTUP_TIMEOUT_SECONDS`.
async fn connect_waiting(settings: &Settings) -> Result<DieselStore, StartupError> {
    let database = &settings.database;
    let patience = std::time::Duration::from_secs(database.startup_timeout_seconds.into());
    let timeout = std::time::Duration::from_secs(database.connect_timeout_seconds.get().into());
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        let (url, size) = (database.url.clone(), database.max_connections.get());
        let connected =
            tokio::task::spawn_blocking(move || DieselStore::connect(&url, size, timeout))
                .await
                .map_err(|err| StartupError::Connect(err.to_string()))?;
        match connected {
            Ok(store) => return Ok(store),
            Err(infra_diesel::StoreSetupError::Pool(err))
                if started.elapsed() + pause < patience =>
            {
                tracing::warn!(
                    error = %err,
                    waited_seconds = started.elapsed().as_secs(),
                    retry_in_ms = pause.as_millis() as u64,
                    "the database cannot be reached yet; waiting for it \
                     (up to APP__DATABASE__STARTUP_TIMEOUT_SECONDS)"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// What authenticator apps show above a user's account.
const TOTP_ISSUER: &str = "auth-api";

/// The domain's ports on the configured adapters.
pub fn build_ports(
    settings: &Settings,
    mut stores: Stores,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> Result<Ports, StartupError> {
    let secret = secrets::jwt_secret(settings)?;
    let max_hashes = settings
        .password
        .max_concurrent_hashes
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    stores.audit = Arc::new(ObservedAudit::new(stores.audit, metrics));
    Ok(Ports {
        stores,
        hasher: Arc::new(BcryptHasher::new(
            settings.password.bcrypt_cost,
            max_hashes,
            settings.password.max_queued_hashes,
        )),
        tokens: Arc::new(
            JwtCodec::new(settings.jwt.algorithm, secret.expose_secret().as_bytes())?
                .with_max_lifetime(longest_token_lifetime(settings)),
        ),
        key_generator: Arc::new(KeyPairs),
        clock,
        mfa: MfaPorts {
            codes: Arc::new(TotpCodes::new(TOTP_ISSUER)),
            sealer: Arc::new(Sealer::from_secret(&secret)),
            fingerprints: Arc::new(Fingerprinter::from_secret(&secret)),
        },
        pkce: Arc::new(S256),
    })
}

/// The configured mail transport.
pub fn build_mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    let mail = &settings.mail;
    let from_error = |message: String| StartupError::Mail {
        key: "APP__MAIL__FROM",
        message,
    };
    match mail.transport {
        MailTransport::Smtp => {
            let url = mail.smtp_url.as_ref().ok_or(StartupError::Mail {
                key: "APP__MAIL__SMTP_URL",
                message: "is required with the smtp transport".into(),
            })?;
            let timeout = std::time::Duration::from_secs(mail.timeout_seconds.get().into());
            SmtpMailer::new(url, &mail.from, timeout)
                .map(|mailer| Arc::new(mailer) as Arc<dyn Mailer>)
                .map_err(|err| match err {
                    infra_smtp::SmtpConfigError::From => from_error(err.to_string()),
                    other => StartupError::Mail {
                        key: "APP__MAIL__SMTP_URL",
                        message: other.to_string(),
                    },
                })
        }
        MailTransport::File => {
            let folder = std::path::Path::new(&mail.file_dir);
            tracing::warn!(
                folder = %folder.display(),
                "mail is written to files, not sent (APP__MAIL__TRANSPORT=file: development only)"
            );
            FileMailer::new(folder, &mail.from)
                .map(|mailer| Arc::new(mailer) as Arc<dyn Mailer>)
                .map_err(|err| match err {
                    infra_file_mail::FileMailError::From => from_error(err.to_string()),
                    other => StartupError::Mail {
                        key: "APP__MAIL__FILE_DIR",
                        message: other.to_string(),
                    },
                })
        }
    }
}

pub fn mail_policy(settings: &Settings) -> MailPolicy {
    let mail = &settings.mail;
    MailPolicy {
        reset_link: mail.reset_link.clone(),
        verify_link: mail.verify_link.clone(),
        reset_ttl: Duration::seconds(mail.reset_ttl_seconds.get().into()),
        verify_ttl: Duration::seconds(mail.verify_ttl_seconds.get().into()),
        per_recipient_per_hour: mail.per_recipient_per_hour.get(),
    }
}

/// Messages one round of the outbox takes (and sends one after another).
const MAIL_BATCH: u32 = 5;
/// The steps of one delivery that each may take the whole timeout (connect, greeting, TLS,
/// auth, the envelope, the data), with room to spare.
const STEPS_PER_DELIVERY: i64 = 8;

pub fn delivery_policy(settings: &Settings) -> DeliveryPolicy {
    let mail = &settings.mail;
    DeliveryPolicy {
        max_attempts: mail.max_attempts.get(),
        first_retry: Duration::seconds(mail.retry_after_seconds.get().into()),
        max_retry: Duration::hours(1),
        // The whole round must end before its claim does, or another replica would send the
        // round's last messages again.
        lease: Duration::seconds(
            i64::from(MAIL_BATCH) * STEPS_PER_DELIVERY * i64::from(mail.timeout_seconds.get()),
        ),
        batch: MAIL_BATCH,
    }
}

/// A token signed by an unknown `kid` reloads the keys at most this often: a flood of made-up
/// kids costs at most two reads of the keys a second, and delays a key rotated on another
/// replica by at most this (contract section 17: under 1 s).
const UNKNOWN_KID_RELOAD_MILLIS: i64 = 500;

/// The longest any token of this configuration lives (`exp` after `iat`), with the leeway.
fn longest_token_lifetime(settings: &Settings) -> i64 {
    let jwt = &settings.jwt;
    i64::from(jwt.access_ttl_seconds.max(jwt.refresh_ttl_seconds).get())
        + i64::from(jwt.leeway_seconds)
}

pub fn key_policy(settings: &Settings) -> KeyPolicy {
    let jwt = &settings.jwt;
    let longest = jwt.access_ttl_seconds.max(jwt.refresh_ttl_seconds).get();
    let days = settings.keys.rotate_after_days;
    // A replica that has not reloaded since a rotation still signs with the old key that long.
    let reload = settings.keys.reload_seconds.get();
    KeyPolicy {
        algorithm: jwt.algorithm,
        rotate_after: (days > 0).then(|| Duration::days(days.into())),
        token_lifetime: Duration::seconds(
            i64::from(longest) + i64::from(jwt.leeway_seconds) + i64::from(reload),
        ),
        unknown_kid_reload_interval: Duration::milliseconds(UNKNOWN_KID_RELOAD_MILLIS),
    }
}

pub fn auth_policy(settings: &Settings) -> AuthPolicy {
    let jwt = &settings.jwt;
    AuthPolicy {
        issuer: jwt.issuer.clone(),
        audience: jwt.audience.clone(),
        access_ttl: Duration::seconds(jwt.access_ttl_seconds.get().into()),
        refresh_ttl: Duration::seconds(jwt.refresh_ttl_seconds.get().into()),
        refresh_reuse_grace: Duration::seconds(jwt.refresh_reuse_grace_seconds.into()),
        leeway: Duration::seconds(jwt.leeway_seconds.into()),
        max_failed_attempts: settings.lockout.max_failed_attempts.get(),
        lockout_duration: Duration::seconds(settings.lockout.duration_seconds.into()),
        require_verified_email: settings.auth.require_verified_email,
        password_grant: settings.oauth.password_grant,
        code_ttl: Duration::seconds(settings.oauth.code_ttl_seconds.get().into()),
        sso_ttl: Duration::seconds(settings.sso.ttl_seconds.get().into()),
        sso_idle: Duration::seconds(settings.sso.idle_seconds.get().into()),
    }
}

async fn bootstrap_admin(users: &UserService, admin: &AdminBootstrap) -> Result<(), StartupError> {
    let new_admin = NewUser {
        username: admin.username.as_str().into(),
        email: admin.email.as_str().into(),
        password: admin.password.expose_secret().into(),
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
    housekeeping: Housekeeping,
    housekeeping_interval: Option<std::time::Duration>,
    keys: Arc<KeyService>,
    keys_interval: std::time::Duration,
    delivery: MailDelivery,
    mail_interval: std::time::Duration,
    metrics: Arc<Metrics>,
}

impl Application {
    /// The production wiring: the diesel store and the system clock.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let store = open_database(settings).await?.cache_sessions()?;
        let backend = store.backend();
        let mut stores = store.stores();
        if !shares_rate_limits(settings, backend) {
            stores.rate_limits = Arc::new(MemoryRateLimitStore::new());
        }
        Self::build_with(settings, stores, Arc::new(SystemClock)).await
    }

    /// Any storage adapter and clock: tests swap them here.
    pub async fn build_with(
        settings: &Settings,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let rate_limits = stores.rate_limits.clone();
        let store_health = stores.health.clone();
        let housekeeping = Housekeeping::new(
            stores.clone(),
            Duration::days(settings.audit.retention_days.get().into()),
            clock.clone(),
        );
        let metrics = Arc::new(Metrics::new());
        let ports = build_ports(settings, stores, clock.clone(), metrics.clone())?;
        let keys = Arc::new(KeyService::new(ports.clone(), key_policy(settings)));
        keys.start().await.map_err(|err| match err {
            DomainError::KeysUnreadable => StartupError::Keys(format!(
                "they cannot be decrypted with {}: start with the secret they were made \
                     with, or point DATABASE_URL at another database",
                secrets::origin(settings)
            )),
            other => StartupError::Keys(describe(&other)),
        })?;
        // Bound before what names the service (issuer, links): where it listens is its URL
        // when none is configured. After the secret and the keys, whose errors come first.
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?;
        let port = local.port();
        let mut settings = settings.clone();
        settings.listening_on(&local.ip().to_string(), port);
        let settings = &settings;
        let mailer = build_mailer(settings)?;
        let account_mail = Arc::new(
            AccountMail::new(ports.clone(), mail_policy(settings)).with_metrics(metrics.clone()),
        );
        let delivery = MailDelivery::new(
            ports.clone(),
            mailer,
            account_mail.clone(),
            delivery_policy(settings),
        );
        let observed = metrics.clone();
        let metrics = web::Data::from(metrics);
        let openapi = web::Data::new(ApiDoc::json());
        let limits = &settings.rate_limit;
        let rate_limiter = limits.enabled.then(|| {
            let policy = RateLimitPolicy {
                login_per_minute: limits.login_per_minute,
                register_per_minute: limits.register_per_minute,
                refresh_per_minute: limits.refresh_per_minute,
                password_per_minute: limits.password_per_minute,
                users_update_per_minute: limits.users_update_per_minute,
                revoke_per_minute: limits.revoke_per_minute,
                mfa_per_minute: limits.mfa_per_minute,
                introspect_per_minute: limits.introspect_per_minute,
                forgot_password_per_minute: limits.forgot_password_per_minute,
                password_reset_per_minute: limits.password_reset_per_minute,
                email_verify_per_minute: limits.email_verify_per_minute,
                mail_send_per_minute: limits.mail_send_per_minute,
                mail_per_address_per_hour: limits.forgot_password_per_hour,
            };
            RateLimiter::new(rate_limits, clock, policy)
        });
        let state = web::Data::new(AppState {
            auth: AuthService::new(ports.clone(), auth_policy(settings))
                .with_keys(keys.clone())
                .with_mail(account_mail.clone()),
            users: UserService::new(ports.clone(), auth_policy(settings).lockout())
                .with_mail(account_mail.clone()),
            recovery: RecoveryService::new(ports, account_mail),
            keys: keys.clone(),
            public_url: settings
                .server
                .public_url
                .as_ref()
                .map(|url| url.as_str().to_owned())
                .unwrap_or_default(),
            issuer: settings.jwt.issuer.clone(),
            sign_in_link: Some(settings.mail.sign_in_link.clone()).filter(|l| !l.is_empty()),
            rate_limiter,
            store_health,
            trusted_proxies: limits.trusted_proxies.clone(),
        });
        let cors_enabled = !settings.cors.allowed_origins.is_empty();
        let settings_for_workers = settings.clone();
        if let Some(admin) = &settings.admin_bootstrap {
            bootstrap_admin(&state.users, admin).await?;
        }
        let make_app = move || {
            App::new()
                .wrap(from_fn(head::as_get))
                .wrap(from_fn(bounded_body::middleware))
                .wrap(Condition::new(cors_enabled, cors(&settings_for_workers)))
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(openapi.clone())
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::InvalidBody(vec![domain::FieldError::new(
                        "query",
                        "invalid",
                        err.to_string(),
                    )])
                    .into()
                }))
                .configure(routes::configure)
                .service(
                    SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::from("/api/openapi.json")),
                )
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::NotFound)
                }))
                .wrap(from_fn(metrics::middleware))
                .wrap(from_fn(headers::middleware))
                .wrap(from_fn(request_id::middleware))
        };
        let server = serve(listener, make_app).map_err(|source| StartupError::Bind {
            address: format!("port {port}"),
            source,
        })?;
        let housekeeping_interval = (settings.housekeeping.interval_seconds > 0)
            .then(|| std::time::Duration::from_secs(settings.housekeeping.interval_seconds));
        Ok(Application {
            port,
            server,
            housekeeping,
            housekeeping_interval,
            keys,
            keys_interval: std::time::Duration::from_secs(
                settings.keys.reload_seconds.get().into(),
            ),
            delivery,
            mail_interval: std::time::Duration::from_millis(
                settings.mail.poll_interval_ms.get().into(),
            ),
            metrics: observed,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The signing keys this server loaded (tests retire keys through it).
    pub fn keys(&self) -> Arc<KeyService> {
        self.keys.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight. Housekeeping runs
    /// beside it, at start and then every interval.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let housekeeping = self.housekeeping;
        let janitor = self.housekeeping_interval.map(|interval| {
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(err) = housekeeping.run_once().await {
                        tracing::warn!(error = %err, "housekeeping failed; retrying next interval");
                    }
                }
            })
        });
        let (keys, interval) = (self.keys, self.keys_interval);
        let key_keeper = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(err) = keys.maintain(&ClientInfo::default()).await {
                    tracing::warn!(error = %err, "signing key upkeep failed; retrying next interval");
                }
            }
        });
        let stop_courier = Arc::new(tokio::sync::Notify::new());
        let courier = tokio::spawn(deliver_mail(
            self.delivery,
            self.mail_interval,
            self.metrics,
            stop_courier.clone(),
        ));
        let handle = self.server.handle();
        let stopper = tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("stopping: finishing the requests in flight");
            handle.stop(true).await;
        });
        let served = self.server.await;
        stopper.abort();
        key_keeper.abort();
        // A round in flight finishes (its messages would otherwise wait out their claim).
        stop_courier.notify_one();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), courier).await;
        if let Some(janitor) = janitor {
            janitor.abort();
        }
        served
    }
}

/// Delivers the outbox every `interval` until `stop`, and at once again after a full round.
async fn deliver_mail(
    delivery: MailDelivery,
    interval: std::time::Duration,
    metrics: Arc<Metrics>,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.notified() => return,
        }
        loop {
            match delivery.run_once().await {
                Ok(report) => {
                    metrics.mail_delivered(report);
                    if report.sent + report.retried + report.given_up < MAIL_BATCH {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "mail delivery round failed; retrying next interval");
                    break;
                }
            }
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
