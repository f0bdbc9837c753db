//! The storage contract, run against the diesel adapter on both backends.

use domain::Stores;
use infra_diesel::testing::TestDatabase;

async fn stores_on(db: TestDatabase) -> (Stores, TestDatabase) {
    (db.store().await.stores(), db)
}

/// As the server opens it: session lookups are cached (on PostgreSQL, while the listener hears).
async fn serving_stores_on(db: TestDatabase) -> (Stores, TestDatabase) {
    (db.store().await.cache_sessions().unwrap().stores(), db)
}

mod sqlite {
    use super::*;
    domain::storage_contract_tests!(stores_on(TestDatabase::sqlite()));
}

mod sqlite_serving {
    use super::*;
    domain::storage_contract_tests!(serving_stores_on(TestDatabase::sqlite()));
}

mod postgres {
    use super::*;
    domain::storage_contract_tests!(stores_on(TestDatabase::postgres()));
}

mod postgres_serving {
    use super::*;
    domain::storage_contract_tests!(serving_stores_on(TestDatabase::postgres()));
}

mod setup {
    use domain::StoreHealth;
    use infra_diesel::testing::TestDatabase;
    use infra_diesel::{Backend, DatabaseUrl, DieselStore, StoreSetupError};

    #[tokio::test]
    async fn migrations_are_idempotent_and_the_backend_follows_the_url() {
        for db in [TestDatabase::sqlite(), TestDatabase::postgres()] {
            let store = db.store().await;
            assert_eq!(store.migrate().await.unwrap(), 0, "already applied");
            store.ping().await.unwrap();
            let expected = if db.url().starts_with("postgres") {
                Backend::Postgres
            } else {
                Backend::Sqlite
            };
            assert_eq!(store.backend(), expected);
        }
    }

    #[tokio::test]
    async fn a_sqlite_url_creates_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/auth.db");
        let url = format!("sqlite://{}", path.display());
        let url = DatabaseUrl::parse(&url).unwrap();
        let store = DieselStore::connect(&url, 2, std::time::Duration::from_secs(5)).unwrap();
        store.migrate().await.unwrap();
        assert!(path.exists());
    }

    #[tokio::test]
    async fn one_server_at_a_time_caches_a_sqlite_file() {
        let db = TestDatabase::sqlite();
        let first = db.store().await.cache_sessions().unwrap();
        let second = db.store().await.cache_sessions();
        assert!(matches!(second, Err(StoreSetupError::SqliteInUse(_))));
        // Command-line tools still open the file beside the server.
        db.store().await.ping().await.unwrap();
        drop(first);
        db.store().await.cache_sessions().unwrap();
    }

    #[test]
    fn the_url_decides_the_backend_and_bad_urls_are_refused() {
        let backend = |url: &str| DatabaseUrl::parse(url).map(|u| u.backend());
        assert_eq!(backend("postgresql://h/db"), Ok(Backend::Postgres));
        assert_eq!(backend("sqlite://data/a.db"), Ok(Backend::Sqlite));
        assert_eq!(backend("data/a.db"), Ok(Backend::Sqlite));
        for bad in [
            "",
            "  ",
            "mysql://h/db",
            "postgres://",
            "postgres://u@/db",
            "postgres://:5432",
        ] {
            assert!(backend(bad).is_err(), "{bad:?}");
        }
        let with_password = DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{with_password:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_postgres_url_is_an_error_not_a_sqlite_file() {
        let url = DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
        assert!(DieselStore::connect(&url, 1, std::time::Duration::from_secs(1)).is_err());
        // Tried as a SQLite path, the URL would have made this folder.
        assert!(!std::path::Path::new("postgres:").exists());
    }
}

mod concurrent_start {
    use infra_diesel::DieselStore;
    use infra_diesel::testing::TestDatabase;

    /// Replicas starting together migrate one database without tripping over each other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_migrate_one_postgres_database_at_once() {
        let db = TestDatabase::postgres();
        let starts = (0..4).map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move {
                let url = infra_diesel::DatabaseUrl::parse(&url).unwrap();
                let store =
                    DieselStore::connect(&url, 1, std::time::Duration::from_secs(5)).unwrap();
                store.migrate().await
            })
        });
        let applied: Vec<usize> = futures::future::join_all(starts)
            .await
            .into_iter()
            .map(|joined| joined.unwrap().unwrap())
            .collect();
        let alone = TestDatabase::postgres();
        let url = infra_diesel::DatabaseUrl::parse(alone.url()).unwrap();
        let all = DieselStore::connect(&url, 1, std::time::Duration::from_secs(5))
            .unwrap()
            .migrate()
            .await
            .unwrap();
        assert_eq!(
            applied.iter().sum::<usize>(),
            all,
            "each migration ran once: {applied:?}"
        );
    }
}
