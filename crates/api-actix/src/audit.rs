//! Audit events go to the store, to the logs as structured lines, and to the metrics.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::StoreResult;
use domain::{AuditLog, AuditRecord, Page};

use crate::metrics::Metrics;

pub struct ObservedAudit {
    store: Arc<dyn AuditLog>,
    metrics: Arc<Metrics>,
}

impl ObservedAudit {
    pub fn new(store: Arc<dyn AuditLog>, metrics: Arc<Metrics>) -> Self {
        Self { store, metrics }
    }
}

#[async_trait]
impl AuditLog for ObservedAudit {
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
        self.metrics.observe_audit(record);
        self.store.record(record).await
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<AuditRecord>> {
        self.store.list(page, per_page).await
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.store.delete_before(before).await
    }
}
