//! One connection type over PostgreSQL and SQLite, and the pool that hands it out. The backend is
//! chosen from the URL here, not by trial, so that a mistyped PostgreSQL URL is reported as such
//! and never creates a stray SQLite file.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{Pool, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://` and `postgresql://` select PostgreSQL; anything else is a SQLite path,
    /// optionally written `sqlite://path` or `sqlite:path`.
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The file path a SQLite URL names.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Per-connection SQLite settings: enforce foreign keys, wait for a busy writer rather than
/// fail, and let WAL mode's readers skip fsync on every commit.
const SQLITE_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

pub struct ConnectionManager {
    url: String,
    backend: Backend,
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            backend: Backend::from_url(url),
        }
    }

    pub fn establish(&self) -> Result<DbConnection, ConnectionError> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url).map(DbConnection::Pg),
            Backend::Sqlite => {
                let path = sqlite_path(&self.url);
                if let Some(dir) = Path::new(path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|err| {
                        ConnectionError::BadConnection(format!(
                            "cannot create the folder {}: {err}",
                            dir.display()
                        ))
                    })?;
                }
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(|err| ConnectionError::BadConnection(err.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl diesel::r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type DbPool = Pool<ConnectionManager>;

/// `checkout_timeout`: how long a request waits for a pooled connection before the store counts
/// as unavailable.
pub fn build_pool(
    url: &str,
    max_size: u32,
    checkout_timeout: Duration,
) -> Result<DbPool, r2d2::Error> {
    Pool::builder()
        .max_size(max_size)
        .connection_timeout(checkout_timeout)
        .test_on_check_out(false)
        .build(ConnectionManager::new(url))
}
