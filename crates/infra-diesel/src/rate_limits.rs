use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{RateLimitStore, StoreError};

use crate::rows::naive;
use crate::schema::rate_limits;
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

/// Adds one hit in a single statement, so that replicas sharing the database share one budget.
/// Upserts do not compile on the multi-backend connection: the statement is written per backend.
fn upsert_hit(
    conn: &mut DbConnection,
    key: &str,
    window_start: NaiveDateTime,
) -> QueryResult<usize> {
    let first = (
        rate_limits::key.eq(key),
        rate_limits::window_start.eq(window_start),
        rate_limits::count.eq(1),
    );
    let bump = rate_limits::count.eq(rate_limits::count + 1);
    match conn {
        DbConnection::Pg(conn) => diesel::insert_into(rate_limits::table)
            .values(first)
            .on_conflict((rate_limits::key, rate_limits::window_start))
            .do_update()
            .set(bump)
            .execute(conn),
        DbConnection::Sqlite(conn) => diesel::insert_into(rate_limits::table)
            .values(first)
            .on_conflict((rate_limits::key, rate_limits::window_start))
            .do_update()
            .set(bump)
            .execute(conn),
    }
}

#[async_trait]
impl RateLimitStore for DieselStore {
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let (key, window_start) = (key.to_owned(), naive(window_start));
        let count = self
            .write(Stale::Nothing, move |conn| {
                // The upsert holds the row until commit: the count read back is this hit's.
                conn.transaction(|conn| {
                    upsert_hit(conn, &key, window_start)?;
                    rate_limits::table
                        .find((&key, window_start))
                        .select(rate_limits::count)
                        .get_result::<i32>(conn)
                })
            })
            .await?;
        u32::try_from(count).map_err(|_| StoreError::Other(format!("negative hit count {count}")))
    }

    async fn count(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let (key, window_start) = (key.to_owned(), naive(window_start));
        let count = self
            .read(move |conn| {
                rate_limits::table
                    .find((&key, window_start))
                    .select(rate_limits::count)
                    .get_result::<i32>(conn)
                    .optional()
            })
            .await?
            .unwrap_or(0);
        u32::try_from(count).map_err(|_| StoreError::Other(format!("negative hit count {count}")))
    }

    async fn delete_windows_before(&self, window_start: DateTime<Utc>) -> StoreResult<u64> {
        let window_start = naive(window_start);
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(rate_limits::table.filter(rate_limits::window_start.lt(window_start)))
                .execute(conn)
                .map(|deleted| deleted as u64)
        })
        .await
    }
}
