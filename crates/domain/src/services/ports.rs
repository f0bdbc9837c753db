use std::sync::Arc;

use crate::ports::{
    Clock, Fingerprints, KeyGenerator, OneTimeCodes, PasswordHasher, PkceTransform, SecretSealer,
    Stores, TokenCodec,
};

/// The adapters a service runs on: one storage adapter's ports, the hasher, the token codec,
/// the clock and what second factors need.
#[derive(Clone)]
pub struct Ports {
    pub stores: Stores,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenCodec>,
    pub key_generator: Arc<dyn KeyGenerator>,
    pub clock: Arc<dyn Clock>,
    pub mfa: MfaPorts,
    pub pkce: Arc<dyn PkceTransform>,
}

/// The adapters second factors need besides storage.
#[derive(Clone)]
pub struct MfaPorts {
    pub codes: Arc<dyn OneTimeCodes>,
    pub sealer: Arc<dyn SecretSealer>,
    pub fingerprints: Arc<dyn Fingerprints>,
}

/// What an audit entry says, before the service stamps it with an id and the time.
pub struct Audit<'a> {
    pub event: crate::model::AuditEvent,
    pub outcome: crate::model::AuditOutcome,
    pub user_id: Option<uuid::Uuid>,
    pub actor_id: Option<uuid::Uuid>,
    pub client: &'a crate::model::ClientInfo,
    pub detail: Option<&'static str>,
}

impl Ports {
    /// Records a security event.
    pub async fn audit(&self, audit: Audit<'_>) -> Result<(), crate::DomainError> {
        let record = crate::model::AuditRecord {
            id: uuid::Uuid::new_v4(),
            at: self.clock.now(),
            event: audit.event,
            outcome: audit.outcome,
            user_id: audit.user_id,
            actor_id: audit.actor_id,
            ip: audit.client.ip.clone(),
            request_id: audit.client.request_id.clone(),
            detail: audit.detail.map(str::to_owned),
        };
        Ok(self.stores.audit.record(&record).await?)
    }
}
