use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::ports::StoreResult;
use domain::{AuditLog, AuditRecord, Page};

use crate::DieselStore;
use crate::rows::{AuditRow, naive};
use crate::schema::audit_events;
use crate::session_cache::Stale;

#[async_trait]
impl AuditLog for DieselStore {
    async fn record(&self, record: &AuditRecord) -> StoreResult<()> {
        let row = AuditRow::from(record);
        self.write(Stale::Nothing, move |conn| {
            diesel::insert_into(audit_events::table)
                .values(&row)
                .execute(conn)
                .map(drop)
        })
        .await
    }

    async fn list(&self, page: u32, per_page: u32) -> StoreResult<Page<AuditRecord>> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let (rows, total) = self
            .read(move |conn| {
                conn.transaction(|conn| {
                    let total = audit_events::table.count().get_result::<i64>(conn)?;
                    let rows = audit_events::table
                        .order((audit_events::at.desc(), audit_events::id.desc()))
                        .limit(i64::from(per_page))
                        .offset(offset)
                        .select(AuditRow::as_select())
                        .load(conn)?;
                    Ok((rows, total))
                })
            })
            .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(AuditRecord::try_from)
                .collect::<StoreResult<_>>()?,
            page,
            per_page,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    async fn delete_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = naive(before);
        self.write(Stale::Nothing, move |conn| {
            diesel::delete(audit_events::table.filter(audit_events::at.lt(before)))
                .execute(conn)
                .map(|deleted| deleted as u64)
        })
        .await
    }
}
