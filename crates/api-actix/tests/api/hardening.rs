//! The holes an outside review found, each attacked as it was found: lost updates, lockout races,
//! password-change guessing, unbounded metrics and audit rows, forwarded-for spellings, hidden
//! characters, and timing after the bcrypt cost is raised. Every test here failed before its fix.

use std::num::NonZeroUsize;
use std::time::{Duration as StdDuration, Instant};

use api_actix::client_ip::TrustedProxies;
use futures::future::join_all;
use infra_bcrypt::{BcryptHasher, Cost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Reply, TestApp, Tokens, spawn_app, spawn_app_with};

/// Races are repeated: on PostgreSQL a lost update shows in some rounds, not in every one.
const ROUNDS: usize = 15;

on_every_backend!(
    self_updates_racing_a_demotion_never_undo_it,
    self_updates_racing_a_deactivation_never_undo_it,
    concurrent_password_changes_with_one_current_password_give_one_success,
    a_burst_of_wrong_logins_judges_at_most_the_budget,
    guessing_through_the_password_change_locks_the_account,
    invented_methods_do_not_grow_the_metrics,
    only_a_revoke_that_revokes_something_is_audited,
    forwarded_for_spellings_name_the_same_client,
    user_updates_and_revokes_are_rate_limited,
    names_refuse_hidden_characters_and_user_agents_are_cleaned,
    failed_logins_take_as_long_after_the_cost_is_raised_and_logins_rehash,
    a_demoted_admin_cannot_undo_the_demotion,
    logins_racing_a_password_change_do_not_outlive_it,
    logins_racing_a_deletion_are_refused_not_failed,
    a_password_change_racing_a_rehash_goes_through,
);

async fn user_field(app: &TestApp, admin: &str, id: &str, field: &str) -> Value {
    let reply = app.get(&format!("/api/users/{id}"), Some(admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body[field].clone()
}

/// The user renames themself several times at once while `admin_change` runs.
async fn race_self_updates(app: &TestApp, me: &Tokens, admin_change: impl Future<Output = Reply>) {
    let renames = (0..4).map(|i| {
        app.patch_user(
            &me.access,
            &me.user_id,
            json!({ "name": format!("Name {i}") }),
        )
    });
    let (admin_reply, renamed) = futures::join!(admin_change, join_all(renames));
    assert_eq!(admin_reply.status, StatusCode::OK, "{}", admin_reply.body);
    for reply in renamed {
        // A rename after the deactivation finds its session revoked; never a 5xx.
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::UNAUTHORIZED,
            "{}: {}",
            reply.status,
            reply.body
        );
    }
}

async fn self_updates_racing_a_demotion_never_undo_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let mallory = app.register("mallory_1").await;
    for round in 0..ROUNDS {
        let promote = json!({"role": "admin"});
        let promoted = app
            .patch_user(&admin.access, &mallory.user_id, promote)
            .await;
        assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
        let demote = app.patch_user(&admin.access, &mallory.user_id, json!({"role": "user"}));
        race_self_updates(&app, &mallory, demote).await;
        assert_eq!(
            user_field(&app, &admin.access, &mallory.user_id, "role").await,
            "user",
            "round {round}: the demotion that answered 200 is what is stored"
        );
    }
}

async fn self_updates_racing_a_deactivation_never_undo_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let mallory = app.register("mallory_1").await;
    for round in 0..ROUNDS {
        let reactivate = json!({"is_active": true});
        let reactivated = app
            .patch_user(&admin.access, &mallory.user_id, reactivate)
            .await;
        assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
        let session = Tokens::from(&app.login("mallory_1", PASSWORD).await);
        let deactivate =
            app.patch_user(&admin.access, &mallory.user_id, json!({"is_active": false}));
        race_self_updates(&app, &session, deactivate).await;
        assert_eq!(
            user_field(&app, &admin.access, &mallory.user_id, "is_active").await,
            false,
            "round {round}: the deactivation that answered 200 is what is stored"
        );
        app.login("mallory_1", PASSWORD)
            .await
            .assert_problem(403, "account_disabled");
        app.me(&session.access)
            .await
            .assert_problem(401, "token_revoked");
    }
}

async fn concurrent_password_changes_with_one_current_password_give_one_success(backend: Backend) {
    // The losers that are judged after the winner's swap count as wrong passwords, as many as
    // the race makes (up to seven): a budget above that keeps the lockout out of the count.
    let app = spawn_app_with(backend, |s| {
        s.lockout.max_failed_attempts = 100.try_into().unwrap();
    })
    .await;
    let alice = app.register("alice_1").await;
    let candidates: Vec<String> = (0..8).map(|i| format!("new-password-{i}")).collect();
    let changes = candidates.iter().map(|new| {
        app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&alice.access),
            Some(json!({"current_password": PASSWORD, "new_password": new})),
        )
    });
    let replies = join_all(changes).await;
    let winners: Vec<usize> = (0..replies.len())
        .filter(|i| replies[*i].status == StatusCode::NO_CONTENT)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one change succeeds");
    for reply in replies
        .iter()
        .filter(|r| r.status != StatusCode::NO_CONTENT)
    {
        // The losers' current password is not current any more (422), or their attempts found
        // the budget spent by the others (423).
        let code = reply.body["code"].as_str().unwrap_or_default();
        assert!(
            code == "validation_failed" || code == "account_locked",
            "{}",
            reply.body
        );
    }
    let winner = &candidates[winners[0]];
    assert_eq!(app.login("alice_1", winner).await.status, StatusCode::OK);
    // Four losers.
    for (i, other) in candidates.iter().enumerate().take(5) {
        if i != winners[0] {
            assert_eq!(
                app.login("alice_1", other).await.status,
                StatusCode::UNAUTHORIZED,
                "only the winner's password works"
            );
        }
    }
}

async fn a_burst_of_wrong_logins_judges_at_most_the_budget(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alice_1").await;
    let wrong: Vec<String> = (0..20).map(|i| format!("guess-{i}-wrong")).collect();
    let guesses = wrong.iter().map(|guess| app.login("alice_1", guess));
    let replies = join_all(guesses).await;
    let judged = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let locked = replies
        .iter()
        .filter(|r| r.status == StatusCode::LOCKED)
        .count();
    assert_eq!(
        (judged, locked),
        (5, 15),
        "the default budget of 5 guesses, whatever the concurrency"
    );
    let reply = app.login("alice_1", PASSWORD).await;
    reply.assert_problem(423, "account_locked");
    assert!(reply.header("retry-after").is_some());

    // An unknown login is held to the same budget, so the answers tell nothing.
    let guesses = wrong.iter().map(|guess| app.login("nobody_here", guess));
    let replies = join_all(guesses).await;
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.status == StatusCode::UNAUTHORIZED)
            .count(),
        5
    );
}

async fn guessing_through_the_password_change_locks_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let change = |current: &str| {
        app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&alice.access),
            Some(json!({"current_password": current, "new_password": "another-pass2"})),
        )
    };
    for i in 0..5 {
        let reply = change(&format!("guess-{i}-wrong")).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], "current_password");
    }
    let locked = change(PASSWORD).await;
    locked.assert_problem(423, "account_locked");
    assert!(locked.header("retry-after").is_some());
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(423, "account_locked");

    let admin = app.admin().await;
    let unlock = format!("/api/users/{}/unlock", alice.user_id);
    let unlocked = app
        .call(Method::POST, &unlock, Some(&admin.access), None)
        .await;
    assert_eq!(unlocked.status, StatusCode::OK);
    assert_eq!(change(PASSWORD).await.status, StatusCode::NO_CONTENT);
}

async fn invented_methods_do_not_grow_the_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..30 {
        let method = Method::from_bytes(format!("JUNK{i}").as_bytes()).unwrap();
        let reply = app.send(app.request(method, "/api/auth/me")).await;
        assert!(reply.status.is_client_error(), "{}", reply.status);
    }
    let reply = app
        .send(app.request(Method::from_bytes(b"JUNKX").unwrap(), "/no/such/path"))
        .await;
    assert!(reply.status.is_client_error());
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("JUNK"), "an invented method became a label");
    assert!(text.contains(r#"method="other""#));
    for line in text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
    {
        let method = line
            .split("method=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
                "other"
            ]
            .contains(&method),
            "{line}"
        );
    }
}

async fn only_a_revoke_that_revokes_something_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    for _ in 0..5 {
        let reply = app
            .post("/api/auth/revoke", json!({"token": alice.refresh}))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let admin = app.admin().await;
    let audit = app
        .get("/api/audit?per_page=100", Some(&admin.access))
        .await;
    let revokes = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["detail"] == "token revoked")
        .count();
    assert_eq!(revokes, 1, "replays of a revoke add no audit rows");
}

/// A login that fails (an unknown name) from a client named in `X-Forwarded-For`.
async fn login_as(app: &TestApp, forwarded_for: &str) -> Reply {
    app.send(
        app.request(Method::POST, "/api/auth/login")
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"login": format!("nobody_{}", uuid::Uuid::new_v4().simple()), "password": PASSWORD})),
    )
    .await
}

async fn forwarded_for_spellings_name_the_same_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.login_per_minute = 3;
        s.rate_limit.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    // Three spellings of one IPv4 client share its budget of 3 …
    for spelling in [
        "198.51.100.7:41000",
        "::ffff:198.51.100.7",
        "not-an-ip, 198.51.100.7",
    ] {
        login_as(&app, spelling)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    login_as(&app, "198.51.100.7")
        .await
        .assert_problem(429, "rate_limited");
    // Bytes that are not text, left of the client, do not void the header.
    let junk = reqwest::header::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.7").unwrap();
    app.send(
        app.request(Method::POST, "/api/auth/login")
            .header("X-Forwarded-For", junk)
            .json(&json!({"login": "nobody_junk", "password": PASSWORD})),
    )
    .await
    .assert_problem(429, "rate_limited");
    // … while another client, also with a port, has its own.
    login_as(&app, "203.0.113.5:41000")
        .await
        .assert_problem(401, "invalid_credentials");

    // IPv6 clients are keyed by their /64.
    for spelling in [
        "[2001:db8:1:2::1]:443",
        "2001:db8:1:2::99",
        "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]",
    ] {
        login_as(&app, spelling)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    login_as(&app, "2001:db8:1:2::1234")
        .await
        .assert_problem(429, "rate_limited");
    login_as(&app, "2001:db8:1:3::1")
        .await
        .assert_problem(401, "invalid_credentials");

    // Sessions record the client's address as read.
    let registered = app
        .send(
            app.request(Method::POST, "/api/auth/register")
                .header("X-Forwarded-For", "::ffff:192.0.2.44")
                .json(&json!({"username": "alice_1", "email": "alice@example.com", "password": PASSWORD})),
        )
        .await;
    let alice = Tokens::from(&registered);
    let sessions = app.get("/api/auth/sessions", Some(&alice.access)).await;
    assert_eq!(sessions.body["items"][0]["ip"], "192.0.2.44");
}

async fn user_updates_and_revokes_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.users_update_per_minute = 2;
        s.rate_limit.revoke_per_minute = 2;
    })
    .await;
    let alice = app.register("alice_1").await;
    for i in 0..2 {
        let reply = app
            .patch_user(
                &alice.access,
                &alice.user_id,
                json!({"name": format!("A{i}")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("ratelimit-limit"), Some("2"));
    }
    let put = app
        .call(
            Method::PUT,
            &format!("/api/users/{}", alice.user_id),
            Some(&alice.access),
            Some(json!({"name": "A3"})),
        )
        .await;
    put.assert_problem(429, "rate_limited");
    assert!(put.header("retry-after").is_some());
    // Reading is not limited.
    for _ in 0..5 {
        let reply = app
            .get(
                &format!("/api/users/{}", alice.user_id),
                Some(&alice.access),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["name"], "A1");
    }

    for _ in 0..2 {
        let reply = app.post("/api/auth/revoke", json!({"token": "junk"})).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    app.post("/api/auth/revoke", json!({"token": "junk"}))
        .await
        .assert_problem(429, "rate_limited");
}

async fn names_refuse_hidden_characters_and_user_agents_are_cleaned(backend: Backend) {
    let app = spawn_app(backend).await;
    let spoof = "Alice\u{202E}nimda";
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "alice_1", "email": "a@example.com", "password": PASSWORD, "name": spoof}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "name");
    assert_eq!(reply.body["errors"][0]["code"], "invalid_characters");

    let alice = app.register("alice_1").await;
    for hidden in ["\u{200B}", "\u{2066}", "\u{FEFF}", "\u{00AD}"] {
        let reply = app
            .patch_user(
                &alice.access,
                &alice.user_id,
                json!({"name": format!("Al{hidden}ice")}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
    }

    let agent = format!("Agent\u{202E}\t/1.0 {}", "x".repeat(1000));
    let login = app
        .send(
            app.request(Method::POST, "/api/auth/login")
                .header(
                    "User-Agent",
                    reqwest::header::HeaderValue::from_bytes(agent.as_bytes()).unwrap(),
                )
                .json(&json!({"login": "alice_1", "password": PASSWORD})),
        )
        .await;
    let session = Tokens::from(&login);
    let sessions = app.get("/api/auth/sessions", Some(&session.access)).await;
    let stored = sessions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["user_agent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored.chars().count(), 256);
    assert!(stored.starts_with("Agent/1.0 xxx"), "{stored}");
}

/// The medians of seven failed logins as each of `logins`, taken in turns so that whatever else
/// the machine does falls on all of them alike.
async fn median_login_times(app: &TestApp, logins: &[&str]) -> Vec<StdDuration> {
    let mut times = vec![Vec::new(); logins.len()];
    for _ in 0..7 {
        for (login, samples) in logins.iter().zip(&mut times) {
            let started = Instant::now();
            let reply = app.login(login, "wrong-pass1").await;
            samples.push(started.elapsed());
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        }
    }
    times
        .into_iter()
        .map(|mut samples| {
            samples.sort();
            samples[samples.len() / 2]
        })
        .collect()
}

async fn failed_logins_take_as_long_after_the_cost_is_raised_and_logins_rehash(backend: Backend) {
    // The server runs at cost 10; one account still has a hash made at cost 4.
    let app = spawn_app_with(backend, |s| {
        s.password.bcrypt_cost = Cost::try_from(10).unwrap();
        s.lockout.max_failed_attempts = 100.try_into().unwrap();
    })
    .await;
    app.register("current_1").await;
    legacy_user(&app, "legacy_1", 4).await;

    // A leak is a ratio near 0.01 (cost 4 against 10) every time; a busy machine moves one
    // round's medians by tens of percent now and then, so a round that misses the bound is
    // measured again, at most five rounds.
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let times = median_login_times(&app, &["current_1", "legacy_1", "nobody_1"]).await;
        let ratios: Vec<f64> = times[1..]
            .iter()
            .map(|time| time.as_secs_f64() / times[0].as_secs_f64())
            .collect();
        let within = ratios.iter().all(|ratio| (0.6..1.7).contains(ratio));
        rounds.push(times);
        if within {
            break;
        }
    }
    let last = rounds.last().unwrap();
    assert!(
        last[1..]
            .iter()
            .all(|time| (0.6..1.7).contains(&(time.as_secs_f64() / last[0].as_secs_f64()))),
        "medians (current hash, old hash, no account) per round: {rounds:?}"
    );

    assert_eq!(app.login("legacy_1", PASSWORD).await.status, StatusCode::OK);
    let stored = app
        .users
        .find_by_username("legacy_1")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$2b$10$"), "rehashed");
    assert_eq!(app.login("legacy_1", PASSWORD).await.status, StatusCode::OK);
}

/// A stored user whose hash was made at `cost`, behind the API's back (an account from before a
/// cost change).
async fn legacy_user(app: &TestApp, username: &str, cost: u32) {
    let hasher = BcryptHasher::new(Cost::try_from(cost).unwrap(), NonZeroUsize::MIN, 0);
    let now = chrono::Utc::now();
    let legacy = domain::User {
        id: uuid::Uuid::new_v4(),
        username: username.into(),
        email: format!("{username}@example.com"),
        name: None,
        role: domain::Role::User,
        is_active: true,
        password_hash: domain::PasswordHasher::hash(&hasher, PASSWORD)
            .await
            .unwrap(),
        locked_until: None,
        mfa_enabled: false,
        email_verified: false,
        created_at: now,
        updated_at: now,
    };
    app.users.insert(&legacy).await.unwrap();
}

async fn a_demoted_admin_cannot_undo_the_demotion(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.admin().await;
    let mallory = app.register("mallory_1").await;
    for round in 0..ROUNDS {
        let promoted = app
            .patch_user(
                &root.access,
                &mallory.user_id,
                json!({"role": "admin", "is_active": true}),
            )
            .await;
        assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
        let session = Tokens::from(&app.login("mallory_1", PASSWORD).await);
        // Mallory, still an admin when these begin, keeps granting herself the role back.
        let undo = (0..6).map(|_| {
            app.patch_user(
                &session.access,
                &mallory.user_id,
                json!({"role": "admin", "is_active": true}),
            )
        });
        let demote = app.patch_user(
            &root.access,
            &mallory.user_id,
            json!({"role": "user", "is_active": false}),
        );
        let (demoted, undone) = futures::join!(demote, join_all(undo));
        assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
        for reply in undone {
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::FORBIDDEN,
                    StatusCode::UNAUTHORIZED
                ]
                .contains(&reply.status),
                "{}: {}",
                reply.status,
                reply.body
            );
        }
        assert_eq!(
            user_field(&app, &root.access, &mallory.user_id, "role").await,
            "user",
            "round {round}: the demotion that answered 200 is what is stored"
        );
        assert_eq!(
            user_field(&app, &root.access, &mallory.user_id, "is_active").await,
            false,
            "round {round}"
        );
    }
}

async fn logins_racing_a_password_change_do_not_outlive_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let mut password = PASSWORD.to_owned();
    for round in 0..ROUNDS {
        let next = format!("changed-{round}-pass");
        let logins = (0..4).map(|_| app.login("alice_1", &password));
        let change = app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&alice.access),
            Some(json!({"current_password": password, "new_password": next})),
        );
        let (changed, logged_in) = futures::join!(change, join_all(logins));
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        for reply in logged_in.iter().filter(|r| r.status == StatusCode::OK) {
            let session = Tokens::from(reply);
            app.me(&session.access)
                .await
                .assert_problem(401, "token_revoked");
        }
        for reply in logged_in.iter().filter(|r| r.status != StatusCode::OK) {
            // Counted before the change (423 once the budget is spent), or judged after it.
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::LOCKED].contains(&reply.status),
                "round {round}: {}",
                reply.body
            );
        }
        assert_eq!(app.me(&alice.access).await.status, StatusCode::OK);
        password = next;
        let unlock = format!("/api/users/{}/unlock", alice.user_id);
        let admin = app.admin().await;
        app.call(Method::POST, &unlock, Some(&admin.access), None)
            .await;
    }
}

async fn logins_racing_a_deletion_are_refused_not_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for round in 0..5 {
        let name = format!("doomed_{round}");
        let doomed = app.register(&name).await;
        let logins = (0..8).map(|_| app.login(&name, PASSWORD));
        let path = format!("/api/users/{}", doomed.user_id);
        let delete = app.call(Method::DELETE, &path, Some(&admin.access), None);
        let (deleted, replies) = futures::join!(delete, join_all(logins));
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        for reply in replies {
            assert!(
                [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::LOCKED]
                    .contains(&reply.status),
                "round {round}: {}: {}",
                reply.status,
                reply.body
            );
            if reply.status == StatusCode::OK {
                app.me(&Tokens::from(&reply).access)
                    .await
                    .assert_problem(401, "token_revoked");
            }
        }
    }
}

async fn a_password_change_racing_a_rehash_goes_through(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.password.bcrypt_cost = Cost::try_from(6).unwrap();
        s.lockout.max_failed_attempts = 100.try_into().unwrap();
    })
    .await;
    let old_cost = BcryptHasher::new(Cost::try_from(4).unwrap(), NonZeroUsize::MIN, 0);
    for round in 0..ROUNDS {
        let name = format!("racer_{round}");
        let me = app.register(&name).await;
        // Behind the API's back, the account's hash goes back to an older cost.
        let id = uuid::Uuid::parse_str(&me.user_id).unwrap();
        let current = app
            .users
            .find_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        let legacy = domain::PasswordHasher::hash(&old_cost, PASSWORD)
            .await
            .unwrap();
        let at = chrono::Utc::now();
        assert!(
            app.users
                .replace_password_hash(id, &current, &legacy, at)
                .await
                .unwrap()
        );
        // Logins rehash it while the owner changes the password with the right one.
        let logins = (0..2).map(|_| app.login(&name, PASSWORD));
        let change = app.call(
            Method::PUT,
            "/api/auth/password",
            Some(&me.access),
            Some(json!({"current_password": PASSWORD, "new_password": format!("another-{round}-pass")})),
        );
        let (changed, _) = futures::join!(change, join_all(logins));
        assert_eq!(
            changed.status,
            StatusCode::NO_CONTENT,
            "round {round}: {}",
            changed.body
        );
    }
}
