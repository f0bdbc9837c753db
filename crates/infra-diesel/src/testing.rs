//! Throwaway databases for tests: a SQLite file in a temporary folder, or a PostgreSQL database
//! created on the server named by `TEST_POSTGRES_URL` (unset: a throwaway cluster of this test
//! process's own) and dropped when the value is dropped.

mod cluster;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use std::time::Duration;

use uuid::Uuid;

use crate::{DatabaseUrl, DieselStore};

pub enum TestDatabase {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = dir.path().join("test.db").display().to_string();
        TestDatabase::Sqlite { url, _dir: dir }
    }

    /// Panics with a clear message when no PostgreSQL server answers (or none can be started):
    /// these tests must not pass by silently doing nothing.
    pub fn postgres() -> Self {
        let admin_url = match std::env::var("TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => cluster::admin_url(),
        };
        let name = format!("auth_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|err| {
            panic!(
                "the PostgreSQL tests need a server at {admin_url} (set TEST_POSTGRES_URL): {err}"
            )
        });
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("CREATE DATABASE");
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("TEST_POSTGRES_URL must name a database: {admin_url}"),
        };
        TestDatabase::Postgres {
            url,
            admin_url,
            name,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> DieselStore {
        let store = DieselStore::connect(
            &DatabaseUrl::parse(self.url()).unwrap(),
            4,
            Duration::from_secs(5),
        )
        .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
        {
            // Best effort: a database left behind is harmless and easy to spot by its prefix.
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}
