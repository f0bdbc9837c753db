//! Audit events go to the store and, as structured log lines, to the logs.

use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::StoreResult;
use domain::{AuditLog, AuditRecord, Page};

pub struct LoggedAudit {
    store: Arc<dyn AuditLog>,
}

impl LoggedAudit {
    pub fn new(store: Arc<dyn AuditLog>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AuditLog for LoggedAudit {
    async fn record(&self, record: &AuditRecord) -> StoreResult<()> {
        tracing::info!(
            target: "audit",
            event = record.event.as_str(),
            outcome = record.outcome.as_str(),
            user_id = record.user_id.map(|id| id.to_string()),
            actor_id = record.actor_id.map(|id| id.to_string()),
            ip = record.ip.as_deref(),
            request_id = record.request_id.as_deref(),
            detail = record.detail.as_deref(),
            "audit event"
        );
        self.store.record(record).await
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<AuditRecord>> {
        self.store.list(page, per_page).await
    }
}
