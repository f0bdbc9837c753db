//! The behaviour every storage adapter must show. Each adapter's tests run all of it with
//! `storage_contract_tests!`, so the in-memory, SQLite and PostgreSQL adapters cannot drift apart.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::model::{AuditEvent, AuditOutcome, AuditRecord};
use crate::model::{MfaChallenge, Role, Session, User, UserPatch};
use crate::ports::{
    AdminGuard, AdminWrite, Attempt, AttemptLimit, StoreError, Stores, ThrottleKey,
};

/// Runs every contract case as its own test, each on a fresh, empty store made by `$make`: an
/// async expression giving the store's `Stores` and whatever must live as long as they do.
#[macro_export]
macro_rules! storage_contract_tests {
    ($make:expr) => {
        $crate::storage_contract_tests!(@cases $make;
            users_are_found_by_id_username_and_email,
            usernames_and_emails_are_unique_case_insensitively,
            updates_are_stored_and_checked_for_uniqueness,
            deleting_a_user_deletes_their_sessions,
            users_are_listed_oldest_first_in_pages,
            active_users_are_counted_by_role,
            sessions_round_trip_every_field,
            refresh_rotation_is_a_compare_and_swap,
            sessions_are_revoked_one_or_all,
            only_live_sessions_are_listed_newest_first,
            touch_records_the_last_use,
            attempts_are_counted_then_locked_then_cleared,
            concurrent_attempts_never_exceed_the_budget,
            attempts_racing_clears_never_fail,
            an_update_writes_only_the_fields_it_names,
            concurrent_updates_of_different_fields_all_stay,
            a_password_hash_is_replaced_only_from_the_current_one,
            concurrent_password_swaps_from_one_hash_let_one_win,
            old_audit_records_are_deleted,
            a_users_lock_is_reported_on_the_user,
            rate_limit_hits_are_counted_per_key_and_window,
            concurrent_rate_limit_hits_are_all_counted,
            rate_limit_counts_are_read_without_a_hit,
            housekeeping_deletes_only_what_is_past_its_cut_off,
            audit_records_round_trip_newest_first_in_pages,
            a_session_is_found_with_its_user,
            a_session_lookup_follows_every_write,
            the_last_active_admin_is_neither_demoted_nor_deleted,
            a_demoted_admin_cannot_write_after_the_demotion,
            a_session_opens_only_on_the_current_password_of_an_active_user,
            sessions_racing_a_password_change_never_outlive_it,
            two_admins_demoting_each_other_at_once_leave_one,
            a_refund_takes_back_one_attempt_and_the_lock_it_made,
            a_totp_factor_is_pending_until_confirmed,
            each_time_step_is_spent_once_and_never_an_earlier_one,
            concurrent_spends_of_one_step_let_one_win,
            recovery_codes_work_once_and_die_when_replaced,
            concurrent_spends_of_one_recovery_code_let_one_win,
            a_challenge_is_taken_once_and_never_after_it_expires,
            a_users_deletion_takes_their_factor_and_challenges,
            a_factor_takes_its_challenges_with_it_and_gates_new_sessions,
            signing_keys_move_through_their_lifecycle,
            concurrent_rotations_from_one_state_let_one_win,
            concurrent_first_keys_make_one_current,
            service_clients_round_trip_and_are_deleted,
            client_changes_set_only_their_fields,
            an_authorization_code_is_spent_once_and_a_replay_names_its_session,
            concurrent_uses_of_one_code_spend_it_once,
            codes_go_with_their_user_and_their_client,
            a_consent_is_one_grant_per_person_and_client_replaced_whole,
            a_clients_sessions_of_a_person_are_revoked_together,
            concurrent_grants_of_one_consent_all_land,
            a_token_is_stored_with_its_message_and_voids_the_older_one,
            a_reset_takes_the_token_and_makes_every_change_at_once,
            expired_tokens_are_refused_and_deleted,
            concurrent_redemptions_of_one_token_let_one_win,
            a_verification_proves_only_the_address_it_was_sent_to,
            the_outbox_hands_each_due_message_to_one_claim_at_a_time,
            concurrent_claims_take_each_message_once,
            a_deactivated_users_links_and_second_steps_are_void,
            a_reset_request_is_queued_with_no_account,
            the_shared_secrets_row_goes_through_the_lifecycle_without_key_material,
            where_verification_is_required_a_session_opens_only_for_a_verified_address,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (stores, _guard) = $make.await;
                $crate::contract::$case(&stores).await;
            }
        )*
    };
}

#[path = "contract_mail.rs"]
mod mail;
pub use mail::*;

#[path = "contract_authorization.rs"]
mod authorization;
pub use authorization::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap() + Duration::microseconds(123_456)
}

pub fn user(username: &str) -> User {
    User {
        id: Uuid::new_v4(),
        username: username.to_owned(),
        email: format!("{}@example.com", username.to_lowercase()),
        name: Some(format!("{username} Example")),
        role: Role::User,
        is_active: true,
        password_hash: HASH.into(),
        locked_until: None,
        mfa_enabled: false,
        email_verified: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub fn session(user: &User, created_at: DateTime<Utc>) -> Session {
    Session {
        id: Uuid::new_v4(),
        kind: crate::model::SessionKind::Api,
        user_id: user.id,
        refresh_jti: Uuid::new_v4(),
        previous_refresh_jti: None,
        rotated_at: None,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + Duration::days(30),
        revoked_at: None,
        user_agent: Some("agent/1.0".into()),
        ip: Some("192.0.2.1".into()),
        mfa: false,
        client_id: None,
    }
}

/// The password hash every user of the suite is stored with.
const HASH: &str = "$2b$04$hash";

/// Opens `session` with its user's password hash, as a login that verified it would.
async fn opened(stores: &Stores, session: &Session) {
    assert!(
        stores.sessions.open(session, HASH, false).await.unwrap(),
        "the session opens"
    );
}

/// An admin's guard for `actor`.
fn by(actor: &User, keep_another_admin: bool) -> AdminGuard {
    AdminGuard {
        actor: actor.id,
        keep_another_admin,
    }
}

async fn stored(stores: &Stores, username: &str) -> User {
    let user = user(username);
    stores.users.insert(&user).await.unwrap();
    user
}

pub async fn users_are_found_by_id_username_and_email(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    assert_eq!(
        stores.users.find_by_id(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        stores.users.find_by_username("aLiCe_1").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        stores
            .users
            .find_by_email("alice_1@example.com")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(stores.users.find_by_id(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(stores.users.find_by_username("nobody").await.unwrap(), None);
    assert_eq!(
        stores.users.find_by_email("a%@example.com").await.unwrap(),
        None
    );
    assert_eq!(
        stores.users.find_by_username("Alice\\_1").await.unwrap(),
        None
    );
}

pub async fn usernames_and_emails_are_unique_case_insensitively(stores: &Stores) {
    let alice = stored(stores, "Alice_1").await;
    let mut same_name = user("ALICE_1");
    same_name.email = "other@example.com".into();
    assert_eq!(
        stores.users.insert(&same_name).await,
        Err(StoreError::Conflict)
    );
    let mut same_email = user("someone_else");
    same_email.email = alice.email.clone();
    assert_eq!(
        stores.users.insert(&same_email).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(stores.users.list(1, 10).await.unwrap().total, 1);
}

pub async fn updates_are_stored_and_checked_for_uniqueness(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let bob = stored(stores, "bob_1").await;
    let at = t0() + Duration::seconds(5);
    let everything = UserPatch {
        username: Some("Alice_2".into()),
        email: Some("alice2@example.com".into()),
        name: Some(None),
        role: Some(Role::Admin),
        is_active: Some(false),
        email_verified: Some(true),
    };
    assert!(
        stores
            .users
            .update(alice.id, &everything, at)
            .await
            .unwrap()
    );
    let expected = User {
        username: "Alice_2".into(),
        email: "alice2@example.com".into(),
        name: None,
        role: Role::Admin,
        is_active: false,
        email_verified: true,
        updated_at: at,
        ..alice.clone()
    };
    assert_eq!(
        stores.users.find_by_id(alice.id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        stores.users.find_by_username("alice_1").await.unwrap(),
        None,
        "the old name is free again"
    );

    let rename = |name: &str| UserPatch {
        username: Some(name.into()),
        ..UserPatch::default()
    };
    assert_eq!(
        stores.users.update(alice.id, &rename("BOB_1"), at).await,
        Err(StoreError::Conflict)
    );
    let take_email = UserPatch {
        email: Some(bob.email.clone().into()),
        ..UserPatch::default()
    };
    assert_eq!(
        stores.users.update(alice.id, &take_email, at).await,
        Err(StoreError::Conflict)
    );
    assert!(
        !stores
            .users
            .update(Uuid::new_v4(), &rename("nobody_1"), at)
            .await
            .unwrap(),
        "no such user"
    );
}

/// The lost-update rule: a write names its fields and leaves every other one as it is now,
/// not as the writer last saw it.
pub async fn an_update_writes_only_the_fields_it_names(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let at = t0() + Duration::seconds(5);
    let demote = UserPatch {
        role: Some(Role::Admin),
        is_active: Some(false),
        ..UserPatch::default()
    };
    stores.users.update(alice.id, &demote, at).await.unwrap();
    let rename = UserPatch {
        name: Some(Some("Alice Renamed".into())),
        ..UserPatch::default()
    };
    stores.users.update(alice.id, &rename, at).await.unwrap();
    let found = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (found.role, found.is_active, found.name.as_deref()),
        (Role::Admin, false, Some("Alice Renamed"))
    );
    assert_eq!(found.password_hash, alice.password_hash);
    assert_eq!(found.username, alice.username);
}

pub async fn concurrent_updates_of_different_fields_all_stay(stores: &Stores) {
    let admin = stored_admin(stores, "root_1").await;
    for round in 0..10 {
        let alice = stored(stores, &format!("alice_{round}")).await;
        let at = t0() + Duration::seconds(5);
        let rename = UserPatch {
            name: Some(Some(format!("renamed {round}").into())),
            ..UserPatch::default()
        };
        let demote = UserPatch {
            role: Some(Role::User),
            is_active: Some(false),
            ..UserPatch::default()
        };
        let hash = format!("$2b$04$new{round}");
        let (renamed, deactivated, swapped) = futures::join!(
            stores.users.update(alice.id, &rename, at),
            stores
                .users
                .update_as_admin(by(&admin, true), alice.id, &demote, at),
            stores
                .users
                .replace_password_hash(alice.id, &alice.password_hash, &hash, at),
        );
        assert!(renamed.unwrap() && swapped.unwrap());
        assert_eq!(deactivated.unwrap(), AdminWrite::Written);
        let found = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
        assert_eq!(found.name, Some(format!("renamed {round}")));
        assert!(!found.is_active, "round {round}: the deactivation stays");
        assert_eq!(found.password_hash, hash);
    }
    assert!(
        stores
            .users
            .find_by_id(admin.id)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
}

pub async fn a_password_hash_is_replaced_only_from_the_current_one(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let at = t0() + Duration::seconds(5);
    let users = &stores.users;
    assert!(
        !users
            .replace_password_hash(alice.id, "$2b$04$stale", "$2b$04$x", at)
            .await
            .unwrap()
    );
    assert!(
        users
            .replace_password_hash(alice.id, &alice.password_hash, "$2b$04$second", at)
            .await
            .unwrap()
    );
    assert!(
        !users
            .replace_password_hash(alice.id, &alice.password_hash, "$2b$04$third", at)
            .await
            .unwrap(),
        "the old hash is not current any more"
    );
    let found = users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (found.password_hash.as_str(), found.updated_at),
        ("$2b$04$second", at)
    );
    assert!(
        !users
            .replace_password_hash(Uuid::new_v4(), "$2b$04$second", "$2b$04$x", at)
            .await
            .unwrap()
    );
}

pub async fn concurrent_password_swaps_from_one_hash_let_one_win(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let at = t0() + Duration::seconds(5);
    let new_hashes: Vec<String> = (0..12).map(|i| format!("$2b$04$candidate{i}")).collect();
    let swaps = new_hashes.iter().map(|new| {
        stores
            .users
            .replace_password_hash(alice.id, &alice.password_hash, new, at)
    });
    let won: Vec<bool> = futures::future::join_all(swaps)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one swap wins"
    );
    let winner = won.iter().position(|w| *w).unwrap();
    let found = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash, new_hashes[winner]);
}

pub async fn deleting_a_user_deletes_their_sessions(stores: &Stores) {
    let root = stored_admin(stores, "root_1").await;
    let alice = stored(stores, "alice_1").await;
    let s = session(&alice, t0());
    opened(stores, &s).await;
    let delete = || stores.users.delete_as_admin(by(&root, true), alice.id);
    assert_eq!(delete().await.unwrap(), AdminWrite::Written);
    assert_eq!(stores.users.find_by_id(alice.id).await.unwrap(), None);
    assert_eq!(stores.sessions.find(s.id).await.unwrap(), None);
    assert_eq!(delete().await.unwrap(), AdminWrite::NoSuchUser);
}

/// With verification required, the address must be verified when the session is stored: an
/// address changed after the login read the user opens nothing.
pub async fn where_verification_is_required_a_session_opens_only_for_a_verified_address(
    stores: &Stores,
) {
    let alice = stored(stores, "alice_1").await;
    let first = session(&alice, t0());
    assert!(!stores.sessions.open(&first, HASH, true).await.unwrap());
    assert!(stores.sessions.open(&first, HASH, false).await.unwrap());
    let verified = UserPatch {
        email_verified: Some(true),
        ..UserPatch::default()
    };
    assert!(
        stores
            .users
            .update(alice.id, &verified, t0())
            .await
            .unwrap()
    );
    assert!(
        stores
            .sessions
            .open(&session(&alice, t0()), HASH, true)
            .await
            .unwrap()
    );
    let moved = UserPatch {
        email: Some("alice@new.example.com".into()),
        email_verified: Some(false),
        ..UserPatch::default()
    };
    assert!(stores.users.update(alice.id, &moved, t0()).await.unwrap());
    let late = session(&alice, t0());
    assert!(!stores.sessions.open(&late, HASH, true).await.unwrap());
    assert_eq!(stores.sessions.find(late.id).await.unwrap(), None);
}

/// The session rule: a session opens only on the password hash its login verified, for an
/// active user that still exists.
pub async fn a_session_opens_only_on_the_current_password_of_an_active_user(stores: &Stores) {
    let root = stored_admin(stores, "root_1").await;
    let alice = stored(stores, "alice_1").await;
    let at = t0() + Duration::seconds(5);
    let s = session(&alice, t0());
    assert!(
        !stores
            .sessions
            .open(&s, "$2b$04$stale", false)
            .await
            .unwrap()
    );
    assert_eq!(stores.sessions.find(s.id).await.unwrap(), None);
    opened(stores, &s).await;

    stores
        .users
        .replace_password_hash(alice.id, HASH, "$2b$04$changed", at)
        .await
        .unwrap();
    let after_change = session(&alice, t0());
    assert!(
        !stores
            .sessions
            .open(&after_change, HASH, false)
            .await
            .unwrap(),
        "a login that verified the old password opens nothing"
    );
    assert!(
        stores
            .sessions
            .open(&after_change, "$2b$04$changed", false)
            .await
            .unwrap()
    );

    let deactivate = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    stores
        .users
        .update_as_admin(by(&root, true), alice.id, &deactivate, at)
        .await
        .unwrap();
    let inactive = session(&alice, t0());
    assert!(
        !stores
            .sessions
            .open(&inactive, "$2b$04$changed", false)
            .await
            .unwrap()
    );

    let ghost = user("ghost_1");
    let orphan = session(&ghost, t0());
    assert!(
        !stores.sessions.open(&orphan, HASH, false).await.unwrap(),
        "no user, no session (and no constraint error)"
    );
}

/// Logins racing a password change: every session opened with the old hash is either refused or
/// opened before the change, where the change's revocation finds it.
pub async fn sessions_racing_a_password_change_never_outlive_it(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let at = t0() + Duration::seconds(5);
    let mut current = HASH.to_owned();
    for round in 0..10 {
        let next = format!("$2b$04$round{round}");
        let sessions: Vec<Session> = (0..6).map(|_| session(&alice, t0())).collect();
        let opens = sessions
            .iter()
            .map(|s| stores.sessions.open(s, &current, false));
        let change = async {
            let swapped = stores
                .users
                .replace_password_hash(alice.id, &current, &next, at)
                .await
                .unwrap();
            assert!(swapped);
            stores
                .sessions
                .revoke_all_for_user(alice.id, None, at)
                .await
                .unwrap()
        };
        let (opened, _) = futures::join!(futures::future::join_all(opens), change);
        for (s, was_opened) in sessions.iter().zip(opened) {
            let live = stores
                .sessions
                .find(s.id)
                .await
                .unwrap()
                .is_some_and(|found| found.revoked_at.is_none());
            assert!(!live, "round {round}: opened {was_opened:?} and still live");
        }
        current = next;
    }
}

pub async fn users_are_listed_oldest_first_in_pages(stores: &Stores) {
    for i in 0..5 {
        let mut u = user(&format!("user_{i}"));
        u.created_at = t0() + Duration::seconds(i);
        stores.users.insert(&u).await.unwrap();
    }
    let first = stores.users.list(1, 2).await.unwrap();
    assert_eq!(first.total, 5);
    assert_eq!((first.page, first.per_page), (1, 2));
    let names: Vec<_> = first.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["user_0", "user_1"]);
    let last = stores.users.list(3, 2).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.items[0].username, "user_4");
    assert!(stores.users.list(4, 2).await.unwrap().items.is_empty());
}

pub async fn active_users_are_counted_by_role(stores: &Stores) {
    let mut admin = user("admin_1");
    admin.role = Role::Admin;
    stores.users.insert(&admin).await.unwrap();
    let mut retired = user("admin_2");
    retired.role = Role::Admin;
    retired.is_active = false;
    stores.users.insert(&retired).await.unwrap();
    stored(stores, "plain_1").await;
    assert_eq!(
        stores
            .users
            .count_active_with_role(Role::Admin)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stores
            .users
            .count_active_with_role(Role::User)
            .await
            .unwrap(),
        1
    );
}

pub async fn sessions_round_trip_every_field(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let mut s = session(&alice, t0());
    s.previous_refresh_jti = Some(Uuid::new_v4());
    s.rotated_at = Some(t0() + Duration::microseconds(1));
    opened(stores, &s).await;
    assert_eq!(stores.sessions.find(s.id).await.unwrap(), Some(s.clone()));

    let mut bare = session(&alice, t0());
    bare.user_agent = None;
    bare.ip = None;
    opened(stores, &bare).await;
    assert_eq!(stores.sessions.find(bare.id).await.unwrap(), Some(bare));
    assert_eq!(stores.sessions.find(Uuid::new_v4()).await.unwrap(), None);
}

pub async fn refresh_rotation_is_a_compare_and_swap(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let s = session(&alice, t0());
    opened(stores, &s).await;
    let (next, later) = (Uuid::new_v4(), t0() + Duration::seconds(60));
    let expires = later + Duration::days(30);

    assert!(
        !stores
            .sessions
            .rotate_refresh(s.id, Uuid::new_v4(), next, later, expires)
            .await
            .unwrap()
    );
    assert!(
        stores
            .sessions
            .rotate_refresh(s.id, s.refresh_jti, next, later, expires)
            .await
            .unwrap()
    );
    let rotated = stores.sessions.find(s.id).await.unwrap().unwrap();
    assert_eq!(rotated.refresh_jti, next);
    assert_eq!(rotated.previous_refresh_jti, Some(s.refresh_jti));
    assert_eq!(rotated.rotated_at, Some(later));
    assert_eq!(rotated.last_used_at, later);
    assert_eq!(rotated.expires_at, expires);
    assert!(
        !stores
            .sessions
            .rotate_refresh(s.id, s.refresh_jti, Uuid::new_v4(), later, expires)
            .await
            .unwrap(),
        "the old jti no longer rotates"
    );

    stores.sessions.revoke(s.id, later).await.unwrap();
    assert!(
        !stores
            .sessions
            .rotate_refresh(s.id, next, Uuid::new_v4(), later, expires)
            .await
            .unwrap(),
        "a revoked session never rotates"
    );
}

pub async fn sessions_are_revoked_one_or_all(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let bob = stored(stores, "bob_1").await;
    let [a1, a2, a3] = [0, 1, 2].map(|i| session(&alice, t0() + Duration::seconds(i)));
    let b1 = session(&bob, t0());
    for s in [&a1, &a2, &a3, &b1] {
        opened(stores, s).await;
    }
    let later = t0() + Duration::seconds(10);
    assert!(stores.sessions.revoke(a1.id, later).await.unwrap());
    assert!(
        !stores.sessions.revoke(a1.id, later).await.unwrap(),
        "already revoked"
    );
    assert_eq!(
        stores
            .sessions
            .find(a1.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(later)
    );
    assert_eq!(
        stores
            .sessions
            .revoke_all_for_user(alice.id, Some(a3.id), later)
            .await
            .unwrap(),
        1
    );
    assert!(
        stores
            .sessions
            .find(a2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        stores
            .sessions
            .find(a3.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        stores
            .sessions
            .find(b1.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(
        stores
            .sessions
            .revoke_all_for_user(alice.id, None, later)
            .await
            .unwrap(),
        1
    );
}

pub async fn only_live_sessions_are_listed_newest_first(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let older = session(&alice, t0());
    let newer = session(&alice, t0() + Duration::seconds(1));
    let revoked = session(&alice, t0());
    let mut expired = session(&alice, t0());
    expired.expires_at = t0() + Duration::seconds(5);
    for s in [&older, &newer, &revoked, &expired] {
        opened(stores, s).await;
    }
    stores.sessions.revoke(revoked.id, t0()).await.unwrap();
    let listed = stores
        .sessions
        .list_active_for_user(alice.id, t0() + Duration::seconds(5))
        .await
        .unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, [newer.id, older.id]);
}

pub async fn touch_records_the_last_use(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let s = session(&alice, t0());
    opened(stores, &s).await;
    let later = t0() + Duration::seconds(90);
    stores.sessions.touch(s.id, later).await.unwrap();
    assert_eq!(
        stores
            .sessions
            .find(s.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        later
    );
}

fn unknown(login: &str) -> ThrottleKey {
    ThrottleKey::UnknownLogin(login.into())
}

fn budget(max_attempts: u32, lock_until: DateTime<Utc>) -> AttemptLimit {
    AttemptLimit {
        max_attempts,
        lock_until,
    }
}

pub async fn attempts_are_counted_then_locked_then_cleared(stores: &Stores) {
    let (key, throttle) = (&unknown("someone"), &stores.throttle);
    let until = t0() + Duration::seconds(900);
    let limit = budget(3, until);
    for last in [false, false, true] {
        assert_eq!(
            throttle.count_attempt(key, t0(), limit).await.unwrap(),
            Attempt::Counted { last }
        );
    }
    let later = t0() + Duration::seconds(10);
    assert_eq!(
        throttle
            .count_attempt(key, later, budget(3, later + Duration::seconds(900)))
            .await
            .unwrap(),
        Attempt::Locked { until },
        "a locked key counts nothing and keeps its lock"
    );
    assert_eq!(
        throttle
            .count_attempt(&unknown("other"), t0(), limit)
            .await
            .unwrap(),
        Attempt::Counted { last: false },
        "keys are counted apart"
    );

    // Once the lock has passed, the count starts afresh.
    let after = until + Duration::seconds(1);
    let next_limit = budget(3, after + Duration::seconds(900));
    for last in [false, false, true] {
        assert_eq!(
            throttle
                .count_attempt(key, after, next_limit)
                .await
                .unwrap(),
            Attempt::Counted { last }
        );
    }
    throttle.clear(key).await.unwrap();
    assert_eq!(
        throttle
            .count_attempt(key, after, next_limit)
            .await
            .unwrap(),
        Attempt::Counted { last: false },
        "a clear forgets the count and the lock"
    );
}

/// The lockout rule under a burst: of many concurrent attempts, only the budget is counted and
/// judged; every other one finds the key locked.
pub async fn concurrent_attempts_never_exceed_the_budget(stores: &Stores) {
    let (until, contended) = (t0() + Duration::seconds(900), unknown("contended"));
    let attempts = (0..20).map(|_| {
        stores
            .throttle
            .count_attempt(&contended, t0(), budget(5, until))
    });
    let outcomes: Vec<Attempt> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let counted = outcomes
        .iter()
        .filter(|o| matches!(o, Attempt::Counted { .. }))
        .count();
    let last = outcomes
        .iter()
        .filter(|o| **o == Attempt::Counted { last: true })
        .count();
    assert_eq!((counted, last), (5, 1), "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Attempt::Locked { .. }))
            .all(|o| *o == Attempt::Locked { until })
    );
}

/// Successes clear a key while other attempts are being counted under it: nothing may fail,
/// and no attempt may be lost into a half-deleted entry.
pub async fn attempts_racing_clears_never_fail(stores: &Stores) {
    let key = &unknown("raced");
    let limit = budget(1000, t0() + Duration::seconds(900));
    for _ in 0..10 {
        let attempts = (0..6).map(|_| stores.throttle.count_attempt(key, t0(), limit));
        let clears = (0..6).map(|_| stores.throttle.clear(key));
        let (attempts, clears) = futures::join!(
            futures::future::join_all(attempts),
            futures::future::join_all(clears)
        );
        for attempt in attempts {
            assert_eq!(attempt.unwrap(), Attempt::Counted { last: false });
        }
        for clear in clears {
            clear.unwrap();
        }
    }
}

pub async fn a_users_lock_is_reported_on_the_user(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let key = ThrottleKey::Account(alice.id);
    let until = t0() + Duration::seconds(900);
    stores
        .throttle
        .count_attempt(&key, t0(), budget(1, until))
        .await
        .unwrap();
    let found = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(found.locked_until, Some(until));
    let listed = stores.users.list(1, 10).await.unwrap();
    assert_eq!(listed.items[0].locked_until, Some(until));
    stores.throttle.clear(&key).await.unwrap();
    let found = stores
        .users
        .find_by_username("alice_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.locked_until, None);
}

pub async fn rate_limit_hits_are_counted_per_key_and_window(stores: &Stores) {
    let (w1, w2) = (t0(), t0() + Duration::seconds(60));
    let limits = &stores.rate_limits;
    assert_eq!(limits.hit("login:192.0.2.1", w1).await.unwrap(), 1);
    assert_eq!(limits.hit("login:192.0.2.1", w1).await.unwrap(), 2);
    assert_eq!(limits.hit("login:192.0.2.2", w1).await.unwrap(), 1);
    assert_eq!(limits.hit("register:192.0.2.1", w1).await.unwrap(), 1);
    assert_eq!(limits.hit("login:192.0.2.1", w2).await.unwrap(), 1);
    assert_eq!(limits.hit("login:192.0.2.1", w2).await.unwrap(), 2);
}

pub async fn rate_limit_counts_are_read_without_a_hit(stores: &Stores) {
    let (w1, w2) = (t0(), t0() + Duration::minutes(10));
    let limits = &stores.rate_limits;
    assert_eq!(limits.count("mail_recipient:a", w1).await.unwrap(), 0);
    limits.hit("mail_recipient:a", w1).await.unwrap();
    limits.hit("mail_recipient:a", w1).await.unwrap();
    for _ in 0..2 {
        assert_eq!(limits.count("mail_recipient:a", w1).await.unwrap(), 2);
    }
    assert_eq!(limits.count("mail_recipient:a", w2).await.unwrap(), 0);
    assert_eq!(limits.count("mail_recipient:b", w1).await.unwrap(), 0);
    // Windows of other keys, earlier or later, are counted apart.
    limits.hit("mail_recipient:a:later", w2).await.unwrap();
    assert_eq!(limits.count("mail_recipient:a", w1).await.unwrap(), 2);
    assert_eq!(limits.hit("mail_recipient:a", w1).await.unwrap(), 3);
}

pub async fn concurrent_rate_limit_hits_are_all_counted(stores: &Stores) {
    let hits = (0..16).map(|_| stores.rate_limits.hit("login:contended", t0()));
    let mut counts: Vec<u32> = futures::future::join_all(hits)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=16).collect::<Vec<u32>>());
}

pub async fn housekeeping_deletes_only_what_is_past_its_cut_off(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let mut old = session(&alice, t0());
    old.expires_at = t0() + Duration::seconds(10);
    let live = session(&alice, t0());
    opened(stores, &old).await;
    opened(stores, &live).await;
    let cut = t0() + Duration::seconds(11);
    assert_eq!(stores.sessions.delete_expired(cut).await.unwrap(), 1);
    assert_eq!(stores.sessions.find(old.id).await.unwrap(), None);
    assert!(stores.sessions.find(live.id).await.unwrap().is_some());

    let later = t0() + Duration::hours(48);
    let throttle = &stores.throttle;
    let unlocked = budget(5, t0());
    throttle
        .count_attempt(&unknown("stale"), t0(), unlocked)
        .await
        .unwrap();
    throttle
        .count_attempt(
            &unknown("locked"),
            t0(),
            budget(1, later + Duration::hours(1)),
        )
        .await
        .unwrap();
    throttle
        .count_attempt(&unknown("fresh"), later, unlocked)
        .await
        .unwrap();
    let removed = throttle
        .delete_stale(later - Duration::hours(24), later)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    // A forgotten key starts a new count; the others still have theirs.
    let probe = budget(2, later);
    assert_eq!(
        throttle
            .count_attempt(&unknown("stale"), later, probe)
            .await
            .unwrap(),
        Attempt::Counted { last: false }
    );
    assert!(matches!(
        throttle
            .count_attempt(&unknown("locked"), later, probe)
            .await
            .unwrap(),
        Attempt::Locked { .. }
    ));
    assert_eq!(
        throttle
            .count_attempt(&unknown("fresh"), later, probe)
            .await
            .unwrap(),
        Attempt::Counted { last: true }
    );

    let (w1, w2) = (t0(), t0() + Duration::seconds(60));
    stores.rate_limits.hit("login:a", w1).await.unwrap();
    stores.rate_limits.hit("login:b", w1).await.unwrap();
    stores.rate_limits.hit("login:c", w2).await.unwrap();
    assert_eq!(
        stores.rate_limits.delete_windows_before(w2).await.unwrap(),
        2
    );
    assert_eq!(
        stores.rate_limits.hit("login:c", w2).await.unwrap(),
        2,
        "the current window stays"
    );
}

pub async fn audit_records_round_trip_newest_first_in_pages(stores: &Stores) {
    let records: Vec<AuditRecord> = (0..5)
        .map(|i| AuditRecord {
            id: Uuid::new_v4(),
            at: t0() + Duration::seconds(i),
            event: AuditEvent::ALL[i as usize],
            outcome: if i % 2 == 0 {
                AuditOutcome::Success
            } else {
                AuditOutcome::Failure
            },
            user_id: (i > 0).then(Uuid::new_v4),
            actor_id: (i == 3).then(Uuid::new_v4),
            ip: Some("192.0.2.1".into()),
            request_id: (i != 2).then(|| format!("req-{i}")),
            detail: (i == 4).then(|| "a detail".into()),
        })
        .collect();
    for record in &records {
        stores.audit.record(record).await.unwrap();
    }
    let first = stores.audit.list(1, 2).await.unwrap();
    assert_eq!(first.total, 5);
    assert_eq!(first.items, vec![records[4].clone(), records[3].clone()]);
    let last = stores.audit.list(3, 2).await.unwrap();
    assert_eq!(last.items, vec![records[0].clone()]);
}

pub async fn old_audit_records_are_deleted(stores: &Stores) {
    let record = |at: DateTime<Utc>| AuditRecord {
        id: Uuid::new_v4(),
        at,
        event: AuditEvent::Login,
        outcome: AuditOutcome::Failure,
        user_id: None,
        actor_id: None,
        ip: None,
        request_id: None,
        detail: None,
    };
    let (old, edge, young) = (
        record(t0()),
        record(t0() + Duration::days(1)),
        record(t0() + Duration::days(2)),
    );
    for each in [&old, &edge, &young] {
        stores.audit.record(each).await.unwrap();
    }
    let cut = t0() + Duration::days(1);
    assert_eq!(stores.audit.delete_before(cut).await.unwrap(), 1);
    assert_eq!(stores.audit.delete_before(cut).await.unwrap(), 0);
    assert_eq!(
        stores.audit.list(1, 10).await.unwrap().items,
        vec![young, edge]
    );
}

pub async fn a_session_is_found_with_its_user(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let s = session(&alice, t0());
    opened(stores, &s).await;
    let until = t0() + Duration::seconds(900);
    let key = ThrottleKey::Account(alice.id);
    stores
        .throttle
        .count_attempt(&key, t0(), budget(1, until))
        .await
        .unwrap();
    let expected_user = User {
        locked_until: Some(until),
        ..alice.clone()
    };
    assert_eq!(
        stores.sessions.find_with_user(s.id).await.unwrap(),
        Some((s.clone(), expected_user))
    );
    assert_eq!(
        stores
            .sessions
            .find_with_user(Uuid::new_v4())
            .await
            .unwrap(),
        None
    );
    deleted(stores, alice.id).await;
    assert_eq!(stores.sessions.find_with_user(s.id).await.unwrap(), None);
}

/// Lookups follow every kind of write at once, including in a store that remembers them (the
/// diesel adapter does on SQLite): every lookup here is made once before the write it checks.
/// Writes about a user reach all of that user's sessions, and no one else's.
pub async fn a_session_lookup_follows_every_write(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let bob = stored(stores, "bob_1").await;
    let (s, other, bobs) = (
        session(&alice, t0()),
        session(&alice, t0()),
        session(&bob, t0()),
    );
    for each in [&s, &other, &bobs] {
        opened(stores, each).await;
    }
    let lookup = |id: Uuid| async move { stores.sessions.find_with_user(id).await.unwrap() };
    assert_eq!(lookup(s.id).await, Some((s.clone(), alice.clone())));
    assert_eq!(lookup(other.id).await, Some((other.clone(), alice.clone())));
    assert_eq!(lookup(bobs.id).await, Some((bobs.clone(), bob.clone())));

    let later = t0() + Duration::seconds(90);
    stores.sessions.touch(s.id, later).await.unwrap();
    assert_eq!(lookup(s.id).await.unwrap().0.last_used_at, later);

    let promoted = User {
        role: Role::Admin,
        name: None,
        updated_at: later,
        ..alice.clone()
    };
    let promotion = UserPatch {
        role: Some(Role::Admin),
        name: Some(None),
        ..UserPatch::default()
    };
    stores
        .users
        .update(alice.id, &promotion, later)
        .await
        .unwrap();
    assert_eq!(lookup(s.id).await.unwrap().1, promoted);
    assert_eq!(lookup(other.id).await.unwrap().1, promoted);
    stores
        .users
        .replace_password_hash(alice.id, &alice.password_hash, "$2b$04$changed", later)
        .await
        .unwrap();
    assert_eq!(
        lookup(other.id).await.unwrap().1.password_hash,
        "$2b$04$changed"
    );

    let key = ThrottleKey::Account(alice.id);
    let until = later + Duration::seconds(900);
    stores
        .throttle
        .count_attempt(&key, later, budget(1, until))
        .await
        .unwrap();
    assert_eq!(lookup(other.id).await.unwrap().1.locked_until, Some(until));
    stores.throttle.clear(&key).await.unwrap();
    assert_eq!(lookup(other.id).await.unwrap().1.locked_until, None);

    let next = Uuid::new_v4();
    let rotated = stores
        .sessions
        .rotate_refresh(s.id, s.refresh_jti, next, later, later + Duration::days(30))
        .await
        .unwrap();
    assert!(rotated);
    assert_eq!(lookup(s.id).await.unwrap().0.refresh_jti, next);

    stores.sessions.revoke(s.id, later).await.unwrap();
    assert_eq!(lookup(s.id).await.unwrap().0.revoked_at, Some(later));

    stores
        .sessions
        .revoke_all_for_user(alice.id, None, later)
        .await
        .unwrap();
    assert_eq!(lookup(other.id).await.unwrap().0.revoked_at, Some(later));
    assert_eq!(lookup(bobs.id).await, Some((bobs.clone(), bob.clone())));

    deleted(stores, alice.id).await;
    assert_eq!(lookup(other.id).await, None);
    assert_eq!(lookup(bobs.id).await, Some((bobs, bob)));
}

/// Deletes the user as an admin would: one made for the purpose.
async fn deleted(stores: &Stores, id: Uuid) {
    let admin = stored_admin(
        stores,
        &format!("deleter_{}", &Uuid::new_v4().simple().to_string()[..8]),
    )
    .await;
    let outcome = stores.users.delete_as_admin(by(&admin, true), id).await;
    assert_eq!(outcome.unwrap(), AdminWrite::Written);
}

async fn stored_admin(stores: &Stores, username: &str) -> User {
    let mut admin = user(username);
    admin.role = Role::Admin;
    stores.users.insert(&admin).await.unwrap();
    admin
}

fn demotion() -> UserPatch {
    UserPatch {
        role: Some(Role::User),
        ..UserPatch::default()
    }
}

pub async fn the_last_active_admin_is_neither_demoted_nor_deleted(stores: &Stores) {
    let root = stored_admin(stores, "root_1").await;
    let at = t0() + Duration::seconds(5);
    let demote = |actor: User, id: Uuid| async move {
        stores
            .users
            .update_as_admin(by(&actor, true), id, &demotion(), at)
            .await
            .unwrap()
    };
    assert_eq!(demote(root.clone(), root.id).await, AdminWrite::LastAdmin);
    assert_eq!(
        stores
            .users
            .delete_as_admin(by(&root, true), root.id)
            .await
            .unwrap(),
        AdminWrite::LastAdmin
    );
    assert_eq!(
        stores.users.find_by_id(root.id).await.unwrap(),
        Some(root.clone())
    );

    // An inactive admin does not count; an active one does.
    let mut retired = user("retired_1");
    retired.role = Role::Admin;
    retired.is_active = false;
    stores.users.insert(&retired).await.unwrap();
    assert_eq!(demote(root.clone(), root.id).await, AdminWrite::LastAdmin);
    let other = stored_admin(stores, "other_1").await;
    assert_eq!(demote(root.clone(), root.id).await, AdminWrite::Written);
    assert_eq!(
        stores
            .users
            .find_by_id(root.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::User
    );
    assert_eq!(
        demote(root.clone(), other.id).await,
        AdminWrite::ActorNotAdmin,
        "a demoted admin's writes are refused"
    );
    let s = session(&other, t0());
    opened(stores, &s).await;
    let third = stored_admin(stores, "third_1").await;
    assert_eq!(
        stores
            .users
            .delete_as_admin(by(&third, true), other.id)
            .await
            .unwrap(),
        AdminWrite::Written
    );
    assert_eq!(stores.users.find_by_id(other.id).await.unwrap(), None);
    assert_eq!(
        stores.sessions.find(s.id).await.unwrap(),
        None,
        "sessions go with the user"
    );
    assert_eq!(
        demote(third.clone(), Uuid::new_v4()).await,
        AdminWrite::NoSuchUser
    );
}

/// The admin rule under a race: an admin's request that began before their demotion cannot land
/// after it, whatever it changes.
pub async fn a_demoted_admin_cannot_write_after_the_demotion(stores: &Stores) {
    let root = stored_admin(stores, "root_1").await;
    let at = t0() + Duration::seconds(5);
    for round in 0..10 {
        let mallory = stored_admin(stores, &format!("mallory_{round}")).await;
        let promote_self = UserPatch {
            role: Some(Role::Admin),
            is_active: Some(true),
            ..UserPatch::default()
        };
        let demote = UserPatch {
            role: Some(Role::User),
            ..UserPatch::default()
        };
        let attempts = (0..4).map(|_| {
            stores
                .users
                .update_as_admin(by(&mallory, false), mallory.id, &promote_self, at)
        });
        let demotion = stores
            .users
            .update_as_admin(by(&root, true), mallory.id, &demote, at);
        let (demoted, _) = futures::join!(demotion, futures::future::join_all(attempts));
        assert_eq!(demoted.unwrap(), AdminWrite::Written);
        let stored = stores.users.find_by_id(mallory.id).await.unwrap().unwrap();
        assert_eq!(stored.role, Role::User, "round {round}: the demotion stays");
    }
}

pub async fn two_admins_demoting_each_other_at_once_leave_one(stores: &Stores) {
    let retire = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    for round in 0..5 {
        let a = stored_admin(stores, &format!("admin_a{round}")).await;
        let b = stored_admin(stores, &format!("admin_b{round}")).await;
        let (down, at) = (demotion(), t0());
        let (first, second) = futures::join!(
            stores.users.update_as_admin(by(&a, true), b.id, &down, at),
            stores.users.update_as_admin(by(&b, true), a.id, &down, at)
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|w| **w == AdminWrite::Written)
                .count(),
            1,
            "exactly one demotion wins: {outcomes:?}"
        );
        assert_eq!(
            stores
                .users
                .count_active_with_role(Role::Admin)
                .await
                .unwrap(),
            1
        );
        // Leave no admin from this round behind for the next one to lean on.
        for id in [a.id, b.id] {
            stores.users.update(id, &retire, at).await.unwrap();
        }
    }
}

// --- second factors ---------------------------------------------------------------------------

/// A user with a TOTP factor confirmed at step 100 and recovery codes `a` and `b`.
async fn with_factor(stores: &Stores, username: &str) -> User {
    let user = stored(stores, username).await;
    assert!(
        stores
            .mfa
            .begin_totp(user.id, b"sealed", t0())
            .await
            .unwrap()
    );
    let codes = ["code-a".to_owned(), "code-b".to_owned()];
    assert!(
        stores
            .mfa
            .confirm_totp(user.id, b"sealed", 100, &codes, t0())
            .await
            .unwrap()
    );
    user
}

fn challenge(user: &User, fingerprint: &str) -> MfaChallenge {
    MfaChallenge {
        token_fingerprint: fingerprint.to_owned(),
        user_id: user.id,
        password_fingerprint: format!("fp({})", user.password_hash),
        created_at: t0(),
        expires_at: t0() + Duration::minutes(5),
    }
}

pub async fn a_totp_factor_is_pending_until_confirmed(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let mfa = &stores.mfa;
    assert_eq!(mfa.find_totp(alice.id).await.unwrap(), None);
    assert!(mfa.begin_totp(alice.id, b"first", t0()).await.unwrap());
    // A second enrolment replaces a pending one.
    let later = t0() + Duration::seconds(10);
    assert!(mfa.begin_totp(alice.id, b"second", later).await.unwrap());
    let pending = mfa.find_totp(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (
            pending.sealed_secret.as_slice(),
            pending.enabled_at,
            pending.last_step
        ),
        (b"second".as_slice(), None, None)
    );
    assert_eq!(pending.created_at, later);
    assert!(!mfa.spend_totp_step(alice.id, 5).await.unwrap(), "pending");
    assert!(
        !mfa.replace_recovery_codes(alice.id, &["x".into()], later)
            .await
            .unwrap()
    );

    let codes = ["one".to_owned(), "two".to_owned()];
    // A code checked against the replaced enrolment confirms nothing.
    assert!(
        !mfa.confirm_totp(alice.id, b"first", 7, &codes, later)
            .await
            .unwrap()
    );
    assert!(
        mfa.confirm_totp(alice.id, b"second", 7, &codes, later)
            .await
            .unwrap()
    );
    let enabled = mfa.find_totp(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (enabled.enabled_at, enabled.last_step),
        (Some(later), Some(7))
    );
    assert!(enabled.is_enabled());
    // Enabled: neither confirmed again nor replaced by a new enrolment.
    assert!(
        !mfa.confirm_totp(alice.id, b"second", 8, &codes, later)
            .await
            .unwrap()
    );
    assert!(!mfa.begin_totp(alice.id, b"third", later).await.unwrap());
    assert_eq!(
        mfa.find_totp(alice.id)
            .await
            .unwrap()
            .unwrap()
            .sealed_secret,
        b"second"
    );
    // No factor at all: nothing to confirm.
    let bob = stored(stores, "bob_1").await;
    assert!(
        !mfa.confirm_totp(bob.id, b"second", 1, &codes, later)
            .await
            .unwrap()
    );

    assert!(mfa.remove_totp(alice.id).await.unwrap());
    assert!(!mfa.remove_totp(alice.id).await.unwrap());
    assert_eq!(mfa.find_totp(alice.id).await.unwrap(), None);
    assert!(
        !mfa.spend_recovery_code(alice.id, "one", later)
            .await
            .unwrap()
    );
}

pub async fn each_time_step_is_spent_once_and_never_an_earlier_one(stores: &Stores) {
    let alice = with_factor(stores, "alice_1").await;
    let mfa = &stores.mfa;
    assert!(
        !mfa.spend_totp_step(alice.id, 100).await.unwrap(),
        "spent by the confirmation"
    );
    assert!(!mfa.spend_totp_step(alice.id, 99).await.unwrap());
    assert!(mfa.spend_totp_step(alice.id, 101).await.unwrap());
    assert!(!mfa.spend_totp_step(alice.id, 101).await.unwrap());
    assert!(mfa.spend_totp_step(alice.id, 103).await.unwrap());
    assert!(!mfa.spend_totp_step(alice.id, 102).await.unwrap());
    assert_eq!(
        mfa.find_totp(alice.id).await.unwrap().unwrap().last_step,
        Some(103)
    );
    assert!(!mfa.spend_totp_step(Uuid::new_v4(), 200).await.unwrap());
}

pub async fn concurrent_spends_of_one_step_let_one_win(stores: &Stores) {
    let alice = with_factor(stores, "alice_1").await;
    let spends = (0..16).map(|_| stores.mfa.spend_totp_step(alice.id, 150));
    let won = futures::future::join_all(spends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1, "a code sent many times at once is accepted once");
}

pub async fn recovery_codes_work_once_and_die_when_replaced(stores: &Stores) {
    let alice = with_factor(stores, "alice_1").await;
    let bob = with_factor(stores, "bob_1").await;
    let mfa = &stores.mfa;
    let at = t0() + Duration::minutes(1);
    assert!(
        mfa.spend_recovery_code(alice.id, "code-a", at)
            .await
            .unwrap()
    );
    assert!(
        !mfa.spend_recovery_code(alice.id, "code-a", at)
            .await
            .unwrap()
    );
    assert!(
        !mfa.spend_recovery_code(alice.id, "code-c", at)
            .await
            .unwrap()
    );

    assert!(
        mfa.replace_recovery_codes(alice.id, &["code-c".into()], at)
            .await
            .unwrap()
    );
    assert!(
        !mfa.spend_recovery_code(alice.id, "code-b", at)
            .await
            .unwrap(),
        "replaced"
    );
    assert!(
        mfa.spend_recovery_code(alice.id, "code-c", at)
            .await
            .unwrap()
    );
    // Bob's codes are his own.
    assert!(!mfa.spend_recovery_code(bob.id, "code-c", at).await.unwrap());
    assert!(mfa.spend_recovery_code(bob.id, "code-a", at).await.unwrap());
}

pub async fn concurrent_spends_of_one_recovery_code_let_one_win(stores: &Stores) {
    let alice = with_factor(stores, "alice_1").await;
    let spends = (0..16).map(|_| stores.mfa.spend_recovery_code(alice.id, "code-b", t0()));
    let won = futures::future::join_all(spends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1);
}

pub async fn a_challenge_is_taken_once_and_never_after_it_expires(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let mfa = &stores.mfa;
    let first = challenge(&alice, "fp-1");
    mfa.open_challenge(&first).await.unwrap();
    mfa.open_challenge(&challenge(&alice, "fp-2"))
        .await
        .unwrap();
    let during = t0() + Duration::minutes(4);
    assert_eq!(
        mfa.find_challenge("fp-1", during).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(mfa.find_challenge("fp-9", during).await.unwrap(), None);
    assert_eq!(
        mfa.find_challenge("fp-1", first.expires_at).await.unwrap(),
        None
    );
    assert!(
        !mfa.take_challenge("fp-1", first.expires_at).await.unwrap(),
        "expired"
    );

    let takes = (0..8).map(|_| mfa.take_challenge("fp-1", during));
    let won = futures::future::join_all(takes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1, "a challenge is taken once");
    assert_eq!(mfa.find_challenge("fp-1", during).await.unwrap(), None);
    assert!(mfa.find_challenge("fp-2", during).await.unwrap().is_some());

    assert_eq!(mfa.delete_expired_challenges(during).await.unwrap(), 0);
    assert_eq!(
        mfa.delete_expired_challenges(first.expires_at)
            .await
            .unwrap(),
        1
    );
    assert_eq!(mfa.find_challenge("fp-2", during).await.unwrap(), None);
}

pub async fn a_users_deletion_takes_their_factor_and_challenges(stores: &Stores) {
    let root = stored_admin(stores, "root_1").await;
    let alice = with_factor(stores, "alice_1").await;
    stores
        .mfa
        .open_challenge(&challenge(&alice, "fp-a"))
        .await
        .unwrap();
    let deleted = stores.users.delete_as_admin(by(&root, true), alice.id);
    assert_eq!(deleted.await.unwrap(), AdminWrite::Written);
    assert_eq!(stores.mfa.find_totp(alice.id).await.unwrap(), None);
    assert_eq!(stores.mfa.find_challenge("fp-a", t0()).await.unwrap(), None);
    assert!(
        !stores
            .mfa
            .spend_recovery_code(alice.id, "code-a", t0())
            .await
            .unwrap()
    );
}

pub async fn a_refund_takes_back_one_attempt_and_the_lock_it_made(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let key = ThrottleKey::Account(alice.id);
    let at = t0();
    let limit = AttemptLimit {
        max_attempts: 3,
        lock_until: at + Duration::minutes(15),
    };
    let count = || stores.throttle.count_attempt(&key, at, limit);
    assert_eq!(count().await.unwrap(), Attempt::Counted { last: false });
    assert_eq!(count().await.unwrap(), Attempt::Counted { last: false });
    // The third takes the last place and locks; it was right after all: taken back.
    assert_eq!(count().await.unwrap(), Attempt::Counted { last: true });
    stores.throttle.refund(&key).await.unwrap();
    let found = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(found.locked_until, None);
    // Two failures stay: the next attempt locks again.
    assert_eq!(count().await.unwrap(), Attempt::Counted { last: true });
    assert!(matches!(count().await.unwrap(), Attempt::Locked { .. }));
    // Nothing counted, nothing taken back.
    let bob = stored(stores, "bob_1").await;
    stores
        .throttle
        .refund(&ThrottleKey::Account(bob.id))
        .await
        .unwrap();
    let bobs = ThrottleKey::Account(bob.id);
    assert_eq!(
        stores
            .throttle
            .count_attempt(&bobs, at, limit)
            .await
            .unwrap(),
        Attempt::Counted { last: false }
    );
}

pub async fn a_factor_takes_its_challenges_with_it_and_gates_new_sessions(stores: &Stores) {
    let alice = stored(stores, "alice_1").await;
    let password_only = session(&alice, t0());
    let mut second_factor = session(&alice, t0());
    second_factor.mfa = true;
    // MFA off: a password login opens, one claiming a second factor does not.
    assert!(
        !stores
            .sessions
            .open(&second_factor, HASH, false)
            .await
            .unwrap()
    );
    opened(stores, &password_only).await;

    assert!(
        stores
            .mfa
            .begin_totp(alice.id, b"sealed", t0())
            .await
            .unwrap()
    );
    let codes = ["code-a".to_owned()];
    assert!(
        stores
            .mfa
            .confirm_totp(alice.id, b"sealed", 100, &codes, t0())
            .await
            .unwrap()
    );
    let user = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert!(user.mfa_enabled);
    // MFA on: a password-only login that raced the confirmation opens nothing.
    let late = session(&alice, t0());
    assert!(!stores.sessions.open(&late, HASH, false).await.unwrap());
    assert!(
        stores
            .sessions
            .open(&second_factor, HASH, false)
            .await
            .unwrap()
    );

    // Removing the factor ends the logins waiting for it.
    stores
        .mfa
        .open_challenge(&challenge(&alice, "fp-w"))
        .await
        .unwrap();
    assert!(stores.mfa.remove_totp(alice.id).await.unwrap());
    assert_eq!(stores.mfa.find_challenge("fp-w", t0()).await.unwrap(), None);
    let user = stores.users.find_by_id(alice.id).await.unwrap().unwrap();
    assert!(!user.mfa_enabled);
}

fn signing_key(kid: &str) -> crate::model::SigningKey {
    crate::model::SigningKey {
        kid: kid.into(),
        algorithm: crate::model::KeyAlgorithm::ES256,
        state: crate::model::KeyState::Next,
        sealed_private: format!("sealed-{kid}").into_bytes(),
        public: crate::model::PublicJwk {
            kty: "EC".into(),
            kid: kid.into(),
            alg: crate::model::KeyAlgorithm::ES256,
            key_use: "sig".into(),
            crv: Some("P-256".into()),
            x: Some("eA".into()),
            y: Some("eQ".into()),
            n: None,
            e: None,
        },
        created_at: t0(),
        activated_at: None,
        deactivated_at: None,
        retired_at: None,
    }
}

/// The shared secret's row has no key material: it must store and read back as it is.
pub async fn the_shared_secrets_row_goes_through_the_lifecycle_without_key_material(
    stores: &Stores,
) {
    use crate::model::KeyAlgorithm::HS512;
    use crate::model::KeyState::{Current, Previous};
    let keys = &stores.keys;
    let secret = crate::model::SigningKey {
        algorithm: HS512,
        sealed_private: Vec::new(),
        public: crate::model::PublicJwk {
            kty: "oct".into(),
            alg: HS512,
            crv: None,
            x: None,
            y: None,
            ..signing_key("hs-1").public
        },
        ..signing_key("hs-1")
    };
    assert!(keys.insert_next(&secret).await.unwrap());
    assert!(keys.rotate(None, "hs-1", t0()).await.unwrap());
    assert!(keys.insert_next(&signing_key("a")).await.unwrap());
    let later = t0() + Duration::hours(1);
    assert!(keys.rotate(Some("hs-1"), "a", later).await.unwrap());
    let listed = keys.list().await.unwrap();
    let stored = listed.iter().find(|k| k.kid == "hs-1").unwrap();
    assert_eq!(
        stored,
        &crate::model::SigningKey {
            state: Previous,
            activated_at: Some(t0()),
            deactivated_at: Some(later),
            ..secret
        }
    );
    assert_eq!(listed.iter().find(|k| k.state == Current).unwrap().kid, "a");
}

fn states(keys: &[crate::model::SigningKey]) -> Vec<(String, crate::model::KeyState)> {
    keys.iter().map(|k| (k.kid.clone(), k.state)).collect()
}

pub async fn signing_keys_move_through_their_lifecycle(stores: &Stores) {
    use crate::model::KeyState::{Current, Previous, Retired};
    let keys = &stores.keys;
    let later = t0() + Duration::hours(1);
    assert!(keys.list().await.unwrap().is_empty());
    assert!(keys.insert_next(&signing_key("a")).await.unwrap());
    assert!(
        !keys.insert_next(&signing_key("b")).await.unwrap(),
        "one next"
    );
    assert!(
        !keys.rotate(Some("x"), "a", later).await.unwrap(),
        "x is not current"
    );
    assert!(keys.rotate(None, "a", later).await.unwrap());
    assert!(
        !keys.rotate(None, "a", later).await.unwrap(),
        "a is current now"
    );
    assert!(keys.insert_next(&signing_key("b")).await.unwrap());
    assert!(keys.rotate(Some("a"), "b", later).await.unwrap());
    let listed = keys.list().await.unwrap();
    assert_eq!(
        states(&listed),
        [("a".into(), Previous), ("b".into(), Current)]
    );
    let a = &listed[0];
    assert_eq!(
        (a.activated_at, a.deactivated_at),
        (Some(later), Some(later))
    );
    assert_eq!(a.public, signing_key("a").public, "the JWK round-trips");
    assert_eq!(a.sealed_private, b"sealed-a");
    assert!(
        !keys.retire("b", later).await.unwrap(),
        "the current key stays"
    );
    assert!(keys.retire("a", later).await.unwrap());
    assert!(!keys.retire("a", later).await.unwrap(), "once");
    assert!(keys.insert_next(&signing_key("c")).await.unwrap());
    assert!(keys.retire("c", later).await.unwrap(), "a next key may go");
    assert_eq!(
        states(&keys.list().await.unwrap()),
        [
            ("a".into(), Retired),
            ("b".into(), Current),
            ("c".into(), Retired)
        ]
    );
}

pub async fn concurrent_rotations_from_one_state_let_one_win(stores: &Stores) {
    let keys = &stores.keys;
    assert!(keys.insert_next(&signing_key("first")).await.unwrap());
    assert!(keys.rotate(None, "first", t0()).await.unwrap());
    assert!(keys.insert_next(&signing_key("second")).await.unwrap());
    let rotations = (0..8).map(|_| keys.rotate(Some("first"), "second", t0()));
    let won = futures::future::join_all(rotations)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
    let current: Vec<_> = keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.state == crate::model::KeyState::Current)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].kid, "second");
}

pub async fn concurrent_first_keys_make_one_current(stores: &Stores) {
    // Replicas starting together on an empty store: each makes a key and promotes it.
    let attempts = (0..6).map(|i| {
        let keys = stores.keys.clone();
        async move {
            let kid = format!("k{i}");
            if keys.insert_next(&signing_key(&kid)).await.unwrap() {
                keys.rotate(None, &kid, t0()).await.unwrap()
            } else {
                false
            }
        }
    });
    let promoted = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|p| *p)
        .count();
    assert_eq!(promoted, 1);
    let listed = stores.keys.list().await.unwrap();
    let current = listed
        .iter()
        .filter(|k| k.state == crate::model::KeyState::Current)
        .count();
    assert_eq!(current, 1);
}

pub async fn service_clients_round_trip_and_are_deleted(stores: &Stores) {
    use crate::model::{ClientKind, OAuthClient};
    let clients = &stores.clients;
    let made = |name: &str, at, kind: ClientKind| OAuthClient {
        id: Uuid::new_v4(),
        name: name.into(),
        kind,
        secret_fingerprint: kind.has_secret().then(|| format!("fp-{name}")),
        redirect_uris: match kind {
            ClientKind::Service => Vec::new(),
            _ => vec![
                "https://app.example.com/cb".into(),
                "http://127.0.0.1/cb?x=1&y=\"2\"".into(),
            ],
        },
        post_logout_redirect_uris: match kind {
            ClientKind::Service => Vec::new(),
            _ => vec!["https://app.example.com/bye".into()],
        },
        first_party: kind == ClientKind::Confidential,
        require_par: kind == ClientKind::Public,
        allow_password_grant: false,
        created_at: at,
        updated_at: at,
    };
    let (first, second, third) = (
        made("billing", t0(), ClientKind::Service),
        made(
            "search",
            t0() + Duration::seconds(1),
            ClientKind::Confidential,
        ),
        made("spa", t0() + Duration::seconds(2), ClientKind::Public),
    );
    clients.insert(&third).await.unwrap();
    clients.insert(&second).await.unwrap();
    clients.insert(&first).await.unwrap();
    assert_eq!(clients.find(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(clients.find(third.id).await.unwrap(), Some(third.clone()));
    assert_eq!(clients.find(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        clients.list().await.unwrap(),
        [first.clone(), second.clone(), third.clone()]
    );
    assert!(clients.delete(first.id).await.unwrap());
    assert!(!clients.delete(first.id).await.unwrap());
    assert_eq!(clients.list().await.unwrap(), [second, third]);
}

/// A change sets the fields it names and nothing else: two admins changing different fields at
/// once both keep their change. A public client never gets a secret.
pub async fn client_changes_set_only_their_fields(stores: &Stores) {
    use crate::model::{ClientChanges, ClientKind, OAuthClient};
    let clients = &stores.clients;
    let app = OAuthClient {
        id: Uuid::new_v4(),
        name: "app".into(),
        kind: ClientKind::Public,
        secret_fingerprint: None,
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: Vec::new(),
        first_party: false,
        require_par: false,
        allow_password_grant: false,
        created_at: t0(),
        updated_at: t0(),
    };
    clients.insert(&app).await.unwrap();
    let later = t0() + Duration::minutes(1);
    let rename = ClientChanges {
        name: Some("renamed".into()),
        ..ClientChanges::default()
    };
    let redirects = ClientChanges {
        redirect_uris: Some(vec!["https://app.example.com/new".into()]),
        first_party: Some(true),
        ..ClientChanges::default()
    };
    let (a, b) = futures::join!(
        clients.update(app.id, &rename, later),
        clients.update(app.id, &redirects, later)
    );
    assert!(a.unwrap() && b.unwrap());
    let changed = clients.find(app.id).await.unwrap().unwrap();
    assert_eq!(changed.name, "renamed");
    assert_eq!(changed.redirect_uris, ["https://app.example.com/new"]);
    assert!(changed.first_party);
    assert!(!changed.require_par);
    assert_eq!(changed.updated_at, later);
    assert!(
        !clients
            .update(Uuid::new_v4(), &rename, later)
            .await
            .unwrap()
    );
    assert!(!clients.set_secret(app.id, "fp", later).await.unwrap());
    assert_eq!(
        clients
            .find(app.id)
            .await
            .unwrap()
            .unwrap()
            .secret_fingerprint,
        None
    );
    let service = OAuthClient {
        id: Uuid::new_v4(),
        kind: ClientKind::Service,
        secret_fingerprint: Some("old".into()),
        redirect_uris: Vec::new(),
        ..app
    };
    clients.insert(&service).await.unwrap();
    assert!(clients.set_secret(service.id, "new", later).await.unwrap());
    assert_eq!(
        clients
            .find(service.id)
            .await
            .unwrap()
            .unwrap()
            .secret_fingerprint
            .as_deref(),
        Some("new")
    );
}
