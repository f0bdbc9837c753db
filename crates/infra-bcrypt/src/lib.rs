//! The password hasher: bcrypt, run on tokio's blocking pool so that hashing never stalls the
//! async workers, with at most a fixed number of hashes at once so that a login flood cannot take
//! every core.

use std::sync::Arc;

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

#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    permits: Arc<Semaphore>,
}

impl BcryptHasher {
    /// `max_concurrent`: how many hashes may run at once; the rest wait their turn.
    pub fn new(cost: u32, max_concurrent: usize) -> Result<Self, BcryptConfigError> {
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(BcryptConfigError::CostOutOfRange(cost));
        }
        if max_concurrent == 0 {
            return Err(BcryptConfigError::NoConcurrency);
        }
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DomainError> {
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
        let hasher = BcryptHasher::new(4, 2).unwrap();
        let hash = hasher.hash("password1").await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(!hash.contains("password1"));
        assert!(hasher.verify("password1", &hash).await.unwrap());
        assert!(!hasher.verify("password2", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn an_unreadable_hash_verifies_nothing() {
        let hasher = BcryptHasher::new(4, 1).unwrap();
        assert!(!hasher.verify("password1", "not-a-hash").await.unwrap());
        assert!(!hasher.verify("password1", "").await.unwrap());
    }

    #[tokio::test]
    async fn the_configured_cost_is_used() {
        let hasher = BcryptHasher::new(5, 1).unwrap();
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
            BcryptHasher::new(3, 1).err(),
            Some(BcryptConfigError::CostOutOfRange(3))
        );
        assert_eq!(
            BcryptHasher::new(32, 1).err(),
            Some(BcryptConfigError::CostOutOfRange(32))
        );
        assert_eq!(
            BcryptHasher::new(10, 0).err(),
            Some(BcryptConfigError::NoConcurrency)
        );
    }
}
