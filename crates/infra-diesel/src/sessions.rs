use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{Session, SessionRepository, User};
use uuid::Uuid;

use crate::rows::{SessionRow, UserRow, naive};
use crate::schema::{login_throttles, sessions, users};
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

#[async_trait]
impl SessionRepository for DieselStore {
    async fn open(
        &self,
        session: &Session,
        password_hash: &str,
        require_verified: bool,
    ) -> StoreResult<bool> {
        let row = SessionRow::from(session);
        let proof = password_hash.to_owned();
        self.write(Stale::Session(session.id), move |conn| {
            // The user's row is held (PostgreSQL: a share lock; SQLite: the write lock) from the
            // check to the commit: a password change, a deactivation or a deletion waits for this
            // session to exist, and then sees it; or it went first, and the check fails.
            let proven = || {
                users::table
                    .filter(users::id.eq(&row.user_id))
                    .filter(users::password_hash.eq(&proof))
                    .filter(users::is_active.eq(true))
                    .filter(users::mfa_enabled.eq(row.mfa))
                    // With `require_verified`, a verified address: `email_verified >= true`;
                    // without, anything is `>= false`.
                    .filter(users::email_verified.ge(require_verified))
                    .select(users::id)
            };
            let insert = || diesel::insert_into(sessions::table).values(&row);
            match conn {
                DbConnection::Pg(c) => c.transaction(|c| {
                    if proven()
                        .for_share()
                        .first::<String>(c)
                        .optional()?
                        .is_none()
                    {
                        return Ok(false);
                    }
                    insert().execute(c).map(|_| true)
                }),
                DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
                    if proven().first::<String>(c).optional()?.is_none() {
                        return Ok(false);
                    }
                    insert().execute(c).map(|_| true)
                }),
            }
        })
        .await
    }

    async fn find(&self, id: Uuid) -> StoreResult<Option<Session>> {
        let id = id.to_string();
        self.read(move |conn| {
            sessions::table
                .find(id)
                .select(SessionRow::as_select())
                .get_result(conn)
                .optional()
        })
        .await?
        .map(Session::try_from)
        .transpose()
    }

    async fn find_with_user(&self, id: Uuid) -> StoreResult<Option<(Session, User)>> {
        let Some(cache) = &self.session_cache else {
            return self.look_up_with_user(id).await;
        };
        let ticket = match cache.get(id) {
            Ok(found) => return Ok(Some(found)),
            Err(ticket) => ticket,
        };
        let found = self.look_up_with_user(id).await?;
        if let Some(found) = &found {
            cache.remember(ticket, id, found);
        }
        Ok(found)
    }

    async fn rotate_refresh(
        &self,
        id: Uuid,
        current: Uuid,
        next: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let stale = Stale::Session(id);
        let (id, current, next) = (id.to_string(), current.to_string(), next.to_string());
        let (now, expires_at) = (naive(now), naive(expires_at));
        self.write(stale, move |conn| {
            diesel::update(
                sessions::table
                    .find(id)
                    .filter(sessions::refresh_jti.eq(&current))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set((
                sessions::previous_refresh_jti.eq(&current),
                sessions::refresh_jti.eq(next),
                sessions::rotated_at.eq(now),
                sessions::last_used_at.eq(now),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .map(|updated| updated == 1)
        })
        .await
    }

    async fn touch(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        let (stale, id, now) = (Stale::Session(id), id.to_string(), naive(now));
        self.write(stale, move |conn| {
            diesel::update(sessions::table.find(id))
                .set(sessions::last_used_at.eq(now))
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let (stale, id, now) = (Stale::Session(id), id.to_string(), naive(now));
        self.write(stale, move |conn| {
            diesel::update(
                sessions::table
                    .find(id)
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
            .map(|updated| updated == 1)
        })
        .await
    }

    async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (stale, user_id) = (Stale::User(user_id), user_id.to_string());
        // No session has the nil id, so "keep nothing" needs no second query shape.
        let keep = keep.unwrap_or(Uuid::nil()).to_string();
        let now = naive(now);
        self.write(stale, move |conn| {
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::id.ne(keep)),
            )
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
            .map(|updated| updated as u64)
        })
        .await
    }

    async fn revoke_for_client(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (stale, user_id) = (Stale::User(user_id), user_id.to_string());
        let (client_id, now) = (client_id.to_string(), naive(now));
        self.write(stale, move |conn| {
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::client_id.eq(client_id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
            .map(|updated| updated as u64)
        })
        .await
    }

    async fn list_active_for_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let (user_id, now) = (user_id.to_string(), naive(now));
        self.read(move |conn| {
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .select(SessionRow::as_select())
                .load(conn)
        })
        .await?
        .into_iter()
        .map(Session::try_from)
        .collect()
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = naive(before);
        self.write(Stale::Everything, move |conn| {
            diesel::delete(sessions::table.filter(sessions::expires_at.lt(before)))
                .execute(conn)
                .map(|deleted| deleted as u64)
        })
        .await
    }
}

impl DieselStore {
    async fn look_up_with_user(&self, id: Uuid) -> StoreResult<Option<(Session, User)>> {
        let id = id.to_string();
        // The hottest query (every authenticated request) runs on the concrete connection, where
        // diesel caches its prepared statement; the multi-backend enum prepares it every time.
        // `get_result`, not `first`: a bound LIMIT makes SQLite re-prepare it on every run.
        macro_rules! session_with_user {
            () => {
                sessions::table
                    .inner_join(users::table)
                    .left_join(login_throttles::table.on(login_throttles::key.eq(users::id)))
                    .filter(sessions::id.eq(&id))
                    .select((
                        SessionRow::as_select(),
                        UserRow::as_select(),
                        login_throttles::locked_until.nullable(),
                    ))
            };
        }
        type Found = (SessionRow, UserRow, Option<NaiveDateTime>);
        let found = self
            .read(move |conn| match conn {
                DbConnection::Pg(conn) => session_with_user!().get_result::<Found>(conn).optional(),
                DbConnection::Sqlite(conn) => {
                    session_with_user!().get_result::<Found>(conn).optional()
                }
            })
            .await?;
        found
            .map(|(session, user, locked_until)| {
                Ok((Session::try_from(session)?, user.into_user(locked_until)?))
            })
            .transpose()
    }
}
