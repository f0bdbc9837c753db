use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::DbConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("database error: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Failed(String),
}

/// Serializes migrations of replicas starting together on one PostgreSQL database.
const MIGRATION_LOCK: i64 = 0x6175_7468_6170_6921;

/// Applies the pending migrations of the connection's backend; returns how many ran.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, MigrationError> {
    let applied = match conn {
        DbConnection::Pg(conn) => {
            let lock = |conn: &mut diesel::PgConnection, sql: &str| {
                conn.batch_execute(sql)
                    .map_err(|err| MigrationError::Database(err.to_string()))
            };
            lock(conn, &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = conn.run_pending_migrations(POSTGRES).map(|v| v.len());
            lock(
                conn,
                &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"),
            )?;
            applied
        }
        // SQLite serializes writers by itself.
        DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE).map(|v| v.len()),
    };
    applied.map_err(|err| MigrationError::Failed(err.to_string()))
}
