// Shared by the `api` and `hostile` test binaries; each uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use api_actix::config::Settings;
use api_actix::startup::Application;
use chrono::{DateTime, Duration, Utc};
use domain::{Clock, Stores, UserRepository};
use infra_diesel::testing::TestDatabase;
use infra_memory::MemoryStore;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

/// Runs each named `async fn name(backend: Backend)` of the enclosing module once per adapter.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Memory).await })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name($crate::helpers::Backend::Postgres).await })*
        }
    };
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// A clock the tests move by hand: expiry is tested without sleeping.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn new() -> Self {
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        Self(Mutex::new(now))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub const PASSWORD: &str = "password1";
pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
pub const ADMIN: &str = "root_admin";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The storage the server runs on, for what a test must arrange behind the API's back.
    pub users: Arc<dyn UserRepository>,
    /// The server's signing keys.
    pub keys: Arc<domain::KeyService>,
    database: Option<TestDatabase>,
}

/// Test settings: fast hashing, a fixed secret, a random port, a first admin, and mail written
/// to files in a folder of the test's own (the mail tests send it over SMTP instead).
pub fn test_settings() -> Settings {
    let mail_dir =
        std::env::temp_dir().join(format!("auth-api-test-mail-{}", uuid::Uuid::new_v4()));
    let mail_dir = mail_dir.to_str().unwrap().to_owned();
    let vars: HashMap<String, String> = [
        ("APP__MAIL__FILE_DIR", mail_dir.as_str()),
        ("APP__MAIL__POLL_INTERVAL_MS", "50"),
        ("APP_ENV", "test"),
        ("APP__SERVER__PORT", "0"),
        // The suites log in far more than a client may; the rate-limit tests turn it back on.
        ("APP__RATE_LIMIT__ENABLED", "false"),
        ("JWT_SECRET_KEY", SECRET),
        ("ADMIN_USERNAME", ADMIN),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", PASSWORD),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Settings::from_vars(&vars, false).expect("test settings")
}

/// Mail goes over SMTP to `url`.
pub fn smtp_to(settings: &mut Settings, url: &str) {
    settings.mail.transport = api_actix::config::MailTransport::Smtp;
    settings.mail.smtp_url = Some(secrecy::SecretString::from(url));
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// A server that signs with `SECRET` (HS256), so that a test can sign tokens of its own.
pub async fn spawn_hs256_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.jwt.algorithm = domain::KeyAlgorithm::HS256).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    configure(&mut settings);
    // Swapping the storage adapter is this one choice.
    let (storage, database) = match backend {
        Backend::Memory => (MemoryStore::new().stores(), None),
        Backend::Sqlite => with_database(TestDatabase::sqlite()).await,
        Backend::Postgres => with_database(TestDatabase::postgres()).await,
    };
    let clock = Arc::new(ManualClock::new());
    let users = storage.users.clone();
    let app = Application::build_with(&settings, storage, clock.clone())
        .await
        .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let keys = app.keys();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        users,
        keys,
        database,
    }
}

async fn with_database(database: TestDatabase) -> (Stores, Option<TestDatabase>) {
    // As the server runs it: on SQLite, session lookups are cached.
    let store = database
        .store()
        .await
        .cache_sessions()
        .expect("the only server on this database");
    (store.stores(), Some(database))
}

/// A JWT's header (`part` 0) or claims (`part` 1) as JSON, read without checking anything.
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine;
    let segment = token.split('.').nth(part).expect("a JWT segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON segment")
}

/// A response read whole: status, headers and JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type"
        );
        assert!(self.body["request_id"].is_string());
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }

    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {}", self.body))
            .to_owned()
    }
}

/// The tokens and user of a register, login or refresh answer.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl Tokens {
    #[track_caller]
    pub fn from(reply: &Reply) -> Self {
        assert!(
            reply.status.is_success(),
            "{}: {}",
            reply.status,
            reply.body
        );
        Tokens {
            access: reply.str("access_token"),
            refresh: reply.str("refresh_token"),
            user_id: reply.body["user"]["id"].as_str().unwrap().to_owned(),
        }
    }
}

impl TestApp {
    /// The database's URL (`None` in memory), for what a test reads behind the API's back.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(TestDatabase::url)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.address, path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        Reply::read(request.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn register(&self, username: &str) -> Tokens {
        let reply = self
            .post(
                "/api/auth/register",
                json!({
                    "username": username,
                    "email": format!("{}@example.com", username.to_lowercase()),
                    "password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        Tokens::from(&reply)
    }

    pub async fn login(&self, login: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            json!({ "login": login, "password": password }),
        )
        .await
    }

    /// PATCH /api/users/{id} with `body`.
    pub async fn patch_user(&self, token: &str, id: &str, body: Value) -> Reply {
        self.call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(token),
            Some(body),
        )
        .await
    }

    pub async fn admin(&self) -> Tokens {
        Tokens::from(&self.login(ADMIN, PASSWORD).await)
    }

    /// An access token of whichever of the root admin and `other` is still an admin.
    pub async fn admin_or(&self, other: &Tokens) -> String {
        let root = self.admin().await;
        let me = self.me(&root.access).await;
        if me.body["role"] == "admin" {
            root.access
        } else {
            other.access.clone()
        }
    }

    pub async fn me(&self, token: &str) -> Reply {
        self.get("/api/auth/me", Some(token)).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.call(Method::POST, "/api/auth/refresh", Some(refresh_token), None)
            .await
    }
}
