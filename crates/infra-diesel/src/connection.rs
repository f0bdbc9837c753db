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

/// A database URL, checked once: `postgres://…` or `postgresql://…` naming a host selects
/// PostgreSQL; `sqlite://path`, `sqlite:path` or a plain file path selects SQLite. This is the
/// one place where a URL's backend is decided. Configuration reads it from a string.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.trim().is_empty() {
            return Err("is empty".into());
        }
        let backend = if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            if host.is_empty() || host.starts_with('/') || host.starts_with(':') {
                return Err("a PostgreSQL URL must name a host".into());
            }
            Backend::Postgres
        } else if url.contains("://") && !url.starts_with("sqlite://") {
            return Err("must be postgres://…, sqlite://…, or a SQLite file path".into());
        } else {
            Backend::Sqlite
        };
        Ok(Self {
            url: url.to_owned(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The file a SQLite URL names; `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then(|| {
            let url = self.url.as_str();
            url.strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url)
        })
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        Self::parse(&url)
    }
}

/// Without the password a PostgreSQL URL may carry.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match self.url.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://***@{host}")
            }
            _ => self.url.clone(),
        };
        f.debug_tuple("DatabaseUrl").field(&shown).finish()
    }
}

/// Per-connection SQLite settings: enforce foreign keys, wait for a busy writer rather than
/// fail, and let WAL mode's readers skip fsync on every commit.
const SQLITE_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: &DatabaseUrl) -> Self {
        Self { url: url.clone() }
    }

    pub fn establish(&self) -> Result<DbConnection, ConnectionError> {
        match self.url.sqlite_path() {
            None => PgConnection::establish(self.url.as_str()).map(DbConnection::Pg),
            Some(path) => {
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
    url: &DatabaseUrl,
    max_size: u32,
    checkout_timeout: Duration,
) -> Result<DbPool, r2d2::Error> {
    Pool::builder()
        .max_size(max_size)
        .connection_timeout(checkout_timeout)
        .test_on_check_out(false)
        .build(ConnectionManager::new(url))
}
