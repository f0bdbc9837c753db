use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{AdminGuard, AdminWrite, Page, Role, User, UserPatch, UserRepository};
use uuid::Uuid;

use crate::rows::{UserChanges, UserRow, naive};
use crate::schema::{login_throttles, sessions, users};
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

/// Users with the lock of their login throttle (keyed by the user's id).
macro_rules! users_with_lock {
    () => {
        users::table
            .left_join(login_throttles::table.on(login_throttles::key.eq(users::id)))
            .select((
                UserRow::as_select(),
                login_throttles::locked_until.nullable(),
            ))
    };
}

type Found = (UserRow, Option<NaiveDateTime>);

/// Writes the fields a patch names (and `updated_at`) in one UPDATE on any connection type;
/// whether the user exists.
macro_rules! write_changes {
    ($conn:expr, $id:expr, $changes:expr) => {
        diesel::update(users::table.find($id))
            .set($changes)
            .execute($conn)
            .map(|updated| updated > 0)
    };
}

/// Deletes a user and their sessions on any connection type; whether a user was deleted.
macro_rules! delete_user {
    ($conn:expr, $id:expr) => {{
        diesel::delete(sessions::table.filter(sessions::user_id.eq($id))).execute($conn)?;
        diesel::delete(users::table.find($id))
            .execute($conn)
            .map(|deleted| deleted > 0)
    }};
}

/// Admins' writes take turns: PostgreSQL holds this advisory lock until the writer's
/// transaction ends; SQLite's write lock, taken up front, already serializes them. Every write
/// that can change who is an admin goes through `as_admin!`, so what it checks stays true until
/// it commits.
const ADMIN_WRITES_LOCK: &str = "SELECT pg_advisory_xact_lock(7305291658435912001)";

/// Runs `$write` (which says whether it found the user) only while `$guard` holds, checked in the
/// same transaction as the write, with the other admins' writes kept out until it commits.
macro_rules! as_admin {
    ($conn:expr, $guard:expr, $id:expr, |$c:ident| $write:expr) => {{
        let (actor, keep_another) = ($guard.actor.to_string(), $guard.keep_another_admin);
        let admins = || {
            users::table
                .filter(users::role.eq("admin"))
                .filter(users::is_active.eq(true))
                .select(users::id)
        };
        let refused = |admins: Vec<String>| {
            if !admins.contains(&actor) {
                Some(AdminWrite::ActorNotAdmin)
            } else if keep_another && !admins.iter().any(|other| other.as_str() != $id.as_str()) {
                Some(AdminWrite::LastAdmin)
            } else {
                None
            }
        };
        let outcome = |found: bool| {
            if found {
                AdminWrite::Written
            } else {
                AdminWrite::NoSuchUser
            }
        };
        match $conn {
            DbConnection::Pg($c) => $c.transaction(|$c| {
                diesel::sql_query(ADMIN_WRITES_LOCK).execute($c)?;
                if let Some(refused) = refused(admins().load::<String>($c)?) {
                    return Ok(refused);
                }
                $write.map(outcome)
            }),
            DbConnection::Sqlite($c) => $c.immediate_transaction(|$c| {
                if let Some(refused) = refused(admins().load::<String>($c)?) {
                    return Ok(refused);
                }
                $write.map(outcome)
            }),
        }
    }};
}

fn into_user((row, locked_until): Found) -> StoreResult<User> {
    row.into_user(locked_until)
}

impl DieselStore {
    async fn find_user_where<F>(&self, query: F) -> StoreResult<Option<User>>
    where
        F: FnOnce(&mut DbConnection) -> QueryResult<Option<Found>> + Send + 'static,
    {
        self.read(query).await?.map(into_user).transpose()
    }
}

#[async_trait]
impl UserRepository for DieselStore {
    async fn insert(&self, user: &User) -> StoreResult<()> {
        let row = UserRow::from(user);
        // No session can name a user that did not exist.
        self.write(Stale::Nothing, move |conn| {
            diesel::insert_into(users::table)
                .values(&row)
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn find_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let id = id.to_string();
        self.find_user_where(move |conn| {
            users_with_lock!()
                .filter(users::id.eq(id))
                .get_result::<Found>(conn)
                .optional()
        })
        .await
    }

    async fn find_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let wanted = username.to_lowercase();
        self.find_user_where(move |conn| {
            users_with_lock!()
                .filter(users::username_lower.eq(wanted))
                .get_result::<Found>(conn)
                .optional()
        })
        .await
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_owned();
        self.find_user_where(move |conn| {
            users_with_lock!()
                .filter(users::email.eq(email))
                .get_result::<Found>(conn)
                .optional()
        })
        .await
    }

    async fn update(
        &self,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changes = UserChanges::new(changes, updated_at);
        let (stale, id) = (Stale::User(id), id.to_string());
        self.write(stale, move |conn| write_changes!(conn, &id, &changes))
            .await
    }

    async fn update_as_admin(
        &self,
        guard: AdminGuard,
        id: Uuid,
        changes: &UserPatch,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<AdminWrite> {
        let changes = UserChanges::new(changes, updated_at);
        let (stale, id) = (Stale::User(id), id.to_string());
        self.write(stale, move |conn| {
            as_admin!(conn, guard, &id, |c| write_changes!(c, &id, &changes))
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        id: Uuid,
        current: &str,
        new: &str,
        updated_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (stale, id) = (Stale::User(id), id.to_string());
        let (current, new, updated_at) = (current.to_owned(), new.to_owned(), naive(updated_at));
        self.write(stale, move |conn| {
            // The WHERE is the compare of the compare-and-swap: PostgreSQL re-checks it after
            // waiting for a concurrent swap's row lock, so only one swap from `current` matches.
            diesel::update(
                users::table
                    .filter(users::id.eq(id))
                    .filter(users::password_hash.eq(current)),
            )
            .set((
                users::password_hash.eq(new),
                users::updated_at.eq(updated_at),
            ))
            .execute(conn)
            .map(|updated| updated == 1)
        })
        .await
    }

    async fn delete_as_admin(&self, guard: AdminGuard, id: Uuid) -> StoreResult<AdminWrite> {
        let (stale, id) = (Stale::User(id), id.to_string());
        self.write(stale, move |conn| {
            as_admin!(conn, guard, &id, |c| delete_user!(c, &id))
        })
        .await
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<User>> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let (rows, total) = self
            .read(move |conn| {
                conn.transaction(|conn| {
                    let total = users::table.count().get_result::<i64>(conn)?;
                    let rows = users_with_lock!()
                        .order((users::created_at.asc(), users::id.asc()))
                        .limit(i64::from(per_page))
                        .offset(offset)
                        .load::<Found>(conn)?;
                    Ok((rows, total))
                })
            })
            .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(into_user)
                .collect::<StoreResult<_>>()?,
            page,
            per_page,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn count_active_with_role(&self, role: Role) -> StoreResult<u64> {
        let role = role.as_str();
        let count = self
            .read(move |conn| {
                users::table
                    .filter(users::is_active.eq(true))
                    .filter(users::role.eq(role))
                    .count()
                    .get_result::<i64>(conn)
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
