//! Accounts: creation, the first admin, and what admins and users may do to accounts.

use std::sync::Arc;

use uuid::Uuid;

use super::mail::AccountMail;
use super::password_proof::{Lockout, PasswordField, prove_password};
use super::ports::{Audit, Ports};
use crate::error::DomainError;
use crate::model::{
    AuditEvent, AuditOutcome, AuditRecord, ClientInfo, DisplayName, Email, NewUser, Page,
    Principal, Role, User, UserPatch, Username, validated,
};
use crate::ports::{AdminGuard, AdminWrite, StoreError, ThrottleKey};
use crate::validation::FieldError;

pub const MAX_PER_PAGE: u32 = 100;
/// Page numbers fit a signed 32-bit integer, which is what most clients' integers are.
pub const MAX_PAGE: u32 = i32::MAX as u32;

pub struct UserService {
    ports: Ports,
    /// A wrong password at an address change counts towards this, as at a password change.
    lockout: Lockout,
    /// Tells both addresses of an address change.
    mail: Option<Arc<AccountMail>>,
}

impl UserService {
    pub fn new(ports: Ports, lockout: Lockout) -> Self {
        Self {
            ports,
            lockout,
            mail: None,
        }
    }

    /// A changed address is sent a verification link, and the old one a notice.
    pub fn with_mail(mut self, mail: Arc<AccountMail>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Creates an admin, or promotes (and reactivates) the existing user of that username; an
    /// existing user keeps their password. Returns the admin and whether it was created.
    pub async fn create_admin(&self, new_user: NewUser) -> Result<(User, bool), DomainError> {
        // The password is judged even when the account exists (and keeps its own).
        validated(&new_user.password, "password")?;
        if let Some(existing) = self
            .ports
            .stores
            .users
            .find_by_username(new_user.username.as_str())
            .await?
        {
            let promotion = UserPatch {
                role: Some(Role::Admin),
                is_active: Some(true),
                ..UserPatch::default()
            };
            let now = self.ports.clock.now();
            if !self
                .ports
                .stores
                .users
                .update(existing.id, &promotion, now)
                .await?
            {
                return Err(DomainError::UserNotFound);
            }
            let user = self.find(existing.id).await?;
            tracing::info!(user_id = %user.id, "user promoted to admin");
            self.audit_command(
                AuditEvent::RoleChange,
                user.id,
                "promoted to admin by the operator",
            )
            .await?;
            return Ok((user, false));
        }
        let user = create_user(&self.ports, new_user, Role::Admin, true).await?;
        tracing::info!(user_id = %user.id, "admin created");
        self.audit_command(
            AuditEvent::Register,
            user.id,
            "admin created by the operator",
        )
        .await?;
        Ok((user, true))
    }

    /// Creates the given admin only when no active admin exists yet (container bootstrap).
    pub async fn bootstrap_admin(&self, new_user: NewUser) -> Result<Option<User>, DomainError> {
        if self
            .ports
            .stores
            .users
            .count_active_with_role(Role::Admin)
            .await?
            > 0
        {
            return Ok(None);
        }
        self.create_admin(new_user)
            .await
            .map(|(user, _)| Some(user))
    }

    pub async fn get(&self, actor: &Principal, id: Uuid) -> Result<User, DomainError> {
        ensure_self_or_admin(actor, id)?;
        self.find(id).await
    }

    pub async fn list(
        &self,
        actor: &Principal,
        page: u32,
        per_page: u32,
    ) -> Result<Page<User>, DomainError> {
        ensure_admin(actor)?;
        check_page(page, per_page)?;
        Ok(self.ports.stores.users.list(page, per_page).await?)
    }

    /// Admins only: the audit log, newest first.
    pub async fn audit_log(
        &self,
        actor: &Principal,
        page: u32,
        per_page: u32,
    ) -> Result<Page<AuditRecord>, DomainError> {
        ensure_admin(actor)?;
        check_page(page, per_page)?;
        Ok(self.ports.stores.audit.list(page, per_page).await?)
    }

    /// Anyone may change their own username, email and name; only an admin may change `role` and
    /// `is_active`, and never so that no active admin is left. A new address of one's own needs
    /// the current password (`current_password`): a stolen access token alone must not move the
    /// account's mail, and with it "forgot password", elsewhere. An admin changing another
    /// user's address needs none. Deactivation ends every session and voids what is in flight.
    /// Only the fields the patch names are written, so a concurrent change of any other field
    /// (an admin's demotion racing the user's own rename) is never undone. Returns the user as
    /// stored afterwards.
    pub async fn update(
        &self,
        actor: &Principal,
        id: Uuid,
        patch: UserPatch,
        current_password: Option<&str>,
    ) -> Result<User, DomainError> {
        ensure_self_or_admin(actor, id)?;
        if (patch.role.is_some() || patch.is_active.is_some()) && !actor.user.is_admin() {
            return Err(DomainError::Forbidden);
        }
        let before = self.find(id).await?;

        let mut patch = validated(patch, "patch")?.into_inner();
        // A new address is unverified until a link sent to it is used.
        let address_changed = patch
            .email
            .as_ref()
            .is_some_and(|email| email.as_str() != before.email);
        patch.email_verified = address_changed.then_some(false);
        if address_changed && actor.user.id == id {
            // Before the uniqueness check: a token alone learns nothing about other addresses.
            prove_password(
                &self.ports,
                self.lockout,
                actor,
                current_password,
                PasswordField::CurrentPassword,
                AuditEvent::EmailChange,
            )
            .await?;
        }
        let username = patch
            .username
            .as_ref()
            .map_or(before.username.as_str(), Username::as_str);
        let email = patch
            .email
            .as_ref()
            .map_or(before.email.as_str(), Email::as_str);
        if let Some(conflict) = uniqueness_conflict(&self.ports, username, email, Some(id)).await? {
            return Err(conflict);
        }

        // A user's own change of their own fields is theirs alone. Anything else is an admin's
        // write, and the store checks with the write that the actor is still an active admin
        // and, for a change that can take admin rights away, that another one remains: what the
        // accounts looked like when this request began may be stale by now.
        let now = self.ports.clock.now();
        let by_admin = actor.user.id != id || patch.role.is_some() || patch.is_active.is_some();
        let written = if by_admin {
            let guard = AdminGuard {
                actor: actor.user.id,
                keep_another_admin: patch.role == Some(Role::User)
                    || patch.is_active == Some(false),
            };
            self.ports
                .stores
                .users
                .update_as_admin(guard, id, &patch, now)
                .await
        } else {
            self.ports
                .stores
                .users
                .update(id, &patch, now)
                .await
                .map(|exists| {
                    if exists {
                        AdminWrite::Written
                    } else {
                        AdminWrite::NoSuchUser
                    }
                })
        };
        match written {
            Ok(outcome) => admin_write_result(outcome)?,
            Err(StoreError::Conflict) => {
                let (username, email) = (
                    patch
                        .username
                        .as_ref()
                        .map_or(before.username.as_str(), Username::as_str),
                    patch
                        .email
                        .as_ref()
                        .map_or(before.email.as_str(), Email::as_str),
                );
                return Err(uniqueness_conflict(&self.ports, username, email, Some(id))
                    .await?
                    .unwrap_or(DomainError::UsernameTaken));
            }
            Err(err) => return Err(err.into()),
        }
        if patch.is_active == Some(false) {
            // Even if it looked inactive already: a session opened meanwhile must not survive,
            // nor a link or a second step under way (their redemptions check the account too).
            self.ports
                .stores
                .sessions
                .revoke_all_for_user(id, None, now)
                .await?;
            self.ports.stores.mail_tokens.void_for_user(id).await?;
            self.ports.stores.mfa.delete_challenges_for_user(id).await?;
            if before.is_active {
                tracing::info!(user_id = %id, actor_id = %actor.user.id, "user deactivated");
                audit_by_admin(&self.ports, actor, AuditEvent::Deactivation, id, None).await?;
            }
        }
        if let Some(role) = patch.role.filter(|role| *role != before.role) {
            tracing::info!(user_id = %id, actor_id = %actor.user.id, role = role.as_str(), "role changed");
            let detail = match role {
                Role::Admin => "promoted to admin",
                Role::User => "demoted to user",
            };
            audit_by_admin(&self.ports, actor, AuditEvent::RoleChange, id, Some(detail)).await?;
        }
        let after = self.find(id).await?;
        if address_changed {
            tracing::info!(user_id = %id, actor_id = %actor.user.id, "email address changed");
            self.ports
                .audit(Audit {
                    event: AuditEvent::EmailChange,
                    outcome: AuditOutcome::Success,
                    user_id: Some(id),
                    actor_id: (actor.user.id != id).then_some(actor.user.id),
                    client: &actor.client,
                    detail: None,
                })
                .await?;
            self.address_changed(&before.email, &after).await;
        }
        Ok(after)
    }

    /// The new address gets a verification link, the old one a notice. The change is stored
    /// already: a mail that cannot be queued is logged (and the owner can ask for another link).
    async fn address_changed(&self, old_email: &str, user: &User) {
        let Some(mail) = &self.mail else { return };
        if let Err(err) = mail.queue_verification(user).await {
            tracing::warn!(user_id = %user.id, error = %err, "verification mail not queued");
        }
        if let Err(err) = mail.queue_address_changed(old_email, user).await {
            tracing::warn!(user_id = %user.id, error = %err, "address change notice not queued");
        }
    }

    /// Admins only; the user's sessions go with them. The last active admin stays.
    pub async fn delete(&self, actor: &Principal, id: Uuid) -> Result<(), DomainError> {
        ensure_admin(actor)?;
        let guard = AdminGuard {
            actor: actor.user.id,
            keep_another_admin: true,
        };
        admin_write_result(self.ports.stores.users.delete_as_admin(guard, id).await?)?;
        self.ports
            .stores
            .throttle
            .clear(&ThrottleKey::Account(id))
            .await?;
        tracing::info!(user_id = %id, actor_id = %actor.user.id, "user deleted");
        audit_by_admin(&self.ports, actor, AuditEvent::Deletion, id, None).await
    }

    /// Admins only: lifts a lockout and forgets the failed logins.
    pub async fn unlock(&self, actor: &Principal, id: Uuid) -> Result<User, DomainError> {
        ensure_admin(actor)?;
        self.find(id).await?;
        self.ports
            .stores
            .throttle
            .clear(&ThrottleKey::Account(id))
            .await?;
        tracing::info!(user_id = %id, actor_id = %actor.user.id, "user unlocked");
        audit_by_admin(&self.ports, actor, AuditEvent::Unlock, id, None).await?;
        self.find(id).await
    }

    /// An event caused by the operator (command line or start-up), where there is no request.
    async fn audit_command(
        &self,
        event: AuditEvent,
        user_id: Uuid,
        detail: &'static str,
    ) -> Result<(), DomainError> {
        self.ports
            .audit(Audit {
                event,
                outcome: AuditOutcome::Success,
                user_id: Some(user_id),
                actor_id: None,
                client: &ClientInfo::default(),
                detail: Some(detail),
            })
            .await
    }

    async fn find(&self, id: Uuid) -> Result<User, DomainError> {
        self.ports
            .stores
            .users
            .find_by_id(id)
            .await?
            .ok_or(DomainError::UserNotFound)
    }
}

/// The answer to an admin's guarded write that did not land.
fn admin_write_result(outcome: AdminWrite) -> Result<(), DomainError> {
    match outcome {
        AdminWrite::Written => Ok(()),
        AdminWrite::NoSuchUser => Err(DomainError::UserNotFound),
        // Demoted or deactivated while this request was under way.
        AdminWrite::ActorNotAdmin => Err(DomainError::Forbidden),
        AdminWrite::LastAdmin => Err(DomainError::LastAdmin),
    }
}

/// An admin's action on an account.
async fn audit_by_admin(
    ports: &Ports,
    actor: &Principal,
    event: AuditEvent,
    user_id: Uuid,
    detail: Option<&'static str>,
) -> Result<(), DomainError> {
    ports
        .audit(Audit {
            event,
            outcome: AuditOutcome::Success,
            user_id: Some(user_id),
            actor_id: Some(actor.user.id),
            client: &actor.client,
            detail,
        })
        .await
}

fn check_page(page: u32, per_page: u32) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    if !(1..=MAX_PAGE).contains(&page) {
        errors.push(FieldError::new(
            "page",
            "out_of_range",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        errors.push(FieldError::new(
            "per_page",
            "out_of_range",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

pub(super) fn ensure_admin(actor: &Principal) -> Result<(), DomainError> {
    if actor.user.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden)
    }
}

fn ensure_self_or_admin(actor: &Principal, id: Uuid) -> Result<(), DomainError> {
    if actor.user.id == id {
        Ok(())
    } else {
        ensure_admin(actor)
    }
}

/// Validates and stores a new account. The store's unique indexes are the last word when two
/// registrations race; the checks before them only pick the right error.
/// `email_verified`: someone vouches for the address already (the operator, for an admin).
pub(super) async fn create_user(
    ports: &Ports,
    new_user: NewUser,
    role: Role,
    email_verified: bool,
) -> Result<User, DomainError> {
    let new_user = validated(new_user, "user")?.into_inner();
    let name = new_user
        .name
        .map(DisplayName::into_inner)
        .filter(|name| !name.is_empty());
    let (username, email) = (new_user.username.into_inner(), new_user.email.into_inner());
    if let Some(conflict) = uniqueness_conflict(ports, &username, &email, None).await? {
        return Err(conflict);
    }

    let now = ports.clock.now();
    let user = User {
        id: Uuid::new_v4(),
        username,
        email,
        name,
        role,
        is_active: true,
        password_hash: ports.hasher.hash(new_user.password.as_str()).await?,
        locked_until: None,
        mfa_enabled: false,
        email_verified,
        created_at: now,
        updated_at: now,
    };
    match ports.stores.users.insert(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict) => {
            Err(
                uniqueness_conflict(ports, &user.username, &user.email, None)
                    .await?
                    .unwrap_or(DomainError::UsernameTaken),
            )
        }
        Err(err) => Err(err.into()),
    }
}

/// Which of username and email, if any, belongs to another account than `except`.
async fn uniqueness_conflict(
    ports: &Ports,
    username: &str,
    email: &str,
    except: Option<Uuid>,
) -> Result<Option<DomainError>, DomainError> {
    let other = |user: &User| Some(user.id) != except;
    if ports
        .stores
        .users
        .find_by_username(username)
        .await?
        .is_some_and(|u| other(&u))
    {
        return Ok(Some(DomainError::UsernameTaken));
    }
    if ports
        .stores
        .users
        .find_by_email(email)
        .await?
        .is_some_and(|u| other(&u))
    {
        return Ok(Some(DomainError::EmailTaken));
    }
    Ok(None)
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
