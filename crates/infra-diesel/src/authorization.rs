//! Authorization codes. A code is spent by one conditional UPDATE (unspent and unexpired: set
//! the session it gives), so of concurrent uses exactly one spends it; a use of a spent code is
//! another conditional UPDATE that marks it replayed. Each runs in a transaction that starts
//! with its write (PostgreSQL: the row lock; SQLite: the write lock). And consents, one row per
//! person and client, written by one upsert.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{
    AuthorizationCode, AuthorizationCodeRepository, CodeRedemption, Consent, ConsentRepository,
    Scopes,
};
use uuid::Uuid;

use crate::error::corrupt;
use crate::rows::{naive, parse_uuid, utc};
use crate::schema::{authorization_codes, consents};
use crate::session_cache::Stale;
use crate::{DbConnection, DieselStore};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
struct CodeRow {
    fingerprint: String,
    client_id: String,
    redirect_uri: String,
    user_id: String,
    browser_session: String,
    scopes: String,
    code_challenge: String,
    nonce: Option<String>,
    auth_time: NaiveDateTime,
    /// Space-separated RFC 8176 names.
    amr: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    session_id: Option<String>,
}

impl From<&AuthorizationCode> for CodeRow {
    fn from(code: &AuthorizationCode) -> Self {
        Self {
            fingerprint: code.fingerprint.clone(),
            client_id: code.client_id.to_string(),
            redirect_uri: code.redirect_uri.clone(),
            user_id: code.user_id.to_string(),
            browser_session: code.browser_session.to_string(),
            scopes: code.scopes.to_string(),
            code_challenge: code.code_challenge.clone(),
            nonce: code.nonce.clone(),
            auth_time: naive(code.auth_time),
            amr: code.amr.join(" "),
            created_at: naive(code.created_at),
            expires_at: naive(code.expires_at),
            session_id: None,
        }
    }
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = domain::StoreError;

    fn try_from(row: CodeRow) -> Result<Self, Self::Error> {
        Ok(AuthorizationCode {
            client_id: parse_uuid("authorization_codes.client_id", &row.client_id)?,
            user_id: parse_uuid("authorization_codes.user_id", &row.user_id)?,
            browser_session: parse_uuid(
                "authorization_codes.browser_session",
                &row.browser_session,
            )?,
            scopes: Scopes::parse(&row.scopes)
                .map_err(|_| corrupt("authorization_codes.scopes", &row.scopes))?,
            amr: row.amr.split_whitespace().map(str::to_owned).collect(),
            fingerprint: row.fingerprint,
            redirect_uri: row.redirect_uri,
            code_challenge: row.code_challenge,
            nonce: row.nonce,
            auth_time: utc(row.auth_time),
            created_at: utc(row.created_at),
            expires_at: utc(row.expires_at),
        })
    }
}

/// What a redemption's transaction found, before its rows are turned into the domain's.
enum Found {
    Redeemed(CodeRow),
    Replayed(CodeRow),
    Unknown,
}

#[async_trait]
impl AuthorizationCodeRepository for DieselStore {
    async fn insert(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let row = CodeRow::from(code);
        self.write(Stale::Nothing, move |conn| {
            diesel::insert_into(authorization_codes::table)
                .values(&row)
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn redeem(
        &self,
        fingerprint: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption> {
        let (fingerprint, session_id, now) =
            (fingerprint.to_owned(), session_id.to_string(), naive(now));
        let found = self
            .write(Stale::Nothing, move |conn| {
                conn.transaction(|conn| {
                    let code = authorization_codes::table.find(&fingerprint);
                    let spent = diesel::update(
                        code.filter(authorization_codes::session_id.is_null())
                            .filter(authorization_codes::expires_at.gt(now)),
                    )
                    .set(authorization_codes::session_id.eq(&session_id))
                    .execute(conn)?;
                    let replayed = spent == 0
                        && diesel::update(
                            code.filter(authorization_codes::session_id.is_not_null()),
                        )
                        .set(authorization_codes::replayed.eq(true))
                        .execute(conn)?
                            == 1;
                    if spent == 0 && !replayed {
                        return Ok(Found::Unknown);
                    }
                    let row = code.select(CodeRow::as_select()).get_result(conn)?;
                    Ok(if replayed {
                        Found::Replayed(row)
                    } else {
                        Found::Redeemed(row)
                    })
                })
            })
            .await?;
        Ok(match found {
            Found::Unknown => CodeRedemption::Unknown,
            Found::Redeemed(row) => CodeRedemption::Redeemed(row.try_into()?),
            Found::Replayed(row) => {
                let first = row.session_id.clone().unwrap_or_default();
                CodeRedemption::Replayed {
                    session_id: parse_uuid("authorization_codes.session_id", &first)?,
                    code: row.try_into()?,
                }
            }
        })
    }

    async fn replayed(&self, fingerprint: &str) -> StoreResult<bool> {
        let fingerprint = fingerprint.to_owned();
        self.read(move |conn| {
            authorization_codes::table
                .find(fingerprint)
                .select(authorization_codes::replayed)
                .get_result(conn)
                .optional()
                .map(|replayed| replayed.unwrap_or(false))
        })
        .await
    }

    async fn delete_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = naive(before);
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(
                authorization_codes::table.filter(authorization_codes::expires_at.lt(before)),
            )
            .execute(conn)
            .map(|n| n as u64)
        })
        .await
    }
}

#[async_trait]
impl ConsentRepository for DieselStore {
    async fn find_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<Option<Scopes>> {
        let (user, client) = (user_id.to_string(), client_id.to_string());
        let scopes: Option<String> = self
            .read(move |conn| {
                consents::table
                    .find((user, client))
                    .select(consents::scopes)
                    .get_result(conn)
                    .optional()
            })
            .await?;
        scopes
            .map(|s| Scopes::parse(&s).map_err(|_| corrupt("consents.scopes", &s)))
            .transpose()
    }

    async fn grant_consent(
        &self,
        user_id: Uuid,
        client_id: Uuid,
        scopes: &Scopes,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (user, client, scopes, at) = (
            user_id.to_string(),
            client_id.to_string(),
            scopes.to_string(),
            naive(at),
        );
        self.write(Stale::Nothing, move |conn| {
            let row = (
                consents::user_id.eq(&user),
                consents::client_id.eq(&client),
                consents::scopes.eq(&scopes),
                consents::granted_at.eq(at),
            );
            let replace = (consents::scopes.eq(&scopes), consents::granted_at.eq(at));
            // One statement: two grants at once both land, the later one standing.
            match conn {
                DbConnection::Pg(c) => diesel::insert_into(consents::table)
                    .values(row)
                    .on_conflict((consents::user_id, consents::client_id))
                    .do_update()
                    .set(replace)
                    .execute(c),
                DbConnection::Sqlite(c) => diesel::insert_into(consents::table)
                    .values(row)
                    .on_conflict((consents::user_id, consents::client_id))
                    .do_update()
                    .set(replace)
                    .execute(c),
            }
            .map(drop)
        })
        .await
    }

    async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>> {
        let user = user_id.to_string();
        let rows: Vec<(String, String, NaiveDateTime)> = self
            .read(move |conn| {
                consents::table
                    .filter(consents::user_id.eq(user))
                    .order((consents::granted_at.asc(), consents::client_id.asc()))
                    .select((consents::client_id, consents::scopes, consents::granted_at))
                    .load(conn)
            })
            .await?;
        rows.into_iter()
            .map(|(client, scopes, at)| {
                Ok(Consent {
                    client_id: parse_uuid("consents.client_id", &client)?,
                    scopes: Scopes::parse(&scopes)
                        .map_err(|_| corrupt("consents.scopes", &scopes))?,
                    granted_at: utc(at),
                })
            })
            .collect()
    }

    async fn withdraw_consent(&self, user_id: Uuid, client_id: Uuid) -> StoreResult<bool> {
        let (user, client) = (user_id.to_string(), client_id.to_string());
        self.write(Stale::Nothing, move |conn| {
            Ok(diesel::delete(consents::table.find((user, client))).execute(conn)? == 1)
        })
        .await
    }
}
