use std::sync::{Arc, Mutex};

use chrono::Duration;
use futures::executor::block_on;
use mockall::predicate::eq;
use uuid::Uuid;

use super::RecoveryService;
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, ClientInfo, Mail, MailKind, MailToken, OutboxMessage, Principal,
    Role, TokenPurpose, User, outbox_purpose,
};
use crate::ports::{MockAuditLog, MockMailMetrics, MockRateLimitStore, SecretSealer};
use crate::services::mail::AccountMail;
use crate::services::test_support::{FakeSealer, Mocks, mail_policy, now, user};

fn service(mocks: Mocks) -> RecoveryService {
    let ports = mocks.into_ports();
    let mail = Arc::new(AccountMail::new(ports.clone(), mail_policy()));
    RecoveryService::new(ports, mail)
}

fn principal(user: &User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

/// What `issue` was given.
type Issued = Arc<Mutex<Vec<(MailToken, OutboxMessage)>>>;

fn issuing(mocks: &mut Mocks) -> Issued {
    let issued: Issued = Arc::default();
    let seen = issued.clone();
    mocks.mail_tokens.expect_issue().returning(move |t, m| {
        seen.lock().unwrap().push((t.clone(), m.clone()));
        Ok(true)
    });
    issued
}

fn audited(mocks: &mut Mocks) -> Arc<Mutex<Vec<(AuditEvent, AuditOutcome)>>> {
    let events: Arc<Mutex<Vec<_>>> = Arc::default();
    let seen = events.clone();
    let mut audit = MockAuditLog::new();
    audit.expect_record().returning(move |r| {
        seen.lock().unwrap().push((r.event, r.outcome));
        Ok(())
    });
    mocks.audit = audit;
    events
}

fn opened(message: &OutboxMessage) -> Mail {
    let plain = FakeSealer
        .open(&message.sealed_mail, &outbox_purpose(message.id))
        .expect("sealed for this message");
    serde_json::from_slice(&plain).unwrap()
}

/// What `enqueue` was given.
fn enqueuing(mocks: &mut Mocks) -> Arc<Mutex<Vec<OutboxMessage>>> {
    let queued: Arc<Mutex<Vec<OutboxMessage>>> = Arc::default();
    let seen = queued.clone();
    mocks.outbox.expect_enqueue().returning(move |m| {
        seen.lock().unwrap().push(m.clone());
        Ok(())
    });
    queued
}

#[test]
fn forgot_password_queues_one_sealed_request_and_reads_no_account() {
    for address in ["alice@example.com", "nobody@example.com"] {
        let mut mocks = Mocks::new();
        mocks.users.expect_find_by_email().never();
        mocks.mail_tokens.expect_issue().never();
        let queued = enqueuing(&mut mocks);
        block_on(service(mocks).forgot_password(&format!(" {address} "), &ClientInfo::default()))
            .unwrap();
        let queued = queued.lock().unwrap();
        let [request] = queued.as_slice() else {
            panic!("one request: {queued:?}")
        };
        assert_eq!(request.kind, MailKind::ResetRequest);
        assert_eq!(request.user_id, None);
        let plain = FakeSealer
            .open(&request.sealed_mail, &outbox_purpose(request.id))
            .expect("sealed for this row");
        assert!(String::from_utf8(plain).unwrap().contains(address));
    }
}

/// A reset request for `address`, as `forgot_password` queues it.
fn reset_request(address: &str) -> OutboxMessage {
    let mut mocks = Mocks::new();
    let queued = enqueuing(&mut mocks);
    block_on(account_mail(mocks).queue_reset_request(address, &ClientInfo::default())).unwrap();
    queued.lock().unwrap().pop().unwrap()
}

fn account_mail(mocks: Mocks) -> AccountMail {
    AccountMail::new(mocks.into_ports(), mail_policy())
}

#[test]
fn a_request_for_a_known_address_is_answered_with_a_link_whose_token_is_stored_only_as_a_fingerprint()
 {
    let alice = User {
        name: Some("Win a prize at https://evil.example".into()),
        ..user(Role::User)
    };
    let mut mocks = Mocks::new();
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_email()
        .with(eq("alice@example.com"))
        .returning(move |_| Ok(Some(found.clone())));
    let issued = issuing(&mut mocks);
    let events = audited(&mut mocks);
    block_on(account_mail(mocks).answer_reset_request(&reset_request("alice@example.com")))
        .unwrap();

    let issued = issued.lock().unwrap();
    let [(token, message)] = issued.as_slice() else {
        panic!("one token and one message: {issued:?}")
    };
    assert_eq!(token.purpose, TokenPurpose::PasswordReset);
    assert_eq!(token.user_id, alice.id);
    assert_eq!(token.email, "alice@example.com");
    assert_eq!(token.expires_at, now() + Duration::seconds(1800));
    let mail = opened(message);
    assert_eq!(mail.to, "alice@example.com");
    let link = mail
        .text
        .lines()
        .find(|l| l.starts_with("https://auth.example.com/reset-password?token="))
        .expect("the link, on a line of its own");
    let raw = link.rsplit('=').next().unwrap();
    assert_eq!(raw.len(), 64);
    assert_eq!(token.fingerprint, format!("fp({raw})"));
    assert!(mail.html.contains(&format!("token={raw}")));
    // Greeted by username; the name the user typed is nowhere.
    assert!(mail.text.starts_with("Hello Alice_1,"), "{}", mail.text);
    for part in [&mail.text, &mail.html, &mail.subject] {
        assert!(!part.contains("evil.example"), "{part}");
    }
    assert_eq!(
        *events.lock().unwrap(),
        [(AuditEvent::PasswordResetRequested, AuditOutcome::Success)]
    );
}

#[test]
fn requests_for_unknown_and_deactivated_addresses_are_answered_with_no_mail() {
    for found in [
        None,
        Some(User {
            is_active: false,
            ..user(Role::User)
        }),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_email()
            .returning(move |_| Ok(found.clone()));
        mocks.mail_tokens.expect_issue().never();
        let events = audited(&mut mocks);
        block_on(account_mail(mocks).answer_reset_request(&reset_request("bob@example.com")))
            .unwrap();
        assert_eq!(
            *events.lock().unwrap(),
            [(AuditEvent::PasswordResetRequested, AuditOutcome::Failure)]
        );
    }
}

#[test]
fn mail_over_a_recipients_hourly_cap_is_dropped_counted_and_audited_once() {
    // Counted over the last hour: this ten-minute bucket's hit and the six buckets before. The
    // 6th message to one address is the first one over: audited; the 7th only counted.
    // Neither issues a token (the older link keeps working).
    for (here, earlier, audits) in [(1, 5, 1), (6, 0, 1), (2, 5, 0)] {
        let mut mocks = Mocks::new();
        let mut limits = MockRateLimitStore::new();
        let bucket = |minutes_ago: i64| {
            let start = now() - chrono::Duration::minutes(minutes_ago);
            (
                format!("mail_recipient:alice@example.com:{}", start.timestamp()),
                start,
            )
        };
        let (key, start) = bucket(0);
        limits
            .expect_hit()
            .withf(move |k, s| *k == key && *s == start)
            .times(1)
            .returning(move |_, _| Ok(here));
        for n in 1..=6 {
            let (key, start) = bucket(10 * n);
            // The hour's earlier messages, all in the bucket fifty minutes ago.
            let found = if n == 5 { earlier } else { 0 };
            limits
                .expect_count()
                .withf(move |k, s| *k == key && *s == start)
                .times(1)
                .returning(move |_, _| Ok(found));
        }
        mocks.rate_limits = limits;
        mocks.mail_tokens.expect_issue().never();
        let events = audited(&mut mocks);
        let mut metrics = MockMailMetrics::new();
        metrics
            .expect_suppressed()
            .with(eq(MailKind::EmailVerification))
            .times(1)
            .return_const(());
        let mail = account_mail(mocks).with_metrics(Arc::new(metrics));
        block_on(mail.queue_verification(&user(Role::User))).unwrap();
        let events = events.lock().unwrap();
        assert_eq!(events.len(), audits);
        assert!(
            events
                .iter()
                .all(|e| *e == (AuditEvent::MailSuppressed, AuditOutcome::Failure))
        );
    }
}

#[test]
fn the_address_change_notice_names_neither_address_nor_the_name() {
    let alice = User {
        name: Some("Call +1 555 0100 now".into()),
        email: "attacker@evil.example".into(),
        ..user(Role::User)
    };
    let mut mocks = Mocks::new();
    let queued = enqueuing(&mut mocks);
    block_on(account_mail(mocks).queue_address_changed("alice@example.com", &alice)).unwrap();
    let queued = queued.lock().unwrap();
    let mail = opened(&queued[0]);
    assert_eq!(mail.to, "alice@example.com");
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Alice_1"), "{part}");
        assert!(
            !part.contains("555") && !part.contains("evil.example"),
            "{part}"
        );
    }
}

#[test]
fn a_malformed_address_is_a_validation_error() {
    let mut mocks = Mocks::new();
    mocks.users.expect_find_by_email().never();
    let err = block_on(service(mocks).forgot_password("not an address", &ClientInfo::default()))
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
}

#[test]
fn an_unknown_reset_token_is_refused_before_any_hashing() {
    let mut mocks = Mocks::new();
    mocks
        .mail_tokens
        .expect_find()
        .with(eq("fp(guess)"), eq(TokenPurpose::PasswordReset), eq(now()))
        .returning(|_, _, _| Ok(None));
    mocks.hasher.expect_hash().never();
    mocks.mail_tokens.expect_redeem_reset().never();
    let err =
        block_on(service(mocks).reset_password("guess", "new-password-1", &ClientInfo::default()))
            .unwrap_err();
    assert_eq!(err, DomainError::InvalidResetToken);
}

fn live_reset_token(mocks: &mut Mocks, user_id: Uuid) {
    mocks.mail_tokens.expect_find().returning(move |fp, _, _| {
        Ok(Some(MailToken {
            fingerprint: fp.to_owned(),
            user_id,
            purpose: TokenPurpose::PasswordReset,
            email: "alice@example.com".into(),
            created_at: now(),
            expires_at: now() + Duration::minutes(30),
        }))
    });
    mocks
        .hasher
        .expect_hash()
        .with(eq("new-password-1"))
        .returning(|_| Ok("hash-of-new".into()));
}

#[test]
fn a_live_token_sets_the_password_in_one_redemption_and_is_audited() {
    let id = Uuid::new_v4();
    let mut mocks = Mocks::new();
    live_reset_token(&mut mocks, id);
    mocks
        .mail_tokens
        .expect_redeem_reset()
        .with(eq("fp(tok)"), eq("hash-of-new"), eq(now()))
        .times(1)
        .returning(move |_, _, _| Ok(Some(id)));
    let events = audited(&mut mocks);
    block_on(service(mocks).reset_password("tok", "new-password-1", &ClientInfo::default()))
        .unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        [(AuditEvent::PasswordReset, AuditOutcome::Success)]
    );
}

#[test]
fn a_token_spent_by_a_concurrent_reset_is_refused() {
    let mut mocks = Mocks::new();
    live_reset_token(&mut mocks, Uuid::new_v4());
    mocks
        .mail_tokens
        .expect_redeem_reset()
        .returning(|_, _, _| Ok(None));
    mocks.audit.expect_record().never();
    let err =
        block_on(service(mocks).reset_password("tok", "new-password-1", &ClientInfo::default()))
            .unwrap_err();
    assert_eq!(err, DomainError::InvalidResetToken);
}

#[test]
fn a_weak_new_password_is_refused_before_the_token_is_looked_at() {
    let mut mocks = Mocks::new();
    mocks.mail_tokens.expect_find().never();
    let err = block_on(service(mocks).reset_password("tok", "short", &ClientInfo::default()))
        .unwrap_err();
    let DomainError::Validation(errors) = err else {
        panic!("a validation error")
    };
    assert!(
        errors.iter().all(|e| e.field == "new_password"),
        "{errors:?}"
    );
}

#[test]
fn a_verification_token_that_does_not_redeem_is_refused() {
    let mut mocks = Mocks::new();
    mocks
        .mail_tokens
        .expect_redeem_verification()
        .with(eq("fp(tok)"), eq(now()))
        .returning(|_, _| Ok(None));
    let err = block_on(service(mocks).verify_email("tok", &ClientInfo::default())).unwrap_err();
    assert_eq!(err, DomainError::InvalidVerificationToken);
}

#[test]
fn a_verified_address_is_not_sent_another_link() {
    let alice = User {
        email_verified: true,
        ..user(Role::User)
    };
    let mut mocks = Mocks::new();
    mocks.mail_tokens.expect_issue().never();
    block_on(service(mocks).resend_verification(&principal(&alice))).unwrap();
}

#[test]
fn only_an_admin_sends_someone_a_reset_link() {
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    mocks.mail_tokens.expect_issue().never();
    let err = block_on(service(mocks).send_reset(&principal(&alice), Uuid::new_v4())).unwrap_err();
    assert_eq!(err, DomainError::Forbidden);
}
