use std::sync::{Arc, Mutex};

use chrono::Duration;
use futures::executor::block_on;
use mockall::predicate::eq;
use uuid::Uuid;

use super::{DeliveryPolicy, DeliveryReport, MailDelivery};
use crate::model::{AuditEvent, Mail, MailKind, OutboxMessage, outbox_purpose};
use crate::ports::{MailError, MockAuditLog, MockMailer, SecretSealer};
use crate::services::mail::AccountMail;
use crate::services::test_support::{FakeSealer, Mocks, mail_policy, now};

fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        max_attempts: 8,
        first_retry: Duration::seconds(30),
        max_retry: Duration::minutes(20),
        lease: Duration::minutes(5),
        batch: 10,
    }
}

fn queued(attempts: u32) -> OutboxMessage {
    let id = Uuid::new_v4();
    let mail = Mail {
        to: "alice@example.com".into(),
        subject: "s".into(),
        text: "t".into(),
        html: "h".into(),
    };
    OutboxMessage {
        id,
        kind: MailKind::PasswordReset,
        user_id: Some(Uuid::new_v4()),
        sealed_mail: FakeSealer.seal(&serde_json::to_vec(&mail).unwrap(), &outbox_purpose(id)),
        attempts,
        next_attempt_at: now(),
        created_at: now(),
    }
}

fn claiming(mocks: &mut Mocks, message: OutboxMessage) {
    mocks
        .outbox
        .expect_claim_due()
        .with(eq(now()), eq(now() + Duration::minutes(5)), eq(10))
        .times(1)
        .returning(move |_, _, _| Ok(vec![message.clone()]));
}

fn run(mocks: Mocks, mailer: MockMailer) -> DeliveryReport {
    let ports = mocks.into_ports();
    let mail = Arc::new(AccountMail::new(ports.clone(), mail_policy()));
    block_on(MailDelivery::new(ports, Arc::new(mailer), mail, policy()).run_once()).unwrap()
}

fn audited(mocks: &mut Mocks) -> Arc<Mutex<Vec<AuditEvent>>> {
    let events: Arc<Mutex<Vec<_>>> = Arc::default();
    let seen = events.clone();
    let mut audit = MockAuditLog::new();
    audit.expect_record().returning(move |r| {
        seen.lock().unwrap().push(r.event);
        Ok(())
    });
    mocks.audit = audit;
    events
}

#[test]
fn a_sent_message_leaves_the_outbox() {
    let message = queued(1);
    let id = message.id;
    let mut mocks = Mocks::new();
    claiming(&mut mocks, message);
    mocks
        .outbox
        .expect_remove()
        .with(eq(id))
        .times(1)
        .returning(|_| Ok(true));
    let mut mailer = MockMailer::new();
    mailer
        .expect_send()
        .withf(|mail| mail.to == "alice@example.com" && mail.text == "t")
        .times(1)
        .returning(|_| Ok(()));
    assert_eq!(
        run(mocks, mailer),
        DeliveryReport {
            sent: 1,
            ..DeliveryReport::default()
        }
    );
}

#[test]
fn a_transient_failure_waits_twice_as_long_each_time() {
    for (attempts, pause) in [
        (1, Duration::seconds(30)),
        (3, Duration::seconds(120)),
        (7, Duration::minutes(20)),
    ] {
        let message = queued(attempts);
        let id = message.id;
        let mut mocks = Mocks::new();
        claiming(&mut mocks, message);
        mocks
            .outbox
            .expect_retry_at()
            .with(eq(id), eq(now() + pause))
            .times(1)
            .returning(|_, _| Ok(()));
        mocks.outbox.expect_remove().never();
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .returning(|_| Err(MailError::Transient("connection refused".into())));
        assert_eq!(run(mocks, mailer).retried, 1, "after {attempts} attempts");
    }
}

#[test]
fn the_last_attempt_and_a_permanent_refusal_give_up_and_are_audited() {
    for (attempts, error) in [
        (8, MailError::Transient("connection refused".into())),
        (1, MailError::Permanent("no such mailbox".into())),
    ] {
        let mut mocks = Mocks::new();
        claiming(&mut mocks, queued(attempts));
        mocks.outbox.expect_retry_at().never();
        mocks
            .outbox
            .expect_remove()
            .times(1)
            .returning(|_| Ok(true));
        let events = audited(&mut mocks);
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(move |_| Err(error.clone()));
        assert_eq!(run(mocks, mailer).given_up, 1);
        assert_eq!(*events.lock().unwrap(), [AuditEvent::MailFailed]);
    }
}

#[test]
fn a_message_that_cannot_be_opened_is_given_up_unsent() {
    let mut message = queued(1);
    message.sealed_mail = b"tampered".to_vec();
    let mut mocks = Mocks::new();
    claiming(&mut mocks, message);
    mocks
        .outbox
        .expect_remove()
        .times(1)
        .returning(|_| Ok(true));
    let events = audited(&mut mocks);
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    assert_eq!(run(mocks, mailer).given_up, 1);
    assert_eq!(*events.lock().unwrap(), [AuditEvent::MailFailed]);
}

/// A reset request as `forgot_password` queues it.
fn reset_request(attempts: u32) -> OutboxMessage {
    let id = Uuid::new_v4();
    let request = serde_json::json!({"email": "alice@example.com", "ip": null, "request_id": null});
    OutboxMessage {
        id,
        kind: MailKind::ResetRequest,
        user_id: None,
        sealed_mail: FakeSealer.seal(request.to_string().as_bytes(), &outbox_purpose(id)),
        attempts,
        next_attempt_at: now(),
        created_at: now(),
    }
}

#[test]
fn a_reset_request_is_answered_then_removed_and_is_no_mail() {
    let message = reset_request(1);
    let id = message.id;
    let mut mocks = Mocks::new();
    claiming(&mut mocks, message);
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    mocks
        .outbox
        .expect_remove()
        .with(eq(id))
        .times(1)
        .returning(|_| Ok(true));
    let events = audited(&mut mocks);
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    assert_eq!(run(mocks, mailer), DeliveryReport::default());
    assert_eq!(
        *events.lock().unwrap(),
        [AuditEvent::PasswordResetRequested]
    );
}

#[test]
fn a_reset_request_the_store_failed_is_tried_again() {
    let message = reset_request(1);
    let id = message.id;
    let mut mocks = Mocks::new();
    claiming(&mut mocks, message);
    mocks
        .users
        .expect_find_by_email()
        .returning(|_| Err(crate::ports::StoreError::Unavailable("down".into())));
    mocks
        .outbox
        .expect_retry_at()
        .with(eq(id), eq(now() + Duration::seconds(30)))
        .times(1)
        .returning(|_, _| Ok(()));
    mocks.outbox.expect_remove().never();
    assert_eq!(run(mocks, MockMailer::new()), DeliveryReport::default());
}

#[test]
fn a_reset_request_the_store_kept_failing_is_given_up_and_audited() {
    let message = reset_request(8);
    let id = message.id;
    let mut mocks = Mocks::new();
    claiming(&mut mocks, message);
    mocks
        .users
        .expect_find_by_email()
        .returning(|_| Err(crate::ports::StoreError::Unavailable("down".into())));
    mocks.outbox.expect_retry_at().never();
    mocks
        .outbox
        .expect_remove()
        .with(eq(id))
        .times(1)
        .returning(|_| Ok(true));
    let events = audited(&mut mocks);
    run(mocks, MockMailer::new());
    assert_eq!(*events.lock().unwrap(), [AuditEvent::MailFailed]);
}
