//! The in-process rate-limit store: the default on SQLite, where one process serves.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::RateLimitStore;
use domain::ports::StoreResult;

/// Past this many keys, windows that have ended are swept on the next new window.
const SWEEP_ABOVE: usize = 10_000;
/// How long a window is kept at a sweep.
const KEPT_HOURS: i64 = 2;

#[derive(Default)]
pub struct MemoryRateLimitStore {
    windows: Mutex<HashMap<String, (DateTime<Utc>, u32)>>,
}

impl MemoryRateLimitStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimitStore {
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((start, count)) = windows.get_mut(key)
            && *start == window_start
        {
            *count += 1;
            return Ok(*count);
        }
        if windows.len() >= SWEEP_ABOVE {
            // Nothing counts a window that ended longer ago than this (the hourly mail budgets
            // read an hour back).
            let kept_from = window_start - Duration::hours(KEPT_HOURS);
            windows.retain(|_, (start, _)| *start >= kept_from);
        }
        windows.insert(key.to_owned(), (window_start, 1));
        Ok(1)
    }

    async fn count(&self, key: &str, window_start: DateTime<Utc>) -> StoreResult<u32> {
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(windows
            .get(key)
            .filter(|(start, _)| *start == window_start)
            .map_or(0, |(_, count)| *count))
    }

    async fn delete_windows_before(&self, window_start: DateTime<Utc>) -> StoreResult<u64> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = windows.len();
        windows.retain(|_, (start, _)| *start >= window_start);
        Ok((before - windows.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[tokio::test]
    async fn hits_are_counted_per_key_and_window() {
        let store = MemoryRateLimitStore::new();
        let w1 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        let w2 = w1 + Duration::seconds(60);
        assert_eq!(store.hit("login:a", w1).await.unwrap(), 1);
        assert_eq!(store.hit("login:a", w1).await.unwrap(), 2);
        assert_eq!(store.hit("login:b", w1).await.unwrap(), 1);
        assert_eq!(store.hit("register:a", w1).await.unwrap(), 1);
        assert_eq!(
            store.hit("login:a", w2).await.unwrap(),
            1,
            "a new window starts afresh"
        );
    }

    #[tokio::test]
    async fn windows_ended_hours_ago_are_swept_when_the_map_grows() {
        let store = MemoryRateLimitStore::new();
        let w1 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        for i in 0..SWEEP_ABOVE {
            store.hit(&format!("k{i}"), w1).await.unwrap();
        }
        // An hour on, they are kept: the hourly mail budgets still read them.
        let hour_on = w1 + Duration::hours(1);
        store.hit("fresh", hour_on).await.unwrap();
        assert_eq!(store.count("k0", w1).await.unwrap(), 1);
        store
            .hit("later", w1 + Duration::hours(2) + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(store.windows.lock().unwrap().len(), 2, "fresh and later");
    }
}
