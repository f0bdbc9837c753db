//! Multi-factor authentication over HTTP: enrolment, login with a code and with a recovery code,
//! replays (also concurrent), the lockout, the token's binding, and turning it off. The codes
//! come from `totp` below, written here from RFC 6238 on HMAC-SHA-1: not the library the server
//! uses. Time moves through the test clock.

use chrono::Duration;
use domain::Clock;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Reply, TestApp, Tokens, spawn_app, spawn_app_with};

#[path = "../support/totp.rs"]
mod totp_by_hand;
use totp_by_hand::{base32_decode, totp};

on_every_backend!(
    a_user_turns_mfa_on_and_logs_in_with_a_code_and_with_a_recovery_code,
    a_code_sent_many_times_at_once_logs_in_once,
    the_mfa_token_expires_and_is_bound_to_its_login,
    wrong_codes_count_towards_the_lockout_and_only_a_full_login_clears_it,
    recovery_codes_are_renewed_and_mfa_is_turned_off_by_its_user_or_an_admin,
    requests_racing_on_one_token_spend_one_factor,
    a_token_dies_with_the_factor_it_was_made_for,
    a_deactivation_ends_the_logins_waiting_for_a_second_factor,
    where_verification_is_required_a_second_step_opens_no_session_for_an_unverified_address,
);

#[test]
fn the_independent_totp_gives_rfc_6238s_codes() {
    let seed = b"12345678901234567890";
    assert_eq!(totp(seed, 59), "287082");
    assert_eq!(totp(seed, 1_111_111_109), "081804");
    assert_eq!(totp(seed, 2_000_000_000), "279037");
}

struct Factor {
    secret: Vec<u8>,
}

impl Factor {
    fn code(&self, app: &TestApp) -> String {
        totp(&self.secret, app.clock.now().timestamp())
    }
}

async fn authed(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Reply {
    app.call(method, path, Some(token), Some(body)).await
}

/// Enrols and confirms a factor for `user`; returns it and the recovery codes. The clock then
/// moves to the next step, so that the confirming code's step is behind.
async fn turn_on(app: &TestApp, user: &Tokens) -> (Factor, Vec<String>) {
    let enrolled = authed(
        app,
        Method::POST,
        "/api/auth/mfa/totp",
        &user.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    let factor = Factor {
        secret: base32_decode(&enrolled.str("secret")),
    };
    let confirmed = authed(
        app,
        Method::POST,
        "/api/auth/mfa/totp/confirm",
        &user.access,
        json!({ "code": factor.code(app) }),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    app.clock.advance(Duration::seconds(30));
    (factor, codes)
}

/// The first step of a login: its `mfa_token`.
async fn password_step(app: &TestApp, login: &str) -> String {
    let reply = app.login(login, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["mfa_required"], true, "{}", reply.body);
    assert_eq!(reply.body["expires_in"], 300);
    assert!(reply.body.get("access_token").is_none(), "no tokens yet");
    reply.str("mfa_token")
}

async fn verify(app: &TestApp, body: Value) -> Reply {
    app.post("/api/auth/mfa/verify", body).await
}

fn amr_of(access_token: &str) -> Value {
    crate::helpers::jwt_part(access_token, 1)["amr"].clone()
}

async fn a_user_turns_mfa_on_and_logs_in_with_a_code_and_with_a_recovery_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let other_device = Tokens::from(&app.login("alice_1", PASSWORD).await);
    assert_eq!(amr_of(&alice.access), json!(["pwd"]));

    let wrong = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/totp",
        &alice.access,
        json!({ "password": "not-the-password" }),
    )
    .await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(wrong.body["errors"][0]["code"], "wrong_password");

    let enrolled = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/totp",
        &alice.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    let secret = enrolled.str("secret");
    assert!(
        enrolled
            .str("otpauth_uri")
            .starts_with("otpauth://totp/auth-api:alice_1?")
    );
    assert!(
        enrolled
            .str("otpauth_uri")
            .contains(&format!("secret={secret}"))
    );
    assert!(enrolled.str("qr_svg").contains("<svg"));
    assert_eq!(app.me(&alice.access).await.body["mfa_enabled"], false);
    let factor = Factor {
        secret: base32_decode(&secret),
    };

    let wrong_code = format!(
        "{:06}",
        (factor.code(&app).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let refused = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/totp/confirm",
        &alice.access,
        json!({ "code": wrong_code }),
    )
    .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["code"], "invalid_code");
    assert_eq!(refused.body["errors"][0]["field"], "code");

    let confirming_code = factor.code(&app);
    let confirmed = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/totp/confirm",
        &alice.access,
        json!({ "code": confirming_code }),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    // This session goes on; the other device's is revoked.
    assert_eq!(app.me(&alice.access).await.body["mfa_enabled"], true);
    app.me(&other_device.access)
        .await
        .assert_problem(401, "token_revoked");
    let again = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/totp",
        &alice.access,
        json!({ "password": PASSWORD }),
    )
    .await;
    again.assert_problem(409, "mfa_already_enabled");

    // The password alone gets no tokens; the confirming code's step is spent.
    let mfa_token = password_step(&app, "alice_1").await;
    let replay = verify(
        &app,
        json!({ "mfa_token": mfa_token, "code": confirming_code }),
    )
    .await;
    replay.assert_problem(422, "validation_failed");
    assert_eq!(replay.body["errors"][0]["code"], "invalid_code");
    app.clock.advance(Duration::seconds(30));
    let logged_in = verify(
        &app,
        json!({ "mfa_token": mfa_token, "code": factor.code(&app) }),
    )
    .await;
    let tokens = Tokens::from(&logged_in);
    assert_eq!(amr_of(&tokens.access), json!(["pwd", "otp"]));
    // The token worked once.
    app.clock.advance(Duration::seconds(30));
    verify(
        &app,
        json!({ "mfa_token": mfa_token, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
    // A refresh keeps how the session was authenticated.
    let refreshed = Tokens::from(&app.refresh(&tokens.refresh).await);
    assert_eq!(amr_of(&refreshed.access), json!(["pwd", "otp"]));

    // A recovery code, typed in upper case: once.
    let mfa_token = password_step(&app, "alice_1").await;
    let typed = recovery[3].to_uppercase();
    let by_recovery = verify(
        &app,
        json!({ "mfa_token": mfa_token, "recovery_code": typed }),
    )
    .await;
    assert_eq!(
        amr_of(&Tokens::from(&by_recovery).access),
        json!(["pwd", "otp"])
    );
    let mfa_token = password_step(&app, "alice_1").await;
    let spent = verify(
        &app,
        json!({ "mfa_token": mfa_token, "recovery_code": recovery[3] }),
    )
    .await;
    spent.assert_problem(422, "validation_failed");
    assert_eq!(spent.body["errors"][0]["field"], "recovery_code");
    // Both factors at once, or neither, is not a request.
    verify(
        &app,
        json!({ "mfa_token": mfa_token, "code": "123456", "recovery_code": recovery[4] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    verify(&app, json!({ "mfa_token": mfa_token }))
        .await
        .assert_problem(422, "validation_failed");
}

async fn a_code_sent_many_times_at_once_logs_in_once(backend: Backend) {
    // Every password step counts towards the lockout until a login completes: room for them.
    let app = spawn_app_with(backend, |s| {
        s.lockout.max_failed_attempts = 100.try_into().unwrap();
    })
    .await;
    let alice = app.register("alice_1").await;
    let (factor, _) = turn_on(&app, &alice).await;
    for _ in 0..3 {
        let mut tokens = Vec::new();
        for _ in 0..6 {
            tokens.push(password_step(&app, "alice_1").await);
        }
        let code = factor.code(&app);
        let answers = join_all(
            tokens
                .iter()
                .map(|t| verify(&app, json!({ "mfa_token": t, "code": code }))),
        )
        .await;
        let ok = answers
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(
            ok,
            1,
            "{:?}",
            answers.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        for refused in answers.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(refused.body["errors"][0]["code"], "invalid_code");
        }
        // One step later, the next code works once more; the successes cleared the count.
        app.clock.advance(Duration::seconds(30));
    }
}

async fn the_mfa_token_expires_and_is_bound_to_its_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let bob = app.register("bob_1").await;
    let (factor, _) = turn_on(&app, &alice).await;
    turn_on(&app, &bob).await;

    let expiring = password_step(&app, "alice_1").await;
    app.clock.advance(Duration::seconds(301));
    verify(
        &app,
        json!({ "mfa_token": expiring, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");

    // Bob's token with Alice's code: the code is judged against Bob's factor.
    let bobs = password_step(&app, "bob_1").await;
    verify(
        &app,
        json!({ "mfa_token": bobs, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(422, "validation_failed");

    // A password change between the two steps voids the first.
    let before_change = password_step(&app, "alice_1").await;
    let session = Tokens::from(
        &verify(
            &app,
            json!({ "mfa_token": before_change, "code": factor.code(&app) }),
        )
        .await,
    );
    let pending = password_step(&app, "alice_1").await;
    let changed = authed(
        &app,
        Method::PUT,
        "/api/auth/password",
        &session.access,
        json!({ "current_password": PASSWORD, "new_password": "another-password-2" }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    app.clock.advance(Duration::seconds(30));
    verify(
        &app,
        json!({ "mfa_token": pending, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
    verify(
        &app,
        json!({ "mfa_token": "made-up", "code": factor.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
}

async fn wrong_codes_count_towards_the_lockout_and_only_a_full_login_clears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (factor, _) = turn_on(&app, &alice).await;
    // The default budget is five attempts. A right password step takes back its own attempt
    // but clears nothing: only a completed login does.
    let mfa_token = password_step(&app, "alice_1").await;
    let wrong = || verify(&app, json!({ "mfa_token": mfa_token, "code": "000000" }));
    for _ in 0..2 {
        wrong().await.assert_problem(422, "validation_failed");
    }
    password_step(&app, "alice_1").await;
    // The fifth wrong code takes the last place and locks at once.
    for _ in 0..3 {
        wrong().await.assert_problem(422, "validation_failed");
    }
    verify(
        &app,
        json!({ "mfa_token": mfa_token, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(423, "account_locked");
    app.login("alice_1", PASSWORD)
        .await
        .assert_problem(423, "account_locked");
    let admin = app.admin().await;
    let audit = app.get("/api/audit?per_page=50", Some(&admin.access)).await;
    let failures = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "mfa_failure")
        .count();
    assert_eq!(failures, 5);

    // Once the lock is over, a completed login clears the count.
    app.clock.advance(Duration::minutes(16));
    let mfa_token = password_step(&app, "alice_1").await;
    Tokens::from(
        &verify(
            &app,
            json!({ "mfa_token": mfa_token, "code": factor.code(&app) }),
        )
        .await,
    );
    for _ in 0..2 {
        let t = password_step(&app, "alice_1").await;
        verify(&app, json!({ "mfa_token": t, "code": "000000" }))
            .await
            .assert_problem(422, "validation_failed");
    }
    password_step(&app, "alice_1").await;
}

async fn recovery_codes_are_renewed_and_mfa_is_turned_off_by_its_user_or_an_admin(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (factor, old_codes) = turn_on(&app, &alice).await;

    let renewed = authed(
        &app,
        Method::POST,
        "/api/auth/mfa/recovery-codes",
        &alice.access,
        json!({ "code": factor.code(&app) }),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let new_codes = renewed.body["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(new_codes.len(), 10);
    let t = password_step(&app, "alice_1").await;
    verify(
        &app,
        json!({ "mfa_token": t, "recovery_code": old_codes[0] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    Tokens::from(
        &verify(
            &app,
            json!({ "mfa_token": t, "recovery_code": new_codes[0] }),
        )
        .await,
    );

    // Off by its user: the password and a current code.
    app.clock.advance(Duration::seconds(30));
    let off = authed(
        &app,
        Method::DELETE,
        "/api/auth/mfa/totp",
        &alice.access,
        json!({ "password": PASSWORD, "code": factor.code(&app) }),
    )
    .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    let plain = Tokens::from(&app.login("alice_1", PASSWORD).await);
    assert_eq!(amr_of(&plain.access), json!(["pwd"]));
    assert_eq!(app.me(&plain.access).await.body["mfa_enabled"], false);
    authed(
        &app,
        Method::POST,
        "/api/auth/mfa/recovery-codes",
        &plain.access,
        json!({ "code": factor.code(&app) }),
    )
    .await
    .assert_problem(409, "mfa_not_enabled");

    // Off by an admin, for a user who lost their factor.
    let (_, _) = turn_on(&app, &plain).await;
    let path = format!("/api/users/{}/mfa", plain.user_id);
    let bob = app.register("bob_1").await;
    app.call(Method::DELETE, &path, Some(&bob.access), None)
        .await
        .assert_problem(403, "forbidden");
    let admin = app.admin().await;
    let unknown = format!("/api/users/{}/mfa", uuid::Uuid::new_v4());
    app.call(Method::DELETE, &unknown, Some(&admin.access), None)
        .await
        .assert_problem(404, "user_not_found");
    let reset = app
        .call(Method::DELETE, &path, Some(&admin.access), None)
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    app.call(Method::DELETE, &path, Some(&admin.access), None)
        .await
        .assert_problem(409, "mfa_not_enabled");
    Tokens::from(&app.login("alice_1", PASSWORD).await);

    let audit = app
        .get("/api/audit?per_page=100", Some(&admin.access))
        .await;
    let events: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for event in [
        "mfa_enabled",
        "mfa_disabled",
        "mfa_failure",
        "recovery_code_used",
    ] {
        assert!(events.contains(&event), "{event} in {events:?}");
        let counted = format!("auth_mfa_events_total{{event=\"{event}\"}}");
        assert!(metrics.contains(&counted), "{counted} in {metrics}");
    }
}

async fn requests_racing_on_one_token_spend_one_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (factor, recovery) = turn_on(&app, &alice).await;
    let mfa_token = password_step(&app, "alice_1").await;
    let mut bodies = vec![json!({ "mfa_token": mfa_token, "code": factor.code(&app) })];
    bodies.extend(
        recovery[..5]
            .iter()
            .map(|code| json!({ "mfa_token": mfa_token, "recovery_code": code })),
    );
    let answers = join_all(bodies.into_iter().map(|body| verify(&app, body))).await;
    assert_eq!(
        answers
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count(),
        1
    );
    // The losers were refused before their factor was judged: at most one recovery code is
    // gone (if one won), the others still log in.
    let mut still_good = 0;
    for code in &recovery[..5] {
        let t = password_step(&app, "alice_1").await;
        let reply = verify(&app, json!({ "mfa_token": t, "recovery_code": code })).await;
        still_good += usize::from(reply.status == StatusCode::OK);
    }
    assert!(still_good >= 4, "{still_good} of 5 recovery codes left");
}

async fn a_token_dies_with_the_factor_it_was_made_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (factor, _) = turn_on(&app, &alice).await;
    let waiting = password_step(&app, "alice_1").await;
    let off = authed(
        &app,
        Method::DELETE,
        "/api/auth/mfa/totp",
        &alice.access,
        json!({ "password": PASSWORD, "code": factor.code(&app) }),
    )
    .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.body);
    let (again, _) = turn_on(&app, &alice).await;
    verify(
        &app,
        json!({ "mfa_token": waiting, "code": again.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
}

/// Contract section 17: the second steps under way stop working at once, and stay dead after a
/// reactivation.
async fn a_deactivation_ends_the_logins_waiting_for_a_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.register("alice_1").await;
    let (factor, recovery) = turn_on(&app, &alice).await;
    let waiting = password_step(&app, "alice_1").await;
    let admin = app.admin().await;
    let path = format!("/api/users/{}", alice.user_id);
    for active in [false, true] {
        let reply = authed(
            &app,
            Method::PATCH,
            &path,
            &admin.access,
            json!({ "is_active": active }),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    verify(
        &app,
        json!({ "mfa_token": waiting, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
    verify(
        &app,
        json!({ "mfa_token": waiting, "recovery_code": recovery[0] }),
    )
    .await
    .assert_problem(400, "invalid_mfa_token");
    // A new login after the reactivation works as ever.
    let fresh = password_step(&app, "alice_1").await;
    let done = verify(
        &app,
        json!({ "mfa_token": fresh, "code": factor.code(&app) }),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// Contract section 17: no session before verification, also through a second step that
/// completes after the address changed.
async fn where_verification_is_required_a_second_step_opens_no_session_for_an_unverified_address(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.auth.require_verified_email = true).await;
    // The bootstrap admin's address is vouched for.
    let admin = app.admin().await;
    let (factor, _) = turn_on(&app, &admin).await;
    let waiting = password_step(&app, crate::helpers::ADMIN).await;
    let moved = authed(
        &app,
        Method::PATCH,
        &format!("/api/users/{}", admin.user_id),
        &admin.access,
        json!({"email": "root@new.example.com", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    verify(
        &app,
        json!({ "mfa_token": waiting, "code": factor.code(&app) }),
    )
    .await
    .assert_problem(403, "email_not_verified");
}
