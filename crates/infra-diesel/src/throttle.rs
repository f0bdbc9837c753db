use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{LoginThrottle, LoginThrottleRepository, StoreError};
use uuid::Uuid;

use crate::rows::{naive, utc};
use crate::schema::login_throttles;
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

/// What a write under `key` changes of session lookups: a user's failures and lock show on the
/// user (their key is their id); a login that matches no account shows nowhere.
fn stale(key: &str) -> Stale {
    Uuid::parse_str(key).map_or(Stale::Nothing, Stale::User)
}

/// Adds one failure in a single statement, so that concurrent processes never lose a count.
/// Upserts do not compile on the multi-backend connection: the statement is written per backend.
fn upsert_failure(conn: &mut DbConnection, key: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let insert = (
        login_throttles::key.eq(key),
        login_throttles::failed_count.eq(1),
        login_throttles::updated_at.eq(now),
    );
    let bump = (
        login_throttles::failed_count.eq(login_throttles::failed_count + 1),
        login_throttles::updated_at.eq(now),
    );
    match conn {
        DbConnection::Pg(conn) => diesel::insert_into(login_throttles::table)
            .values(insert)
            .on_conflict(login_throttles::key)
            .do_update()
            .set(bump)
            .execute(conn),
        DbConnection::Sqlite(conn) => diesel::insert_into(login_throttles::table)
            .values(insert)
            .on_conflict(login_throttles::key)
            .do_update()
            .set(bump)
            .execute(conn),
    }
}

#[async_trait]
impl LoginThrottleRepository for DieselStore {
    async fn get(&self, key: &str) -> StoreResult<Option<LoginThrottle>> {
        let key = key.to_owned();
        let row = self
            .read(move |conn| {
                login_throttles::table
                    .find(key)
                    .select((login_throttles::failed_count, login_throttles::locked_until))
                    .get_result::<(i32, Option<NaiveDateTime>)>(conn)
                    .optional()
            })
            .await?;
        Ok(row.map(|(failed_count, locked_until)| LoginThrottle {
            failed_count: u32::try_from(failed_count).unwrap_or_default(),
            locked_until: locked_until.map(utc),
        }))
    }

    async fn record_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<u32> {
        let (stale, key, now) = (stale(key), key.to_owned(), naive(now));
        let count = self
            .write(stale, move |conn| {
                // The upsert holds the row until commit: the count read back is this failure's.
                conn.transaction(|conn| {
                    upsert_failure(conn, &key, now)?;
                    login_throttles::table
                        .find(&key)
                        .select(login_throttles::failed_count)
                        .get_result::<i32>(conn)
                })
            })
            .await?;
        u32::try_from(count)
            .map_err(|_| StoreError::Other(format!("negative failure count {count}")))
    }

    async fn lock(&self, key: &str, until: DateTime<Utc>) -> StoreResult<()> {
        let (stale, key, until) = (stale(key), key.to_owned(), naive(until));
        self.write(stale, move |conn| {
            diesel::update(login_throttles::table.find(key))
                .set(login_throttles::locked_until.eq(until))
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn clear(&self, key: &str) -> StoreResult<()> {
        let (stale, key) = (stale(key), key.to_owned());
        self.write(stale, move |conn| {
            diesel::delete(login_throttles::table.find(key))
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
