//! The storage adapter: every repository port over diesel, on PostgreSQL or SQLite as the URL
//! says. Queries run on tokio's blocking pool; nothing here decides a business rule.

mod audit;
mod connection;
mod error;
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

pub use connection::{Backend, DbConnection, DbPool, sqlite_path};
pub use migrations::{MigrationError, run_migrations};

use crate::connection::build_pool;
use crate::error::store_error;

#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    #[error("cannot open the database: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Migration(#[from] MigrationError),
}

/// One pool; clone it to hand the same database to every port.
#[derive(Clone)]
pub struct DieselStore {
    pool: DbPool,
    backend: Backend,
}

impl DieselStore {
    /// Opens a pool of at most `max_connections` to `url`, waiting at most `checkout_timeout`
    /// for a connection. SQLite files (and their folders) are created as needed and switched to
    /// WAL mode.
    pub fn connect(
        url: &str,
        max_connections: u32,
        checkout_timeout: std::time::Duration,
    ) -> Result<Self, StoreSetupError> {
        let pool = build_pool(url, max_connections, checkout_timeout)?;
        let store = Self {
            pool,
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
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|err| StoreError::Unavailable(err.to_string()))?;
            run_migrations(&mut conn).map_err(|err| StoreError::Other(err.to_string()))
        })
        .await
        .map_err(|err| StoreError::Other(format!("the migration task failed: {err}")))?
    }

    /// Runs `query` on a pooled connection on the blocking pool, in the caller's tracing span.
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
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool
                .get()
                .map_err(|err| StoreError::Unavailable(err.to_string()))?;
            let result = query(&mut conn);
            // A failure on a connection that no longer answers is the database going away.
            if matches!(result, Err(StoreError::Other(_))) && conn.ping().is_err() {
                return Err(StoreError::Unavailable("the connection was lost".into()));
            }
            result
        })
        .await
        .map_err(|err| StoreError::Other(format!("the database task failed: {err}")))?
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
