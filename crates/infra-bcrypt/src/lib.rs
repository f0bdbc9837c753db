//! The password hasher: bcrypt, run on tokio's blocking pool so that hashing never stalls the
//! async workers, with at most a fixed number of hashes at once so that a login flood cannot take
//! every core, and a bounded queue behind them so that a flood is shed instead of piling up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use domain::{DomainError, PasswordHasher};
use tokio::sync::Semaphore;

pub const MIN_COST: u32 = 4;
pub const MAX_COST: u32 = 31;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BcryptConfigError {
    #[error("bcrypt cost {0} is out of range {MIN_COST}..={MAX_COST}")]
    CostOutOfRange(u32),
    #[error("at least one hash must be allowed to run at once")]
    NoConcurrency,
}

/// Counts the hashes running or waiting, and turns away those beyond the limit.
struct Admission {
    limit: usize,
    admitted: AtomicUsize,
}

/// A place in the admission; given back on drop.
struct Admitted<'a>(&'a Admission);

impl Admission {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            admitted: AtomicUsize::new(0),
        }
    }

    fn try_enter(&self) -> Option<Admitted<'_>> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Admitted(self))
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    admission: Arc<Admission>,
}

impl BcryptHasher {
    /// `max_concurrent`: how many hashes may run at once; `max_queued`: how many more may wait
    /// for a turn. Beyond both, a hash is refused with `DomainError::Overloaded`.
    pub fn new(
        cost: u32,
        max_concurrent: usize,
        max_queued: usize,
    ) -> Result<Self, BcryptConfigError> {
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(BcryptConfigError::CostOutOfRange(cost));
        }
        if max_concurrent == 0 {
            return Err(BcryptConfigError::NoConcurrency);
        }
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            admission: Arc::new(Admission::new(max_concurrent + max_queued)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        let Some(_admitted) = self.admission.try_enter() else {
            tracing::warn!("password hashing queue full; request shed");
            return Err(DomainError::Overloaded);
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DomainError::Internal("the hashing semaphore is closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| DomainError::Internal(format!("the hashing task failed: {err}")))
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &str) -> Result<String, DomainError> {
        let (password, cost) = (password.to_owned(), self.cost);
        self.run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(|err| DomainError::Internal(format!("cannot hash a password: {err}")))
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, DomainError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        // An unreadable hash verifies nothing; it is not the caller's error.
        Ok(self
            .run(move || bcrypt::verify(password, &hash))
            .await?
            .unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = BcryptHasher::new(4, 2, 0).unwrap();
        let hash = hasher.hash("password1").await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(!hash.contains("password1"));
        assert!(hasher.verify("password1", &hash).await.unwrap());
        assert!(!hasher.verify("password2", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn an_unreadable_hash_verifies_nothing() {
        let hasher = BcryptHasher::new(4, 1, 0).unwrap();
        assert!(!hasher.verify("password1", "not-a-hash").await.unwrap());
        assert!(!hasher.verify("password1", "").await.unwrap());
    }

    #[tokio::test]
    async fn the_configured_cost_is_used() {
        let hasher = BcryptHasher::new(5, 1, 0).unwrap();
        assert!(
            hasher
                .hash("password1")
                .await
                .unwrap()
                .starts_with("$2b$05$")
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert_eq!(
            BcryptHasher::new(3, 1, 0).err(),
            Some(BcryptConfigError::CostOutOfRange(3))
        );
        assert_eq!(
            BcryptHasher::new(32, 1, 0).err(),
            Some(BcryptConfigError::CostOutOfRange(32))
        );
        assert_eq!(
            BcryptHasher::new(10, 0, 5).err(),
            Some(BcryptConfigError::NoConcurrency)
        );
    }

    #[test]
    fn admission_turns_away_what_is_beyond_the_limit_and_takes_it_back_on_drop() {
        let admission = Admission::new(2);
        let first = admission.try_enter();
        let second = admission.try_enter();
        assert!(first.is_some() && second.is_some());
        assert!(admission.try_enter().is_none(), "full");
        drop(first);
        assert!(admission.try_enter().is_some(), "a place came free");
    }

    #[tokio::test]
    async fn a_full_hasher_sheds_work_with_overloaded() {
        let hasher = BcryptHasher::new(4, 1, 0).unwrap();
        // Hold the only place, as a running hash would.
        let _busy = hasher.admission.try_enter().unwrap();
        assert_eq!(hasher.hash("password1").await, Err(DomainError::Overloaded));
        assert_eq!(
            hasher.verify("password1", "x").await,
            Err(DomainError::Overloaded)
        );
    }
}
