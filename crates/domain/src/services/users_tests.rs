use futures::executor::block_on;
use mockall::predicate::eq;
use uuid::Uuid;

use super::UserService;
use crate::error::DomainError;
use crate::model::{ClientInfo, NewUser, Principal, Role, User, UserPatch};
use crate::ports::{AdminGuard, AdminWrite, ThrottleKey};
use crate::services::Lockout;
use crate::services::test_support::{Mocks, now, user};

fn principal(user: &User) -> Principal {
    Principal {
        user: user.clone(),
        session_id: Uuid::new_v4(),
        client: ClientInfo::default(),
    }
}

/// `user` is found by id, and no other account holds a name or an email.
fn stored_alone(mocks: &mut Mocks, user: User) {
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(user.clone())));
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
}

fn service(mocks: Mocks) -> UserService {
    UserService::new(
        mocks.into_ports(),
        Lockout {
            max_failed_attempts: 5,
            duration: chrono::Duration::minutes(15),
        },
    )
}

#[test]
fn users_may_read_themselves_and_admins_anyone() {
    let alice = user(Role::User);
    let bob = user(Role::User);
    let admin = user(Role::Admin);
    let mut mocks = Mocks::new();
    let found = bob.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    let svc = service(mocks);
    assert_eq!(
        block_on(svc.get(&principal(&alice), bob.id)).unwrap_err(),
        DomainError::Forbidden
    );
    assert!(block_on(svc.get(&principal(&bob), bob.id)).is_ok());
    assert!(block_on(svc.get(&principal(&admin), bob.id)).is_ok());
}

#[test]
fn only_admins_list_users_and_pages_are_bounded() {
    let alice = user(Role::User);
    let admin = user(Role::Admin);
    let svc = service(Mocks::new());
    assert_eq!(
        block_on(svc.list(&principal(&alice), 1, 20)).unwrap_err(),
        DomainError::Forbidden
    );
    assert!(matches!(
        block_on(svc.list(&principal(&admin), 0, 101)),
        Err(DomainError::Validation(errors)) if errors.len() == 2
    ));
}

#[test]
fn a_user_cannot_grant_themself_a_role_or_reactivate() {
    let alice = user(Role::User);
    let svc = service(Mocks::new());
    for patch in [
        UserPatch {
            role: Some(Role::Admin),
            ..UserPatch::default()
        },
        UserPatch {
            is_active: Some(true),
            ..UserPatch::default()
        },
    ] {
        assert_eq!(
            block_on(svc.update(&principal(&alice), alice.id, patch, None)).unwrap_err(),
            DomainError::Forbidden
        );
    }
}

#[test]
fn the_last_active_admin_can_be_neither_demoted_deactivated_nor_deleted() {
    let admin = user(Role::Admin);
    let mut mocks = Mocks::new();
    let found = admin.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .users
        .expect_find_by_username()
        .returning(|_| Ok(None));
    mocks.users.expect_find_by_email().returning(|_| Ok(None));
    // The store finds no other active admin, so it writes nothing.
    let keeping_an_admin = AdminGuard {
        actor: admin.id,
        keep_another_admin: true,
    };
    mocks
        .users
        .expect_update_as_admin()
        .withf(move |guard, _, _, _| *guard == keeping_an_admin)
        .times(2)
        .returning(|_, _, _, _| Ok(AdminWrite::LastAdmin));
    mocks
        .users
        .expect_delete_as_admin()
        .withf(move |guard, _| *guard == keeping_an_admin)
        .times(1)
        .returning(|_, _| Ok(AdminWrite::LastAdmin));
    mocks.users.expect_update().never();
    let svc = service(mocks);
    let me = principal(&admin);
    let demote = UserPatch {
        role: Some(Role::User),
        ..UserPatch::default()
    };
    let deactivate = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    assert_eq!(
        block_on(svc.update(&me, admin.id, demote, None)).unwrap_err(),
        DomainError::LastAdmin
    );
    assert_eq!(
        block_on(svc.update(&me, admin.id, deactivate, None)).unwrap_err(),
        DomainError::LastAdmin
    );
    assert_eq!(
        block_on(svc.delete(&me, admin.id)).unwrap_err(),
        DomainError::LastAdmin
    );
}

#[test]
fn deactivating_a_user_revokes_all_their_sessions() {
    let admin = user(Role::Admin);
    let alice = user(Role::User);
    let alice_id = alice.id;
    let mut mocks = Mocks::new();
    stored_alone(&mut mocks, alice);
    // Only the field the patch names goes to the store, as the admin's guarded write (the
    // store decides; the service does not trust what it read a moment ago).
    let only_deactivation = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    let admin_id = admin.id;
    mocks
        .users
        .expect_update_as_admin()
        .withf(move |guard, id, changes, at| {
            guard.actor == admin_id
                && guard.keep_another_admin
                && *id == alice_id
                && *changes == only_deactivation
                && *at == now()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(AdminWrite::Written));
    mocks.users.expect_update().never();
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, keep, _| *id == alice_id && keep.is_none())
        .times(1)
        .returning(|_, _, _| Ok(3));
    // What was in flight goes too: links by mail and logins waiting for a second factor.
    mocks
        .mail_tokens
        .expect_void_for_user()
        .with(eq(alice_id))
        .times(1)
        .returning(|_| Ok(1));
    mocks
        .mfa
        .expect_delete_challenges_for_user()
        .with(eq(alice_id))
        .times(1)
        .returning(|_| Ok(1));
    let svc = service(mocks);
    let patch = UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    };
    block_on(svc.update(&principal(&admin), alice_id, patch, None)).unwrap();
}

#[test]
fn renaming_to_a_taken_username_is_a_conflict_but_keeping_ones_own_is_not() {
    let alice = user(Role::User);
    let other = user(Role::User);
    let mut mocks = Mocks::new();
    let found = alice.clone();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    mocks
        .users
        .expect_find_by_username()
        .with(eq("Taken"))
        .returning(move |_| Ok(Some(other.clone())));
    let svc = service(mocks);
    let patch = UserPatch {
        username: Some("Taken".into()),
        ..UserPatch::default()
    };
    assert_eq!(
        block_on(svc.update(&principal(&alice), alice.id, patch, None)).unwrap_err(),
        DomainError::UsernameTaken
    );
}

#[test]
fn deleting_and_unlocking_clear_the_accounts_login_throttle() {
    let admin = user(Role::Admin);
    let alice = user(Role::User);
    let id = alice.id;
    let key = ThrottleKey::Account(id);
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(alice.clone())));
    mocks
        .users
        .expect_delete_as_admin()
        .times(1)
        .returning(|_, _| Ok(AdminWrite::Written));
    mocks
        .throttle
        .expect_clear()
        .with(eq(key))
        .times(2)
        .returning(|_| Ok(()));
    let svc = service(mocks);
    let me = principal(&admin);
    block_on(svc.unlock(&me, id)).unwrap();
    block_on(svc.delete(&me, id)).unwrap();
}

#[test]
fn an_admin_demoted_while_the_request_ran_is_refused() {
    let admin = user(Role::Admin);
    let alice = user(Role::User);
    let id = alice.id;
    let mut mocks = Mocks::new();
    stored_alone(&mut mocks, alice);
    mocks
        .users
        .expect_update_as_admin()
        .returning(|_, _, _, _| Ok(AdminWrite::ActorNotAdmin));
    mocks
        .users
        .expect_delete_as_admin()
        .returning(|_, _| Ok(AdminWrite::ActorNotAdmin));
    mocks.sessions.expect_revoke_all_for_user().never();
    let svc = service(mocks);
    let me = principal(&admin);
    let promote = UserPatch {
        role: Some(Role::Admin),
        ..UserPatch::default()
    };
    assert_eq!(
        block_on(svc.update(&me, id, promote, None)),
        Err(DomainError::Forbidden)
    );
    assert_eq!(block_on(svc.delete(&me, id)), Err(DomainError::Forbidden));
}

#[test]
fn create_admin_promotes_an_existing_user_without_touching_the_password() {
    let alice = user(Role::User);
    let id = alice.id;
    let promoted = User {
        role: Role::Admin,
        ..alice.clone()
    };
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_by_username()
        .returning(move |_| Ok(Some(alice.clone())));
    let promotion = UserPatch {
        role: Some(Role::Admin),
        is_active: Some(true),
        ..UserPatch::default()
    };
    mocks
        .users
        .expect_update()
        .withf(move |user, changes, _| *user == id && *changes == promotion)
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks
        .users
        .expect_find_by_id()
        .returning(move |_| Ok(Some(promoted.clone())));
    mocks.hasher.expect_hash().never();
    let svc = service(mocks);
    let new = NewUser {
        username: "alice_1".into(),
        email: "alice@example.com".into(),
        password: "password1".into(),
        name: None,
    };
    let (admin, created) = block_on(svc.create_admin(new)).unwrap();
    assert!(!created);
    assert_eq!(admin.role, Role::Admin);
}

#[test]
fn bootstrap_does_nothing_once_an_admin_exists() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_count_active_with_role()
        .returning(|_| Ok(1));
    mocks.users.expect_insert().never();
    let svc = service(mocks);
    let new = NewUser {
        username: "root_admin".into(),
        email: "root@example.com".into(),
        password: "password1".into(),
        name: None,
    };
    assert_eq!(block_on(svc.bootstrap_admin(new)).unwrap(), None);
}

#[test]
fn a_new_address_of_ones_own_needs_the_current_password_and_counts_a_wrong_one() {
    use crate::ports::Attempt;
    let alice = user(Role::User);
    let new_address = || UserPatch {
        email: Some("new@example.com".into()),
        ..UserPatch::default()
    };
    for (password, accepted) in [(None, false), (Some("wrong"), false), (Some("right"), true)] {
        let mut mocks = Mocks::new();
        stored_alone(&mut mocks, alice.clone());
        let alice_id = alice.id;
        mocks
            .throttle
            .expect_count_attempt()
            .withf(move |key, _, _| *key == ThrottleKey::Account(alice_id))
            .times(1)
            .returning(|_, _, _| Ok(Attempt::Counted { last: false }));
        mocks
            .hasher
            .expect_verify()
            .returning(|password, _| Ok(password == "right"));
        if accepted {
            mocks.throttle.expect_clear().times(1).returning(|_| Ok(()));
            mocks
                .users
                .expect_update()
                .withf(|_, patch, _| patch.email_verified == Some(false))
                .times(1)
                .returning(|_, _, _| Ok(true));
        } else {
            mocks.users.expect_update().never();
        }
        let result =
            block_on(service(mocks).update(&principal(&alice), alice.id, new_address(), password));
        match result {
            Ok(_) => assert!(accepted),
            Err(DomainError::Validation(errors)) => {
                assert!(!accepted);
                assert_eq!(
                    (errors[0].field.as_str(), errors[0].code),
                    ("current_password", "wrong_password")
                );
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_admin_moves_another_users_address_without_a_password() {
    let admin = user(Role::Admin);
    let alice = user(Role::User);
    let mut mocks = Mocks::new();
    stored_alone(&mut mocks, alice.clone());
    mocks.throttle.expect_count_attempt().never();
    mocks.hasher.expect_verify().never();
    mocks
        .users
        .expect_update_as_admin()
        .times(1)
        .returning(|_, _, _, _| Ok(AdminWrite::Written));
    let patch = UserPatch {
        email: Some("new@example.com".into()),
        ..UserPatch::default()
    };
    block_on(service(mocks).update(&principal(&admin), alice.id, patch, None)).unwrap();
}
