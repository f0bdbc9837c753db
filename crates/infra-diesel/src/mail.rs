//! Mail tokens and the outbox. A token is stored with its message in one transaction; a
//! redemption holds the token's row from its first statement (PostgreSQL: a row lock; SQLite:
//! the write lock), so of two redemptions of one token exactly one finds it. The outbox is
//! claimed by lease: PostgreSQL skips rows another server is claiming (`FOR UPDATE SKIP
//! LOCKED`), SQLite has one writer at a time.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use domain::ports::StoreResult;
use domain::{MailKind, MailToken, MailTokenRepository, Outbox, OutboxMessage, TokenPurpose};
use uuid::Uuid;

use crate::error::corrupt;
use crate::rows::{naive, parse_uuid, utc};
use crate::schema::{login_throttles, mail_tokens, outbox, sessions, users};
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_tokens)]
struct TokenRow {
    fingerprint: String,
    user_id: String,
    purpose: String,
    email: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
struct OutboxRow {
    id: String,
    kind: String,
    user_id: Option<String>,
    sealed_mail: Vec<u8>,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

impl From<&MailToken> for TokenRow {
    fn from(token: &MailToken) -> Self {
        Self {
            fingerprint: token.fingerprint.clone(),
            user_id: token.user_id.to_string(),
            purpose: token.purpose.as_str().to_owned(),
            email: token.email.clone(),
            created_at: naive(token.created_at),
            expires_at: naive(token.expires_at),
        }
    }
}

impl TryFrom<TokenRow> for MailToken {
    type Error = domain::StoreError;

    fn try_from(row: TokenRow) -> Result<Self, Self::Error> {
        Ok(MailToken {
            user_id: parse_uuid("mail_tokens.user_id", &row.user_id)?,
            purpose: TokenPurpose::parse(&row.purpose)
                .ok_or_else(|| corrupt("mail_tokens.purpose", &row.purpose))?,
            fingerprint: row.fingerprint,
            email: row.email,
            created_at: utc(row.created_at),
            expires_at: utc(row.expires_at),
        })
    }
}

impl From<&OutboxMessage> for OutboxRow {
    fn from(message: &OutboxMessage) -> Self {
        Self {
            id: message.id.to_string(),
            kind: message.kind.as_str().to_owned(),
            user_id: message.user_id.map(|id| id.to_string()),
            sealed_mail: message.sealed_mail.clone(),
            attempts: i32::try_from(message.attempts).unwrap_or(i32::MAX),
            next_attempt_at: naive(message.next_attempt_at),
            created_at: naive(message.created_at),
        }
    }
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = domain::StoreError;

    fn try_from(row: OutboxRow) -> Result<Self, Self::Error> {
        Ok(OutboxMessage {
            id: parse_uuid("outbox.id", &row.id)?,
            kind: MailKind::parse(&row.kind).ok_or_else(|| corrupt("outbox.kind", &row.kind))?,
            user_id: row
                .user_id
                .as_deref()
                .map(|id| parse_uuid("outbox.user_id", id))
                .transpose()?,
            sealed_mail: row.sealed_mail,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: utc(row.next_attempt_at),
            created_at: utc(row.created_at),
        })
    }
}

/// Claims the due messages nobody holds, oldest due first, in one statement. PostgreSQL skips
/// rows another server is claiming at this moment rather than waiting for them.
const PG_CLAIM: &str = "UPDATE outbox SET claim_id = $1, claimed_until = $2, \
     attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= $3 \
     AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY next_attempt_at LIMIT $4 \
     FOR UPDATE SKIP LOCKED)";
/// SQLite has one writer at a time.
const SQLITE_CLAIM: &str = "UPDATE outbox SET claim_id = ?1, claimed_until = ?2, \
     attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ?3 \
     AND (claimed_until IS NULL OR claimed_until <= ?3) ORDER BY next_attempt_at LIMIT ?4)";

fn queue(conn: &mut DbConnection, message: &OutboxRow) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(message)
        .execute(conn)
        .map(drop)
}

/// Holds an active user's row (a no-op update) to the end of the transaction; `false` if the
/// user is inactive or gone.
pub(crate) fn hold_active_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::is_active.eq(true)))
        .set(users::id.eq(users::id))
        .execute(conn)
        .map(|held| held == 1)
}

/// Takes the unexpired token of `purpose`: holds its row first (a no-op update), then reads and
/// deletes it, so a concurrent redemption waits and then finds nothing.
fn take(
    conn: &mut DbConnection,
    fingerprint: &str,
    purpose: TokenPurpose,
    now: NaiveDateTime,
) -> QueryResult<Option<TokenRow>> {
    let live = mail_tokens::table
        .find(fingerprint)
        .filter(mail_tokens::purpose.eq(purpose.as_str()))
        .filter(mail_tokens::expires_at.gt(now));
    let held = diesel::update(live)
        .set(mail_tokens::purpose.eq(mail_tokens::purpose))
        .execute(conn)?;
    if held == 0 {
        return Ok(None);
    }
    let row = mail_tokens::table
        .find(fingerprint)
        .select(TokenRow::as_select())
        .get_result(conn)?;
    diesel::delete(mail_tokens::table.find(fingerprint)).execute(conn)?;
    Ok(Some(row))
}

/// Marks an active user's address verified while it is still `email`. Returns whether it did.
fn verify_address(conn: &mut DbConnection, user_id: &str, email: &str) -> QueryResult<bool> {
    let user = users::table
        .find(user_id)
        .filter(users::is_active.eq(true))
        .filter(users::email.eq(email));
    diesel::update(user)
        .set(users::email_verified.eq(true))
        .execute(conn)
        .map(|n| n == 1)
}

#[async_trait]
impl MailTokenRepository for DieselStore {
    async fn issue(&self, token: &MailToken, message: &OutboxMessage) -> StoreResult<bool> {
        let (token, message) = (TokenRow::from(token), OutboxRow::from(message));
        self.write(Stale::Nothing, move |conn| {
            conn.transaction(|conn| {
                // Holds the user's row first (a no-op update), while it is active: two issues
                // for one user take turns, so the newer always voids the older, and a
                // deactivation either waits for this one (and voids it after) or went first.
                if !hold_active_user(conn, &token.user_id)? {
                    return Ok(false);
                }
                diesel::delete(
                    mail_tokens::table
                        .filter(mail_tokens::user_id.eq(&token.user_id))
                        .filter(mail_tokens::purpose.eq(&token.purpose)),
                )
                .execute(conn)?;
                diesel::insert_into(mail_tokens::table)
                    .values(&token)
                    .execute(conn)?;
                queue(conn, &message).map(|()| true)
            })
        })
        .await
    }

    async fn find(
        &self,
        fingerprint: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MailToken>> {
        let (fingerprint, now) = (fingerprint.to_owned(), naive(now));
        self.read(move |conn| {
            mail_tokens::table
                .find(fingerprint)
                .filter(mail_tokens::purpose.eq(purpose.as_str()))
                .filter(mail_tokens::expires_at.gt(now))
                .select(TokenRow::as_select())
                .get_result(conn)
                .optional()
        })
        .await?
        .map(MailToken::try_from)
        .transpose()
    }

    async fn redeem_reset(
        &self,
        fingerprint: &str,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let (fingerprint, new_hash, now) =
            (fingerprint.to_owned(), new_hash.to_owned(), naive(now));
        let user_id = self
            .write(Stale::Everything, move |conn| {
                conn.transaction(|conn| {
                    let Some(token) = take(conn, &fingerprint, TokenPurpose::PasswordReset, now)?
                    else {
                        return Ok(None);
                    };
                    let id = token.user_id.as_str();
                    // Only while the account is active and the address the link went to is
                    // still its own, which the link proves.
                    let set = diesel::update(
                        users::table
                            .find(id)
                            .filter(users::is_active.eq(true))
                            .filter(users::email.eq(&token.email)),
                    )
                    .set((
                        users::password_hash.eq(&new_hash),
                        users::email_verified.eq(true),
                        users::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                    if set == 0 {
                        return Ok(None);
                    }
                    diesel::update(
                        sessions::table
                            .filter(sessions::user_id.eq(id))
                            .filter(sessions::revoked_at.is_null()),
                    )
                    .set(sessions::revoked_at.eq(now))
                    .execute(conn)?;
                    // An account's throttle row is keyed by the user's id.
                    diesel::delete(login_throttles::table.find(id)).execute(conn)?;
                    Ok(Some(token.user_id))
                })
            })
            .await?;
        user_id
            .map(|id| parse_uuid("mail_tokens.user_id", &id))
            .transpose()
    }

    async fn redeem_verification(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let (fingerprint, now) = (fingerprint.to_owned(), naive(now));
        let user_id = self
            .write(Stale::Everything, move |conn| {
                conn.transaction(|conn| {
                    let Some(token) =
                        take(conn, &fingerprint, TokenPurpose::EmailVerification, now)?
                    else {
                        return Ok(None);
                    };
                    let verified = verify_address(conn, &token.user_id, &token.email)?;
                    Ok(verified.then_some(token.user_id))
                })
            })
            .await?;
        user_id
            .map(|id| parse_uuid("mail_tokens.user_id", &id))
            .transpose()
    }

    async fn delete_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = naive(now);
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(mail_tokens::table.filter(mail_tokens::expires_at.le(now)))
                .execute(conn)
                .map(|n| n as u64)
        })
        .await
    }

    async fn void_for_user(&self, user_id: Uuid) -> StoreResult<u64> {
        let user_id = user_id.to_string();
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(mail_tokens::table.filter(mail_tokens::user_id.eq(user_id)))
                .execute(conn)
                .map(|n| n as u64)
        })
        .await
    }
}

#[async_trait]
impl Outbox for DieselStore {
    async fn enqueue(&self, message: &OutboxMessage) -> StoreResult<()> {
        let message = OutboxRow::from(message);
        self.write(Stale::Nothing, move |conn| queue(conn, &message))
            .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let (now, lease_until) = (naive(now), naive(lease_until));
        let claim = Uuid::new_v4().to_string();
        let rows = self
            .write(Stale::Nothing, move |conn| {
                conn.transaction(|conn| {
                    let sql = match conn {
                        DbConnection::Pg(_) => PG_CLAIM,
                        DbConnection::Sqlite(_) => SQLITE_CLAIM,
                    };
                    let claim_rows = diesel::sql_query(sql)
                        .bind::<Text, _>(&claim)
                        .bind::<Timestamp, _>(lease_until)
                        .bind::<Timestamp, _>(now)
                        .bind::<BigInt, _>(i64::from(limit));
                    match conn {
                        DbConnection::Pg(c) => claim_rows.execute(c),
                        DbConnection::Sqlite(c) => claim_rows.execute(c),
                    }?;
                    outbox::table
                        .filter(outbox::claim_id.eq(&claim))
                        .select(OutboxRow::as_select())
                        .load(conn)
                })
            })
            .await?;
        rows.into_iter().map(OutboxMessage::try_from).collect()
    }

    async fn remove(&self, id: Uuid) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(outbox::table.find(id))
                .execute(conn)
                .map(|n| n == 1)
        })
        .await
    }

    async fn retry_at(&self, id: Uuid, next_attempt_at: DateTime<Utc>) -> StoreResult<()> {
        let (id, next) = (id.to_string(), naive(next_attempt_at));
        self.write(Stale::Nothing, move |conn| {
            diesel::update(outbox::table.find(id))
                .set((
                    outbox::next_attempt_at.eq(next),
                    outbox::claim_id.eq(None::<String>),
                    outbox::claimed_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn pending(&self) -> StoreResult<u64> {
        self.read(|conn| {
            outbox::table
                .count()
                .get_result::<i64>(conn)
                .map(|n| n as u64)
        })
        .await
    }
}
