//! auth-api's public keys, fetched from its JWKS URL and kept in memory, so that verifying a
//! token costs no request to auth-api.
//!
//! The set is fetched again when it is older than auth-api's `max-age`, and when a token names a
//! `kid` the cached set lacks (a rotation this service has not seen yet). That second kind of
//! fetch happens at most once per `REFETCH_FLOOR`: anyone can make up kids, and they must not be
//! able to turn this service into a flood against auth-api. Fetches on schedule (the first one
//! too) do not start that wait, so a rotation right after start is seen at once. A failed fetch
//! is not retried sooner either, and meanwhile the last set fetched keeps verifying.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use tokio::sync::Mutex;

/// auth-api serves its set with `Cache-Control: public, max-age=300`.
const MAX_AGE: Duration = Duration::from_secs(300);
/// The least time between two fetches that an unknown kid or a failure caused.
const REFETCH_FLOOR: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum KeyError {
    /// No key has this kid, even after the refetch it was allowed (or while refetches wait).
    UnknownKid,
    /// No set could be fetched yet: auth-api is unreachable or answers nonsense.
    Unavailable,
}

struct Fetched {
    set: JwkSet,
    at: Instant,
}

pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    /// The last set fetched: every request reads it, a fetch replaces it.
    fetched: RwLock<Option<Fetched>>,
    /// Held by the one request that fetches (a burst of tokens with a new kid fetches once);
    /// it guards the moment before which no unscheduled fetch may start.
    next_refetch: Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(url: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // A hung auth-api must not hold requests (and the fetch lock) for long.
            .timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            url,
            http,
            fetched: RwLock::new(None),
            next_refetch: Mutex::new(None),
        })
    }

    /// The key named `kid`, from the cached set while it is fresh, else after a fetch.
    pub async fn key(&self, kid: &str) -> Result<Jwk, KeyError> {
        if let Some(jwk) = self.cached(kid, true) {
            return Ok(jwk);
        }
        let mut next_refetch = self.next_refetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(jwk) = self.cached(kid, true) {
            return Ok(jwk);
        }
        // Stale: a fetch on schedule. Fresh: this kid is unknown, a refetch under the floor.
        let stale = self.age().is_none_or(|age| age >= MAX_AGE);
        if next_refetch.is_none_or(|at| Instant::now() >= at) {
            match self.fetch().await {
                Ok(()) if stale => {}
                Ok(()) => *next_refetch = Some(Instant::now() + REFETCH_FLOOR),
                Err(err) => {
                    tracing::warn!(url = %self.url, "cannot fetch auth-api's key set: {err:#}");
                    *next_refetch = Some(Instant::now() + REFETCH_FLOOR);
                }
            }
        }
        // Whatever the set is now (a stale one too, when auth-api cannot be reached).
        match self.cached(kid, false) {
            Some(jwk) => Ok(jwk),
            None if self.age().is_none() => Err(KeyError::Unavailable),
            None => Err(KeyError::UnknownKid),
        }
    }

    /// Fetches the set once at start, so that a wrong URL shows in the log at once.
    pub async fn prefetch(&self) {
        let _guard = self.next_refetch.lock().await;
        if let Err(err) = self.fetch().await {
            tracing::warn!(url = %self.url, "cannot fetch auth-api's key set yet: {err:#}");
        }
    }

    async fn fetch(&self) -> anyhow::Result<()> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("not a JWK set")?;
        let kids: Vec<&str> = set
            .keys
            .iter()
            .filter_map(|jwk| jwk.common.key_id.as_deref())
            .collect();
        tracing::info!(?kids, "fetched auth-api's key set");
        *self.fetched.write().unwrap_or_else(PoisonError::into_inner) = Some(Fetched {
            set,
            at: Instant::now(),
        });
        Ok(())
    }

    fn cached(&self, kid: &str, fresh_only: bool) -> Option<Jwk> {
        let fetched = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        let fetched = fetched.as_ref()?;
        if fresh_only && fetched.at.elapsed() >= MAX_AGE {
            return None;
        }
        fetched.set.find(kid).cloned()
    }

    fn age(&self) -> Option<Duration> {
        let fetched = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        fetched.as_ref().map(|fetched| fetched.at.elapsed())
    }
}
