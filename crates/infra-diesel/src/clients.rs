//! The clients of the OAuth 2.0 endpoints. A change is one UPDATE of the columns it names, so
//! two admins changing different fields at once both keep theirs.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{ClientChanges, ClientKind, ClientRepository, OAuthClient};
use uuid::Uuid;

use crate::DieselStore;
use crate::error::corrupt;
use crate::rows::{naive, parse_uuid, utc};
use crate::schema::service_clients;
use crate::session_cache::Stale;

/// A public client's row holds this for its (absent) secret.
const NO_SECRET: &str = "";

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = service_clients)]
struct ClientRow {
    id: String,
    name: String,
    kind: String,
    secret_fingerprint: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    first_party: bool,
    require_par: bool,
    allow_password_grant: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// The fields a change names; `None` columns are left out of the UPDATE.
#[derive(AsChangeset)]
#[diesel(table_name = service_clients)]
struct ClientChangeRow {
    name: Option<String>,
    redirect_uris: Option<String>,
    post_logout_redirect_uris: Option<String>,
    first_party: Option<bool>,
    require_par: Option<bool>,
    allow_password_grant: Option<bool>,
    updated_at: NaiveDateTime,
}

/// URI lists are stored as JSON arrays of strings.
fn uri_list(uris: &[String]) -> String {
    serde_json::to_string(uris).expect("a list of strings is JSON")
}

impl TryFrom<ClientRow> for OAuthClient {
    type Error = domain::StoreError;

    fn try_from(row: ClientRow) -> Result<Self, Self::Error> {
        let uris = |column: &str, value: &str| {
            serde_json::from_str::<Vec<String>>(value).map_err(|_| corrupt(column, &row.id))
        };
        Ok(OAuthClient {
            id: parse_uuid("service_clients.id", &row.id)?,
            kind: ClientKind::parse(&row.kind)
                .ok_or_else(|| corrupt("service_clients.kind", &row.kind))?,
            redirect_uris: uris("service_clients.redirect_uris", &row.redirect_uris)?,
            post_logout_redirect_uris: uris(
                "service_clients.post_logout_redirect_uris",
                &row.post_logout_redirect_uris,
            )?,
            secret_fingerprint: Some(row.secret_fingerprint).filter(|f| f != NO_SECRET),
            name: row.name,
            first_party: row.first_party,
            require_par: row.require_par,
            allow_password_grant: row.allow_password_grant,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

#[async_trait]
impl ClientRepository for DieselStore {
    async fn insert(&self, client: &OAuthClient) -> StoreResult<()> {
        let row = ClientRow {
            id: client.id.to_string(),
            name: client.name.clone(),
            kind: client.kind.as_str().to_owned(),
            secret_fingerprint: client
                .secret_fingerprint
                .clone()
                .unwrap_or_else(|| NO_SECRET.to_owned()),
            redirect_uris: uri_list(&client.redirect_uris),
            post_logout_redirect_uris: uri_list(&client.post_logout_redirect_uris),
            first_party: client.first_party,
            require_par: client.require_par,
            allow_password_grant: client.allow_password_grant,
            created_at: naive(client.created_at),
            updated_at: naive(client.updated_at),
        };
        self.write(Stale::Nothing, move |conn| {
            diesel::insert_into(service_clients::table)
                .values(&row)
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn find(&self, id: Uuid) -> StoreResult<Option<OAuthClient>> {
        let id = id.to_string();
        self.read(move |conn| {
            service_clients::table
                .find(id)
                .select(ClientRow::as_select())
                .get_result(conn)
                .optional()
        })
        .await?
        .map(OAuthClient::try_from)
        .transpose()
    }

    async fn list(&self) -> StoreResult<Vec<OAuthClient>> {
        self.read(|conn| {
            service_clients::table
                .order((service_clients::created_at.asc(), service_clients::id.asc()))
                .select(ClientRow::as_select())
                .load(conn)
        })
        .await?
        .into_iter()
        .map(OAuthClient::try_from)
        .collect()
    }

    async fn update(
        &self,
        id: Uuid,
        changes: &ClientChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, row) = (
            id.to_string(),
            ClientChangeRow {
                name: changes.name.clone(),
                redirect_uris: changes.redirect_uris.as_deref().map(uri_list),
                post_logout_redirect_uris: changes
                    .post_logout_redirect_uris
                    .as_deref()
                    .map(uri_list),
                first_party: changes.first_party,
                require_par: changes.require_par,
                allow_password_grant: changes.allow_password_grant,
                updated_at: naive(now),
            },
        );
        self.write(Stale::Nothing, move |conn| {
            Ok(diesel::update(service_clients::table.find(id))
                .set(&row)
                .execute(conn)?
                == 1)
        })
        .await
    }

    async fn set_secret(
        &self,
        id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, fingerprint) = (id.to_string(), fingerprint.to_owned());
        self.write(Stale::Nothing, move |conn| {
            Ok(diesel::update(
                service_clients::table
                    .find(id)
                    .filter(service_clients::kind.ne(ClientKind::Public.as_str())),
            )
            .set((
                service_clients::secret_fingerprint.eq(fingerprint),
                service_clients::updated_at.eq(naive(now)),
            ))
            .execute(conn)?
                == 1)
        })
        .await
    }

    async fn delete(&self, id: Uuid) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(Stale::Nothing, move |conn| {
            Ok(diesel::delete(service_clients::table.find(id)).execute(conn)? == 1)
        })
        .await
    }
}
