//! The storage adapter: every repository port over diesel, on PostgreSQL or SQLite as the URL
//! says. Queries run on the adapter's own threads; nothing here decides a business rule.

mod audit;
mod authorization;
mod clients;
mod connection;
mod error;
mod executor;
mod keys;
mod mail;
mod mfa;
mod migrations;
mod rate_limits;
mod rows;
mod schema;
mod session_cache;
mod session_listener;
mod sessions;
mod throttle;
mod users;

#[cfg(feature = "test-support")]
pub mod testing;

use async_trait::async_trait;
use diesel::r2d2::R2D2Connection;
use domain::ports::StoreResult;
use domain::{StoreError, StoreHealth, Stores};
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

pub use connection::{Backend, DatabaseUrl, DbConnection, DbPool};
pub use migrations::{MigrationError, run_migrations};

use crate::connection::build_pool;
use crate::error::store_error;
use crate::executor::Executor;
use crate::session_cache::{SessionCache, Stale};

#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    #[error("cannot open the database: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("cannot start the database threads: {0}")]
    Threads(#[from] std::io::Error),
    #[error(
        "another auth-api server is using the SQLite database {0}; several servers need PostgreSQL"
    )]
    SqliteInUse(String),
    #[error("cannot lock the SQLite database {path}: {source}")]
    SqliteLock {
        path: String,
        source: std::io::Error,
    },
}

/// One pool; clone it to hand the same database to every port.
#[derive(Clone)]
pub struct DieselStore {
    pool: DbPool,
    executor: Executor,
    url: DatabaseUrl,
    session_cache: Option<Arc<SessionCache>>,
    /// Held while the store lives: proof that no other server writes to this SQLite file.
    _sole_server: Option<Arc<File>>,
}

impl DieselStore {
    /// Opens a pool of at most `max_connections` to `url`, waiting at most `checkout_timeout`
    /// for a connection. SQLite files (and their folders) are created as needed and switched to
    /// WAL mode.
    pub fn connect(
        url: &DatabaseUrl,
        max_connections: u32,
        checkout_timeout: Duration,
    ) -> Result<Self, StoreSetupError> {
        let pool = build_pool(url, max_connections, checkout_timeout)?;
        let store = Self {
            executor: Executor::start(&pool, checkout_timeout)?,
            pool,
            url: url.clone(),
            session_cache: None,
            _sole_server: None,
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

    /// Remembers session lookups in this process (the lookup every authenticated request
    /// makes), forgetting each once something changes it.
    ///
    /// On SQLite that is sound only while this process is the file's only server, so the store
    /// takes an exclusive lock on `<file>-server.lock` for as long as it lives, and a second
    /// server on the same file fails here. Command-line tools do not call this and may still
    /// share the file; what they change (`create-admin` promoting an existing user) shows within
    /// the cache's one-second freshness.
    ///
    /// On PostgreSQL, where replicas share the database, a listener thread hears every write to
    /// sessions and users (whoever made it) through `LISTEN`, and lookups are answered from
    /// memory only while that channel is whole (see `session_listener`).
    pub fn cache_sessions(mut self) -> Result<Self, StoreSetupError> {
        let Some(file) = self.url.sqlite_path().map(str::to_owned) else {
            let cache = Arc::new(SessionCache::listening());
            session_listener::spawn(self.url.as_str(), &cache)?;
            self.session_cache = Some(cache);
            return Ok(self);
        };
        let path = format!("{file}-server.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreSetupError::SqliteLock {
                path: path.clone(),
                source,
            })?;
        lock.try_lock().map_err(|err| match err {
            std::fs::TryLockError::WouldBlock => StoreSetupError::SqliteInUse(file),
            std::fs::TryLockError::Error(source) => StoreSetupError::SqliteLock { path, source },
        })?;
        self._sole_server = Some(Arc::new(lock));
        self.session_cache = Some(Arc::new(SessionCache::sole_server()));
        Ok(self)
    }

    /// Whether session lookups are answered from memory now: never without `cache_sessions`;
    /// on PostgreSQL only while the channel of changes is whole.
    pub fn sessions_cached(&self) -> bool {
        self.session_cache
            .as_ref()
            .is_some_and(|cache| cache.trusted())
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// Every storage port, on this store.
    pub fn stores(&self) -> Stores {
        Stores::of(self.clone())
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.execute(Some(Stale::Everything), |conn| {
            run_migrations(conn).map_err(|err| StoreError::Other(err.to_string()))
        })
        .await
    }

    /// Runs a query that changes nothing.
    async fn read<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, diesel::result::Error> + Send + 'static,
    {
        self.execute(None, move |conn| query(conn).map_err(store_error))
            .await
    }

    /// Runs a statement that may change what session lookups answer, as far as `stale` says.
    async fn write<T, F>(&self, stale: Stale, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, diesel::result::Error> + Send + 'static,
    {
        self.execute(Some(stale), move |conn| query(conn).map_err(store_error))
            .await
    }

    /// Runs `query` on a pooled connection on the adapter's threads, in the caller's span.
    /// After a write, on the database thread (so even when the caller has gone away), the
    /// session cache forgets what the write may have made stale.
    async fn execute<T, F>(&self, stale: Option<Stale>, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        match (&self.session_cache, stale) {
            (Some(cache), Some(stale)) => {
                let cache = cache.clone();
                self.executor
                    .run(move |conn| {
                        let result = query(conn);
                        cache.forget(stale);
                        result
                    })
                    .await
            }
            _ => self.executor.run(query).await,
        }
    }
}

#[async_trait]
impl StoreHealth for DieselStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.ping().map(drop)).await
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
