//! The contract of mail tokens and the outbox.

use chrono::{DateTime, Duration};
use uuid::Uuid;

use super::{HASH, challenge, deleted, opened, session, stored, t0};
use crate::model::{MailKind, MailToken, OutboxMessage, TokenPurpose, User, UserPatch};
use crate::ports::{Attempt, AttemptLimit, Stores, ThrottleKey};

fn token(user: &User, purpose: TokenPurpose, expires_at: DateTime<chrono::Utc>) -> MailToken {
    MailToken {
        fingerprint: Uuid::new_v4().simple().to_string(),
        user_id: user.id,
        purpose,
        email: user.email.clone(),
        created_at: t0(),
        expires_at,
    }
}

fn message(user: Option<&User>, due: DateTime<chrono::Utc>) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::new_v4(),
        kind: MailKind::PasswordReset,
        user_id: user.map(|u| u.id),
        sealed_mail: vec![0, 1, 2, 255],
        attempts: 0,
        next_attempt_at: due,
        created_at: t0(),
    }
}

fn in_an_hour() -> DateTime<chrono::Utc> {
    t0() + Duration::hours(1)
}

pub async fn a_token_is_stored_with_its_message_and_voids_the_older_one(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let tokens = &stores.mail_tokens;
    let first = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    assert!(
        tokens
            .issue(&first, &message(Some(&alice), t0()))
            .await
            .unwrap()
    );
    let found = tokens
        .find(&first.fingerprint, TokenPurpose::PasswordReset, t0())
        .await
        .unwrap();
    assert_eq!(found, Some(first.clone()), "every field round-trips");
    assert_eq!(
        tokens
            .find(&first.fingerprint, TokenPurpose::EmailVerification, t0())
            .await
            .unwrap(),
        None,
        "a token is good for its own purpose only"
    );

    let second = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    let verify = token(&alice, TokenPurpose::EmailVerification, in_an_hour());
    tokens
        .issue(&second, &message(Some(&alice), t0()))
        .await
        .unwrap();
    tokens
        .issue(&verify, &message(Some(&alice), t0()))
        .await
        .unwrap();
    let live = |t: &MailToken| {
        let (fp, purpose) = (t.fingerprint.clone(), t.purpose);
        async move { tokens.find(&fp, purpose, t0()).await.unwrap().is_some() }
    };
    assert!(!live(&first).await, "a newer token voids the older");
    assert!(live(&second).await);
    assert!(live(&verify).await, "other purposes are left alone");
    assert_eq!(
        stores.outbox.pending().await.unwrap(),
        3,
        "each queued its message"
    );

    deleted(stores, alice.id).await;
    assert!(!live(&second).await, "a deleted user's tokens go with them");
    assert_eq!(stores.outbox.pending().await.unwrap(), 0, "and their mail");
}

pub async fn a_reset_takes_the_token_and_makes_every_change_at_once(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let live = session(&alice, t0());
    opened(stores, &live).await;
    let key = ThrottleKey::Account(alice.id);
    let limit = AttemptLimit {
        max_attempts: 1,
        lock_until: in_an_hour(),
    };
    assert_eq!(
        stores
            .throttle
            .count_attempt(&key, t0(), limit)
            .await
            .unwrap(),
        Attempt::Counted { last: true },
        "the account is locked"
    );
    let reset = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    stores
        .mail_tokens
        .issue(&reset, &message(Some(&alice), t0()))
        .await
        .unwrap();

    let now = t0() + Duration::minutes(5);
    let redeemed = stores
        .mail_tokens
        .redeem_reset(&reset.fingerprint, "$2b$04$new", now)
        .await
        .unwrap();
    assert_eq!(redeemed, Some(alice.id));
    let after = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, "$2b$04$new");
    assert_eq!(after.locked_until, None, "the lockout is cleared");
    assert!(after.email_verified, "the link proved the address");
    let revoked = stores.sessions.find(live.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(now), "every session is revoked");
    assert_eq!(
        stores
            .throttle
            .count_attempt(&key, now, limit)
            .await
            .unwrap(),
        Attempt::Counted { last: true },
        "the count starts afresh"
    );
    assert_eq!(
        stores
            .mail_tokens
            .redeem_reset(&reset.fingerprint, "$2b$04$again", now)
            .await
            .unwrap(),
        None,
        "a token works once"
    );
    assert!(
        !stores
            .sessions
            .open(&session(&alice, now), HASH, false)
            .await
            .unwrap(),
        "the old password opens nothing"
    );
}

pub async fn expired_tokens_are_refused_and_deleted(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let expires = t0() + Duration::minutes(30);
    let reset = token(&alice, TokenPurpose::PasswordReset, expires);
    let verify = token(&alice, TokenPurpose::EmailVerification, expires);
    let tokens = &stores.mail_tokens;
    tokens
        .issue(&reset, &message(Some(&alice), t0()))
        .await
        .unwrap();
    tokens
        .issue(&verify, &message(Some(&alice), t0()))
        .await
        .unwrap();
    assert_eq!(
        tokens
            .find(&reset.fingerprint, TokenPurpose::PasswordReset, expires)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tokens
            .redeem_reset(&reset.fingerprint, "$2b$04$new", expires)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tokens
            .redeem_verification(&verify.fingerprint, expires)
            .await
            .unwrap(),
        None
    );
    let user = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, HASH, "nothing changed");
    assert!(!user.email_verified);
    assert_eq!(
        tokens
            .delete_expired(expires - Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(tokens.delete_expired(expires).await.unwrap(), 2);
}

pub async fn concurrent_redemptions_of_one_token_let_one_win(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let reset = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    let verify = token(&alice, TokenPurpose::EmailVerification, in_an_hour());
    let tokens = &stores.mail_tokens;
    tokens
        .issue(&reset, &message(Some(&alice), t0()))
        .await
        .unwrap();
    tokens
        .issue(&verify, &message(Some(&alice), t0()))
        .await
        .unwrap();
    let resets = futures::future::join_all((0..8).map(|i| {
        let hash = format!("$2b$04$new{i}");
        let fp = reset.fingerprint.clone();
        async move { tokens.redeem_reset(&fp, &hash, t0()).await.unwrap() }
    }))
    .await;
    let won: Vec<_> = resets.iter().flatten().collect();
    assert_eq!(won.len(), 1, "{resets:?}");
    let verifies = futures::future::join_all(
        (0..8).map(|_| tokens.redeem_verification(&verify.fingerprint, t0())),
    )
    .await;
    let verified = verifies
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_some())
        .count();
    assert_eq!(verified, 1);
}

pub async fn a_verification_proves_only_the_address_it_was_sent_to(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let verify = token(&alice, TokenPurpose::EmailVerification, in_an_hour());
    let reset = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    for t in [&verify, &reset] {
        stores
            .mail_tokens
            .issue(t, &message(Some(&alice), t0()))
            .await
            .unwrap();
    }
    let moved = UserPatch {
        email: Some("alice.new@example.com".into()),
        email_verified: Some(false),
        ..UserPatch::default()
    };
    assert!(stores.users.update(alice.id, &moved, t0()).await.unwrap());
    assert_eq!(
        stores
            .mail_tokens
            .redeem_verification(&verify.fingerprint, t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .mail_tokens
            .redeem_reset(&reset.fingerprint, "$2b$04$new", t0())
            .await
            .unwrap(),
        None,
        "a reset link sent to the old address is dead"
    );
    let user = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert!(
        !user.email_verified,
        "the new address is not proven by the old link"
    );
    assert_eq!(user.password_hash, HASH);

    let again = token(&user, TokenPurpose::EmailVerification, in_an_hour());
    stores
        .mail_tokens
        .issue(&again, &message(Some(&user), t0()))
        .await
        .unwrap();
    assert_eq!(
        stores
            .mail_tokens
            .redeem_verification(&again.fingerprint, t0())
            .await
            .unwrap(),
        Some(alice.id)
    );
    assert!(
        stores
            .users
            .find_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    let unverified = UserPatch {
        email_verified: Some(false),
        ..UserPatch::default()
    };
    assert!(
        stores
            .users
            .update(alice.id, &unverified, t0())
            .await
            .unwrap()
    );
    assert!(
        !stores
            .users
            .find_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
}

pub async fn the_outbox_hands_each_due_message_to_one_claim_at_a_time(stores: &Stores) {
    let outbox = &stores.outbox;
    let due = message(None, t0());
    let later = message(None, t0() + Duration::minutes(10));
    outbox.enqueue(&due).await.unwrap();
    outbox.enqueue(&later).await.unwrap();
    let lease = t0() + Duration::minutes(5);

    let claimed = outbox.claim_due(t0(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "only what is due");
    assert_eq!(claimed[0].id, due.id);
    assert_eq!(claimed[0].attempts, 1, "a claim counts an attempt");
    assert_eq!(claimed[0].sealed_mail, due.sealed_mail, "bytes round-trip");
    assert!(
        outbox.claim_due(t0(), lease, 10).await.unwrap().is_empty(),
        "a held message is not claimed again"
    );
    let after_lease = outbox
        .claim_due(lease, lease + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(
        after_lease.len(),
        1,
        "a claim whose holder died ends with its lease"
    );
    assert_eq!(after_lease[0].attempts, 2);

    let retry = lease + Duration::minutes(1);
    outbox.retry_at(due.id, retry).await.unwrap();
    assert!(
        outbox
            .claim_due(lease, lease + Duration::minutes(5), 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.id != due.id),
        "a retry waits for its time"
    );
    let third = outbox
        .claim_due(retry, retry + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert!(third.iter().any(|m| m.id == due.id && m.attempts == 3));

    assert!(outbox.remove(due.id).await.unwrap());
    assert!(!outbox.remove(due.id).await.unwrap(), "removed once");
    assert_eq!(outbox.pending().await.unwrap(), 1);
}

pub async fn concurrent_claims_take_each_message_once(stores: &Stores) {
    for _ in 0..24 {
        stores.outbox.enqueue(&message(None, t0())).await.unwrap();
    }
    let lease = t0() + Duration::minutes(5);
    let claims =
        futures::future::join_all((0..6).map(|_| stores.outbox.claim_due(t0(), lease, 5))).await;
    let mut ids: Vec<Uuid> = claims
        .into_iter()
        .flat_map(|claimed| claimed.unwrap())
        .map(|m| m.id)
        .collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "no message was claimed twice");
    assert_eq!(claimed, 24, "six claims of five took all 24");
}

/// Deactivation voids what is in flight: a redemption checks the account is active in its own
/// write, nothing new is issued or opened for an inactive account, and the tokens and second
/// steps of one user go at once, nobody else's.
pub async fn a_deactivated_users_links_and_second_steps_are_void(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let bob = stored(stores, "Bob_1").await;
    let carol = stored(stores, "Carol_1").await;
    let tokens = &stores.mail_tokens;
    let mut issued = Vec::new();
    for user in [&alice, &bob, &carol] {
        for purpose in [TokenPurpose::PasswordReset, TokenPurpose::EmailVerification] {
            let t = token(user, purpose, in_an_hour());
            assert!(tokens.issue(&t, &message(Some(user), t0())).await.unwrap());
            issued.push(t);
        }
        for n in 0..2 {
            let fingerprint = format!("{}-{n}", user.username);
            assert!(
                stores
                    .mfa
                    .open_challenge(&challenge(user, &fingerprint))
                    .await
                    .unwrap()
            );
        }
    }
    let active = |yes: bool| UserPatch {
        is_active: Some(yes),
        ..UserPatch::default()
    };
    for user in [&alice, &carol] {
        assert!(
            stores
                .users
                .update(user.id, &active(false), t0())
                .await
                .unwrap()
        );
    }
    // Nothing new is issued or opened for an inactive account.
    let late = token(&alice, TokenPurpose::PasswordReset, in_an_hour());
    assert!(
        !tokens
            .issue(&late, &message(Some(&alice), t0()))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .mfa
            .open_challenge(&challenge(&alice, "late"))
            .await
            .unwrap()
    );
    // Redemptions refuse an inactive account in their own write (Carol's are not voided).
    assert_eq!(
        tokens
            .redeem_reset(&issued[4].fingerprint, "$2b$04$new", t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tokens
            .redeem_verification(&issued[5].fingerprint, t0())
            .await
            .unwrap(),
        None
    );
    let after = stores.users.find_by_id(carol.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, HASH, "nothing was set");
    assert!(!after.email_verified);

    // Alice's are voided, and stay void after a reactivation.
    assert_eq!(tokens.void_for_user(alice.id).await.unwrap(), 2);
    assert_eq!(
        stores
            .mfa
            .delete_challenges_for_user(alice.id)
            .await
            .unwrap(),
        2
    );
    assert!(
        stores
            .users
            .update(alice.id, &active(true), t0())
            .await
            .unwrap()
    );
    for voided in [&issued[0], &late] {
        assert_eq!(
            tokens
                .redeem_reset(&voided.fingerprint, "$2b$04$new", t0())
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        stores.mfa.find_challenge("Alice_1-0", t0()).await.unwrap(),
        None
    );
    // Bob's are untouched.
    assert!(
        stores
            .mfa
            .find_challenge("Bob_1-0", t0())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        tokens
            .redeem_verification(&issued[3].fingerprint, t0())
            .await
            .unwrap(),
        Some(bob.id)
    );
}

/// A reset request waits in the outbox like a message: sealed, with no account named.
pub async fn a_reset_request_is_queued_with_no_account(stores: &Stores) {
    let request = OutboxMessage {
        kind: MailKind::ResetRequest,
        ..message(None, t0())
    };
    stores.outbox.enqueue(&request).await.unwrap();
    let claimed = stores
        .outbox
        .claim_due(t0(), in_an_hour(), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed,
        [OutboxMessage {
            attempts: 1,
            ..request
        }]
    );
}
