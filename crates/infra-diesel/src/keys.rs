//! Signing keys. Each state change of a key is one conditional UPDATE (a
//! rotation: two in one transaction) whose row count says whether it happened; the partial
//! unique indexes keep one `current` and one `next` whatever replicas race.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use domain::ports::StoreResult;
use domain::{KeyAlgorithm, KeyState, SigningKey, SigningKeyRepository};

use crate::error::corrupt;
use crate::rows::{naive, utc};
use crate::schema::signing_keys;
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    algorithm: String,
    state: String,
    sealed_private: Vec<u8>,
    public_jwk: String,
    created_at: NaiveDateTime,
    activated_at: Option<NaiveDateTime>,
    deactivated_at: Option<NaiveDateTime>,
    retired_at: Option<NaiveDateTime>,
}

impl TryFrom<KeyRow> for SigningKey {
    type Error = domain::StoreError;

    fn try_from(row: KeyRow) -> Result<Self, Self::Error> {
        Ok(SigningKey {
            algorithm: KeyAlgorithm::parse(&row.algorithm)
                .ok_or_else(|| corrupt("signing_keys.algorithm", &row.algorithm))?,
            state: KeyState::parse(&row.state)
                .ok_or_else(|| corrupt("signing_keys.state", &row.state))?,
            public: serde_json::from_str(&row.public_jwk)
                .map_err(|_| corrupt("signing_keys.public_jwk", &row.kid))?,
            kid: row.kid,
            sealed_private: row.sealed_private,
            created_at: utc(row.created_at),
            activated_at: row.activated_at.map(utc),
            deactivated_at: row.deactivated_at.map(utc),
            retired_at: row.retired_at.map(utc),
        })
    }
}

/// Moves `kid` from one of `from` to `to`, stamping `column`; the number of rows moved.
fn change_state(
    conn: &mut DbConnection,
    kid: &str,
    from: &[&str],
    to: KeyState,
    stamp: NaiveDateTime,
) -> QueryResult<usize> {
    let target = signing_keys::table
        .find(kid)
        .filter(signing_keys::state.eq_any(from.to_vec()));
    let state = signing_keys::state.eq(to.as_str());
    match to {
        KeyState::Current => diesel::update(target)
            .set((state, signing_keys::activated_at.eq(stamp)))
            .execute(conn),
        KeyState::Previous => diesel::update(target)
            .set((state, signing_keys::deactivated_at.eq(stamp)))
            .execute(conn),
        KeyState::Retired => diesel::update(target)
            .set((state, signing_keys::retired_at.eq(stamp)))
            .execute(conn),
        KeyState::Next => diesel::update(target).set(state).execute(conn),
    }
}

#[async_trait]
impl SigningKeyRepository for DieselStore {
    async fn list(&self) -> StoreResult<Vec<SigningKey>> {
        self.read(|conn| {
            signing_keys::table
                .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
                .select(KeyRow::as_select())
                .load(conn)
        })
        .await?
        .into_iter()
        .map(SigningKey::try_from)
        .collect()
    }

    async fn insert_next(&self, key: &SigningKey) -> StoreResult<bool> {
        let row = KeyRow {
            kid: key.kid.clone(),
            algorithm: key.algorithm.as_str().into(),
            state: KeyState::Next.as_str().into(),
            sealed_private: key.sealed_private.clone(),
            public_jwk: serde_json::to_string(&key.public)
                .map_err(|err| domain::StoreError::Other(err.to_string()))?,
            created_at: naive(key.created_at),
            activated_at: None,
            deactivated_at: None,
            retired_at: None,
        };
        // The index on `next` refuses a second one: whoever inserts first wins.
        self.write(Stale::Nothing, move |conn| {
            let inserted = match conn {
                DbConnection::Pg(c) => diesel::insert_into(signing_keys::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c),
                DbConnection::Sqlite(c) => diesel::insert_into(signing_keys::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c),
            }?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn rotate<'a>(
        &self,
        current: Option<&'a str>,
        next: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (current, next, now) = (current.map(str::to_owned), next.to_owned(), naive(now));
        self.write(Stale::Nothing, move |conn| {
            let rotated = conn.transaction(|conn| {
                if let Some(current) = &current
                    && change_state(conn, current, &["current"], KeyState::Previous, now)? != 1
                {
                    return Err(Error::RollbackTransaction);
                }
                // With no current key expected, the index refuses this if one appeared.
                if change_state(conn, &next, &["next"], KeyState::Current, now)? != 1 {
                    return Err(Error::RollbackTransaction);
                }
                Ok(true)
            });
            match rotated {
                Err(Error::RollbackTransaction)
                | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                other => other,
            }
        })
        .await
    }

    async fn retire(&self, kid: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let (kid, now) = (kid.to_owned(), naive(now));
        self.write(Stale::Nothing, move |conn| {
            Ok(change_state(conn, &kid, &["next", "previous"], KeyState::Retired, now)? == 1)
        })
        .await
    }
}
