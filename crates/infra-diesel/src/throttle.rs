use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{Attempt, AttemptLimit, LoginThrottleRepository, ThrottleKey};

use crate::rows::{naive, utc};
use crate::schema::login_throttles;
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

/// The key as the table holds it: an account under its id (so that users join their lock),
/// any other login string under a prefix no id has.
fn column(key: &ThrottleKey) -> String {
    match key {
        ThrottleKey::Account(id) => id.to_string(),
        ThrottleKey::UnknownLogin(login) => format!("login:{login}"),
    }
}

/// What a write under `key` changes of session lookups: an account's lock shows on its user; a
/// login that matches no account shows nowhere.
fn stale(key: &ThrottleKey) -> Stale {
    match key {
        ThrottleKey::Account(id) => Stale::User(*id),
        ThrottleKey::UnknownLogin(_) => Stale::Nothing,
    }
}

/// Makes sure `key` has a row and holds it until the transaction ends: an existing row gets a
/// no-op update, which locks it, so that no concurrent `clear` can delete it under the statements
/// that follow (SQLite's write lock already holds everything). Upserts do not compile on the
/// multi-backend connection: the statement is written per backend.
fn hold_row(conn: &mut DbConnection, key: &str, now: NaiveDateTime) -> QueryResult<()> {
    let row = (
        login_throttles::key.eq(key),
        login_throttles::failed_count.eq(0),
        login_throttles::updated_at.eq(now),
    );
    let unchanged = login_throttles::failed_count.eq(login_throttles::failed_count);
    match conn {
        DbConnection::Pg(conn) => diesel::insert_into(login_throttles::table)
            .values(row)
            .on_conflict(login_throttles::key)
            .do_update()
            .set(unchanged)
            .execute(conn),
        DbConnection::Sqlite(conn) => diesel::insert_into(login_throttles::table)
            .values(row)
            .on_conflict(login_throttles::key)
            .do_update()
            .set(unchanged)
            .execute(conn),
    }
    .map(drop)
}

/// The attempt rule as conditional statements in one transaction that holds the key's row from
/// its first statement (PostgreSQL: a row lock; SQLite: the write lock), so concurrent attempts
/// on any number of servers take their turns and an attempt that finds the budget spent never
/// counts.
fn count_attempt_now(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
    max_attempts: i32,
    lock_until: NaiveDateTime,
) -> QueryResult<Attempt> {
    let row = || login_throttles::table.filter(login_throttles::key.eq(key));
    hold_row(conn, key, now)?;
    // A lock that has passed starts the count afresh.
    diesel::update(row().filter(login_throttles::locked_until.le(now)))
        .set((
            login_throttles::failed_count.eq(0),
            login_throttles::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let counted = diesel::update(row().filter(login_throttles::locked_until.is_null()))
        .set((
            login_throttles::failed_count.eq(login_throttles::failed_count + 1),
            login_throttles::updated_at.eq(now),
        ))
        .execute(conn)?;
    if counted == 0 {
        let until = row()
            .select(login_throttles::locked_until)
            .get_result::<Option<NaiveDateTime>>(conn)?;
        return Ok(Attempt::Locked {
            until: utc(until.unwrap_or(lock_until)),
        });
    }
    let locked = diesel::update(
        row()
            .filter(login_throttles::failed_count.ge(max_attempts))
            .filter(login_throttles::locked_until.is_null()),
    )
    .set(login_throttles::locked_until.eq(lock_until))
    .execute(conn)?;
    Ok(Attempt::Counted { last: locked > 0 })
}

#[async_trait]
impl LoginThrottleRepository for DieselStore {
    async fn count_attempt(
        &self,
        key: &ThrottleKey,
        now: DateTime<Utc>,
        limit: AttemptLimit,
    ) -> StoreResult<Attempt> {
        let (stale, key) = (stale(key), column(key));
        let (now, lock_until) = (naive(now), naive(limit.lock_until));
        let max_attempts = i32::try_from(limit.max_attempts).unwrap_or(i32::MAX);
        // The first statement writes, so SQLite's transaction takes the write lock at once and
        // never has to upgrade a read lock (which could fail under contention).
        self.write(stale, move |conn| {
            conn.transaction(|conn| count_attempt_now(conn, &key, now, max_attempts, lock_until))
        })
        .await
    }

    async fn clear(&self, key: &ThrottleKey) -> StoreResult<()> {
        let (stale, key) = (stale(key), column(key));
        self.write(stale, move |conn| {
            diesel::delete(login_throttles::table.find(key))
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn refund(&self, key: &ThrottleKey) -> StoreResult<()> {
        let (stale, key) = (stale(key), column(key));
        self.write(stale, move |conn| {
            let counted = login_throttles::table
                .find(key)
                .filter(login_throttles::failed_count.gt(0));
            diesel::update(counted)
                .set((
                    login_throttles::failed_count.eq(login_throttles::failed_count - 1),
                    login_throttles::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn delete_stale(
        &self,
        updated_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (updated_before, now) = (naive(updated_before), naive(now));
        self.write(Stale::Everything, move |conn| {
            diesel::delete(
                login_throttles::table
                    .filter(login_throttles::updated_at.lt(updated_before))
                    .filter(
                        login_throttles::locked_until
                            .is_null()
                            .or(login_throttles::locked_until.le(now)),
                    ),
            )
            .execute(conn)
            .map(|deleted| deleted as u64)
        })
        .await
    }
}
