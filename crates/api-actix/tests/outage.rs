//! The database goes away and comes back: readiness follows it, every endpoint answers 503
//! `unavailable` meanwhile (never a 500, never a hang), and the server recovers by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api_actix::config::Settings;
use api_actix::startup::Application;
use infra_diesel::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused) and
/// restored, as a network partition would.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accepting, tracked) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                tracked.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Relay { port, open, links }
    }

    async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

async fn status_and_body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_503_while_the_database_is_away_and_recovers_by_itself() {
    let database = TestDatabase::postgres();
    let relay = relay_to(&database).await;
    let settings = relayed_settings(&database, &relay, "0");
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let ready = || client.get(format!("{base}/health/ready")).send();

    let (status, body) = status_and_body(ready().await.unwrap()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let register =
        json!({"username": "alice_1", "email": "alice@example.com", "password": "password1"});
    let (status, tokens) = status_and_body(
        client
            .post(format!("{base}/api/auth/register"))
            .json(&register)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    relay.cut().await;
    let started = Instant::now();
    let (status, body) = status_and_body(ready().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    let me = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_body(me).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    let login = json!({"login": "alice_1", "password": "password1"});
    let (status, body) = status_and_body(
        client
            .post(format!("{base}/api/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers come within the timeout"
    );
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready().await.unwrap().status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "readiness did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
}

/// A relay to the test database's server (postgres://user@host:port/name).
async fn relay_to(database: &TestDatabase) -> Relay {
    let address = database.url().rsplit_once('@').unwrap().1;
    Relay::start(address.split_once('/').unwrap().0.to_owned()).await
}

/// Settings for a server whose PostgreSQL is reached through `relay`.
fn relayed_settings(database: &TestDatabase, relay: &Relay, wait_seconds: &str) -> Settings {
    let url = database.url().to_owned();
    let (before, name) = url.rsplit_once('/').unwrap();
    let (scheme_user, _) = before.rsplit_once('@').unwrap();
    let relayed = format!("{scheme_user}@127.0.0.1:{}/{name}", relay.port);
    Settings::from_vars(
        &[
            ("APP_ENV", "test"),
            ("APP__SERVER__PORT", "0"),
            ("APP__DATABASE__CONNECT_TIMEOUT_SECONDS", "1"),
            ("APP__DATABASE__STARTUP_TIMEOUT_SECONDS", wait_seconds),
            ("DATABASE_URL", relayed.as_str()),
            (
                "JWT_SECRET_KEY",
                "9f2c4e81d7a35b06e1c8f4a2b79d3e50a6c1f8e2d4b7a903",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        false,
    )
    .unwrap()
}

/// A compose stack comes up in any order: the server waits for a database that is not up yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_waits_at_start_for_a_database_that_is_not_up_yet() {
    let database = TestDatabase::postgres();
    let relay = relay_to(&database).await;
    relay.cut().await;
    let settings = relayed_settings(&database, &relay, "60");
    let starting = tokio::spawn(async move { Application::build(&settings).await });
    // Ordering the events, not waiting for time to pass: the start must still be waiting after
    // several refused attempts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!starting.is_finished(), "the server waits for the database");
    relay.restore();
    let app = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("the server starts once the database answers")
        .unwrap()
        .expect("and builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let ready = reqwest::get(format!("{base}/health/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// With no patience configured, an unreachable database stops the start at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_startup_wait_an_unreachable_database_stops_the_start() {
    let database = TestDatabase::postgres();
    let relay = relay_to(&database).await;
    relay.cut().await;
    let settings = relayed_settings(&database, &relay, "0");
    let started = Instant::now();
    assert!(Application::build(&settings).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}
