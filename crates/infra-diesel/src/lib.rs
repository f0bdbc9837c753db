//! The storage adapter: every repository port over diesel, on PostgreSQL or SQLite as the URL
//! says. Queries run on the adapter's own threads; nothing here decides a business rule.

mod audit;
mod connection;
mod error;
mod executor;
mod migrations;
mod rate_limits;
mod rows;
mod schema;
mod sessions;
mod throttle;
mod users;

#[cfg(feature = "test-support")]
pub mod testing;

use async_trait::async_trait;
use diesel::r2d2::R2D2Connection;
use domain::ports::StoreResult;
use domain::{StoreError, StoreHealth};
use std::time::Duration;

pub use connection::{Backend, DbConnection, DbPool, sqlite_path};
pub use migrations::{MigrationError, run_migrations};

use crate::connection::build_pool;
use crate::error::store_error;
use crate::executor::Executor;

#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    #[error("cannot open the database: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("cannot start the database threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// One pool; clone it to hand the same database to every port.
#[derive(Clone)]
pub struct DieselStore {
    pool: DbPool,
    executor: Executor,
    checkout_timeout: Duration,
    backend: Backend,
}

impl DieselStore {
    /// Opens a pool of at most `max_connections` to `url`, waiting at most `checkout_timeout`
    /// for a connection. SQLite files (and their folders) are created as needed and switched to
    /// WAL mode.
    pub fn connect(
        url: &str,
        max_connections: u32,
        checkout_timeout: Duration,
    ) -> Result<Self, StoreSetupError> {
        let pool = build_pool(url, max_connections, checkout_timeout)?;
        let store = Self {
            executor: Executor::start(&pool)?,
            pool,
            checkout_timeout,
            backend: Backend::from_url(url),
        };
        if store.backend() == Backend::Sqlite {
            // Persistent in the file: readers no longer block on the writer.
            let mut conn = store.pool.get()?;
            diesel::connection::SimpleConnection::batch_execute(
                &mut *conn,
                "PRAGMA journal_mode = WAL;",
            )
            .map_err(|err| MigrationError::Database(err.to_string()))?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.try_run(|conn| run_migrations(conn).map_err(|err| StoreError::Other(err.to_string())))
            .await
    }

    /// Runs `query` on a pooled connection on the adapter's threads, in the caller's span.
    async fn run<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, diesel::result::Error> + Send + 'static,
    {
        self.try_run(move |conn| query(conn).map_err(store_error))
            .await
    }

    /// As `run`, for queries that also convert rows and so fail with the port's error.
    async fn try_run<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.executor.run(self.checkout_timeout, query).await
    }
}

#[async_trait]
impl StoreHealth for DieselStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|conn| conn.ping().map(drop)).await
    }

    fn connections(&self) -> Option<domain::ConnectionUsage> {
        let state = self.pool.state();
        Some(domain::ConnectionUsage {
            open: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        })
    }
}
