//! Second factors. Each spend is one conditional UPDATE or DELETE whose row count says whether
//! it spent: PostgreSQL and SQLite both re-check the condition on the row they lock, so a code
//! sent twice at once is spent once. None of these tables is part of a session lookup; the
//! user's `mfa_enabled` flag, which is, changes with the factor in one transaction. Each
//! transaction here starts with its write, so SQLite takes its write lock at the first statement
//! and no read in it can go stale.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{MfaChallenge, MfaRepository, TotpFactor};
use uuid::Uuid;

use crate::rows::{naive, parse_uuid, utc};
use crate::schema::{mfa_challenges, recovery_codes, totp_factors, users};
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
struct TotpRow {
    user_id: String,
    sealed_secret: Vec<u8>,
    enabled_at: Option<NaiveDateTime>,
    last_step: Option<i64>,
    created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges)]
struct ChallengeRow {
    token_fingerprint: String,
    user_id: String,
    password_fingerprint: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

impl TryFrom<TotpRow> for TotpFactor {
    type Error = domain::StoreError;

    fn try_from(row: TotpRow) -> Result<Self, Self::Error> {
        Ok(TotpFactor {
            user_id: parse_uuid("totp_factors.user_id", &row.user_id)?,
            sealed_secret: row.sealed_secret,
            enabled_at: row.enabled_at.map(utc),
            last_step: row.last_step,
            created_at: utc(row.created_at),
        })
    }
}

impl TryFrom<ChallengeRow> for MfaChallenge {
    type Error = domain::StoreError;

    fn try_from(row: ChallengeRow) -> Result<Self, Self::Error> {
        Ok(MfaChallenge {
            token_fingerprint: row.token_fingerprint,
            user_id: parse_uuid("mfa_challenges.user_id", &row.user_id)?,
            password_fingerprint: row.password_fingerprint,
            created_at: utc(row.created_at),
            expires_at: utc(row.expires_at),
        })
    }
}

/// Replaces every recovery code of `user_id` with `recovery`, unspent.
fn store_codes(
    conn: &mut DbConnection,
    user_id: &str,
    recovery: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    let rows: Vec<_> = recovery
        .iter()
        .map(|code| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::fingerprint.eq(code),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    // Batch inserts do not compile on the multi-backend connection.
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(recovery_codes::table)
            .values(rows)
            .execute(c),
        DbConnection::Sqlite(c) => diesel::insert_into(recovery_codes::table)
            .values(rows)
            .execute(c),
    }
    .map(drop)
}

/// The user's flag, kept with the factor in the same transaction.
fn set_mfa_enabled(conn: &mut DbConnection, user_id: &str, enabled: bool) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::mfa_enabled.eq(enabled))
        .execute(conn)
        .map(drop)
}

#[async_trait]
impl MfaRepository for DieselStore {
    async fn begin_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let row = TotpRow {
            user_id: user_id.to_string(),
            sealed_secret: sealed_secret.to_vec(),
            enabled_at: None,
            last_step: None,
            created_at: naive(now),
        };
        self.write(Stale::Nothing, move |conn| {
            // Replaces a pending factor, never an enabled one: the upsert's WHERE.
            macro_rules! upsert {
                ($c:expr) => {{
                    let upsert = diesel::insert_into(totp_factors::table)
                        .values(&row)
                        .on_conflict(totp_factors::user_id)
                        .do_update()
                        .set((
                            totp_factors::sealed_secret.eq(&row.sealed_secret),
                            totp_factors::last_step.eq(None::<i64>),
                            totp_factors::created_at.eq(row.created_at),
                        ));
                    diesel::query_dsl::methods::FilterDsl::filter(
                        upsert,
                        totp_factors::enabled_at.is_null(),
                    )
                    .execute($c)
                }};
            }
            let written = match conn {
                DbConnection::Pg(c) => upsert!(c),
                DbConnection::Sqlite(c) => upsert!(c),
            }?;
            Ok(written == 1)
        })
        .await
    }

    async fn find_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpFactor>> {
        let id = user_id.to_string();
        self.read(move |conn| {
            totp_factors::table
                .find(id)
                .select(TotpRow::as_select())
                .get_result(conn)
                .optional()
        })
        .await?
        .map(TotpFactor::try_from)
        .transpose()
    }

    async fn confirm_totp(
        &self,
        user_id: Uuid,
        sealed_secret: &[u8],
        step: i64,
        recovery: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, recovery, now) = (user_id.to_string(), recovery.to_vec(), naive(now));
        let sealed = sealed_secret.to_vec();
        self.write(Stale::User(user_id), move |conn| {
            conn.transaction(|conn| {
                let pending = totp_factors::table
                    .find(&id)
                    .filter(totp_factors::enabled_at.is_null())
                    .filter(totp_factors::sealed_secret.eq(&sealed));
                let enabled = diesel::update(pending)
                    .set((
                        totp_factors::enabled_at.eq(now),
                        totp_factors::last_step.eq(step),
                    ))
                    .execute(conn)?;
                if enabled == 1 {
                    store_codes(conn, &id, &recovery, now)?;
                    set_mfa_enabled(conn, &id, true)?;
                }
                Ok(enabled == 1)
            })
        })
        .await
    }

    async fn spend_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool> {
        let id = user_id.to_string();
        self.write(Stale::Nothing, move |conn| {
            let unspent = totp_factors::table
                .find(id)
                .filter(totp_factors::enabled_at.is_not_null())
                .filter(
                    totp_factors::last_step
                        .is_null()
                        .or(totp_factors::last_step.lt(step)),
                );
            diesel::update(unspent)
                .set(totp_factors::last_step.eq(step))
                .execute(conn)
                .map(|spent| spent == 1)
        })
        .await
    }

    async fn remove_totp(&self, user_id: Uuid) -> StoreResult<bool> {
        let id = user_id.to_string();
        self.write(Stale::User(user_id), move |conn| {
            conn.transaction(|conn| {
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id)))
                    .execute(conn)?;
                diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(&id)))
                    .execute(conn)?;
                let removed = diesel::delete(totp_factors::table.find(&id)).execute(conn)?;
                set_mfa_enabled(conn, &id, false)?;
                Ok(removed == 1)
            })
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        recovery: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, recovery, now) = (user_id.to_string(), recovery.to_vec(), naive(now));
        self.write(Stale::Nothing, move |conn| {
            conn.transaction(|conn| {
                // Holds the enabled factor's row (PostgreSQL) so a removal waits for this.
                let enabled = totp_factors::table
                    .find(&id)
                    .filter(totp_factors::enabled_at.is_not_null());
                let held = diesel::update(enabled)
                    .set(totp_factors::last_step.eq(totp_factors::last_step))
                    .execute(conn)?;
                if held == 1 {
                    store_codes(conn, &id, &recovery, now)?;
                }
                Ok(held == 1)
            })
        })
        .await
    }

    async fn spend_recovery_code(
        &self,
        user_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, fingerprint, now) = (user_id.to_string(), fingerprint.to_owned(), naive(now));
        self.write(Stale::Nothing, move |conn| {
            let unspent = recovery_codes::table
                .find((id, fingerprint))
                .filter(recovery_codes::spent_at.is_null());
            diesel::update(unspent)
                .set(recovery_codes::spent_at.eq(now))
                .execute(conn)
                .map(|spent| spent == 1)
        })
        .await
    }

    async fn open_challenge(&self, challenge: &MfaChallenge) -> StoreResult<bool> {
        let row = ChallengeRow {
            token_fingerprint: challenge.token_fingerprint.clone(),
            user_id: challenge.user_id.to_string(),
            password_fingerprint: challenge.password_fingerprint.clone(),
            created_at: naive(challenge.created_at),
            expires_at: naive(challenge.expires_at),
        };
        self.write(Stale::Nothing, move |conn| {
            conn.transaction(|conn| {
                if !crate::mail::hold_active_user(conn, &row.user_id)? {
                    return Ok(false);
                }
                diesel::insert_into(mfa_challenges::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| true)
            })
        })
        .await
    }

    async fn find_challenge(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MfaChallenge>> {
        let (fingerprint, now) = (fingerprint.to_owned(), naive(now));
        self.read(move |conn| {
            mfa_challenges::table
                .find(fingerprint)
                .filter(mfa_challenges::expires_at.gt(now))
                .select(ChallengeRow::as_select())
                .get_result(conn)
                .optional()
        })
        .await?
        .map(MfaChallenge::try_from)
        .transpose()
    }

    async fn take_challenge(&self, fingerprint: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let (fingerprint, now) = (fingerprint.to_owned(), naive(now));
        self.write(Stale::Nothing, move |conn| {
            let live = mfa_challenges::table
                .find(fingerprint)
                .filter(mfa_challenges::expires_at.gt(now));
            diesel::delete(live).execute(conn).map(|taken| taken == 1)
        })
        .await
    }

    async fn delete_expired_challenges(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = naive(now);
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(now)))
                .execute(conn)
                .map(|deleted| deleted as u64)
        })
        .await
    }

    async fn delete_challenges_for_user(&self, user_id: Uuid) -> StoreResult<u64> {
        let user_id = user_id.to_string();
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
                .execute(conn)
                .map(|deleted| deleted as u64)
        })
        .await
    }
}
