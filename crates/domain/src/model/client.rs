use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A machine account that gets tokens with the OAuth 2.0 `client_credentials` grant and may
/// introspect tokens. Its secret is stored only as a keyed fingerprint.
#[derive(Clone, PartialEq)]
pub struct ServiceClient {
    pub id: Uuid,
    pub name: String,
    pub secret_fingerprint: String,
    pub created_at: DateTime<Utc>,
}

// Hand-written so that the fingerprint never reaches a log line through `{:?}`.
impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A client just made: the only moment its secret exists outside the client's hands.
#[derive(Clone)]
pub struct CreatedClient {
    pub client: ServiceClient,
    pub secret: String,
}
