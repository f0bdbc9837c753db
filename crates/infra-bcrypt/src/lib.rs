//! The password hasher: bcrypt, run on tokio's blocking pool so that hashing never stalls the
//! async workers, with at most a fixed number of hashes at once so that a login flood cannot take
//! every core, and a bounded queue behind them so that a flood is shed instead of piling up.
//!
//! Timing: a wrong password checked against a hash of another cost than the configured one
//! (an account not yet rehashed after the cost was raised) is answered only after as long as a
//! verify at the configured cost takes here, measured on this machine; see `verify`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{DomainError, PasswordHasher};
use tokio::sync::Semaphore;

pub const MIN_COST: u32 = 4;
/// What bcrypt reads of a password; the rest it ignores.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MAX_COST: u32 = 31;

/// A bcrypt cost bcrypt accepts (each step doubles the work); configuration reads it as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(try_from = "u32")]
pub struct Cost(u32);

impl Cost {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Cost {
    type Error = String;

    fn try_from(cost: u32) -> Result<Self, String> {
        if (MIN_COST..=MAX_COST).contains(&cost) {
            Ok(Cost(cost))
        } else {
            Err(format!(
                "bcrypt cost {cost} is out of range {MIN_COST}..={MAX_COST}"
            ))
        }
    }
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

/// How long one bcrypt run at the configured cost takes here: a moving average of the runs
/// measured, in nanoseconds (0: none measured yet).
#[derive(Default)]
struct CostTimer(AtomicU64);

impl CostTimer {
    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// Folds one measured run in (weight 1/8, so that one slow run under load moves it little).
    fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 8 + took / 8
                })
            });
    }
}

/// The cost a bcrypt hash was made with; `None` if it is not a bcrypt hash.
fn cost_of(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>()
        .ok()
        .map(|parts| parts.get_cost())
}

#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    admission: Arc<Admission>,
    timer: Arc<CostTimer>,
}

impl BcryptHasher {
    /// `max_concurrent`: how many hashes may run at once; `max_queued`: how many more may wait
    /// for a turn. Beyond both, a hash is refused with `DomainError::Overloaded`.
    pub fn new(cost: Cost, max_concurrent: NonZeroUsize, max_queued: usize) -> Self {
        Self {
            cost: cost.get(),
            permits: Arc::new(Semaphore::new(max_concurrent.get())),
            admission: Arc::new(Admission::new(max_concurrent.get() + max_queued)),
            timer: Arc::default(),
        }
    }

    /// Runs `work` and, when it ran at the configured cost, records how long it took.
    async fn run_timed<T: Send + 'static>(
        &self,
        at_configured_cost: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, Duration), DomainError> {
        let (result, took) = self
            .run(move || {
                let started = Instant::now();
                let result = work();
                (result, started.elapsed())
            })
            .await?;
        if at_configured_cost {
            self.timer.record(took);
        }
        Ok((result, took))
    }

    /// How long a run at the configured cost takes; measured once by hashing if nothing has
    /// measured it yet.
    async fn configured_run_time(&self) -> Result<Duration, DomainError> {
        if let Some(known) = self.timer.get() {
            return Ok(known);
        }
        self.hash("calibration only 1").await?;
        Ok(self.timer.get().unwrap_or_default())
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
        self.run_timed(true, move || bcrypt::hash(password, cost))
            .await?
            .0
            .map_err(|err| DomainError::Internal(format!("cannot hash a password: {err}")))
    }

    /// A `false` for a hash of another cost is held back until a run at the configured cost
    /// would have ended: after the cost is raised, a wrong password for an account with an old
    /// cheap hash must not answer faster than one for any other account. (A hash dearer than
    /// the configured cost, after the cost was lowered, still takes its own longer time.)
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, DomainError> {
        let at_configured_cost = cost_of(hash) == Some(self.cost);
        // bcrypt reads 72 bytes and ignores the rest, so a longer password would match on its
        // prefix: it never matches (it was never accepted), after the same work.
        let readable = password.len() <= MAX_PASSWORD_BYTES;
        let (password, hash) = (password.to_owned(), hash.to_owned());
        let (verdict, took) = self
            .run_timed(at_configured_cost, move || bcrypt::verify(password, &hash))
            .await?;
        // An unreadable hash verifies nothing; it is not the caller's error.
        let matches = readable && verdict.unwrap_or(false);
        if !matches && !at_configured_cost {
            let owed = self.configured_run_time().await?.saturating_sub(took);
            tokio::time::sleep(owed).await;
        }
        Ok(matches)
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        cost_of(hash) != Some(self.cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hasher at `cost` that runs `concurrent` hashes at once and queues `queued` more.
    fn hasher_at(cost: u32, concurrent: usize, queued: usize) -> BcryptHasher {
        BcryptHasher::new(
            Cost::try_from(cost).unwrap(),
            NonZeroUsize::new(concurrent).unwrap(),
            queued,
        )
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher_at(4, 2, 0);
        let hash = hasher.hash("password1").await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(!hash.contains("password1"));
        assert!(hasher.verify("password1", &hash).await.unwrap());
        assert!(!hasher.verify("password2", &hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_password_longer_than_bcrypt_reads_never_matches() {
        let hasher = hasher_at(4, 1, 0);
        let long = format!("password1{}", "x".repeat(70));
        let hash = hasher.hash(&long).await.unwrap();
        assert!(!hasher.verify(&long, &hash).await.unwrap());
        // bcrypt itself would take it: the first 72 bytes match.
        assert!(bcrypt::verify(&long, &hash).unwrap());
    }

    #[tokio::test]
    async fn an_unreadable_hash_verifies_nothing() {
        let hasher = hasher_at(4, 1, 0);
        assert!(!hasher.verify("password1", "not-a-hash").await.unwrap());
        assert!(!hasher.verify("password1", "").await.unwrap());
    }

    #[tokio::test]
    async fn the_configured_cost_is_used() {
        let hasher = hasher_at(5, 1, 0);
        assert!(
            hasher
                .hash("password1")
                .await
                .unwrap()
                .starts_with("$2b$05$")
        );
    }

    #[tokio::test]
    async fn only_hashes_of_another_cost_need_a_rehash() {
        let hasher = hasher_at(5, 1, 0);
        let old = hasher_at(4, 1, 0);
        assert!(!hasher.needs_rehash(&hasher.hash("password1").await.unwrap()));
        assert!(hasher.needs_rehash(&old.hash("password1").await.unwrap()));
        assert!(hasher.needs_rehash("not-a-hash"));
    }

    #[tokio::test]
    async fn a_wrong_password_for_a_cheaper_hash_takes_as_long_as_the_configured_cost() {
        let hasher = hasher_at(10, 1, 0);
        let current = hasher.hash("password1").await.unwrap();
        let cheap = hasher_at(4, 1, 0).hash("password1").await.unwrap();
        let time = |hash: String| {
            let hasher = hasher.clone();
            async move {
                let started = Instant::now();
                assert!(!hasher.verify("wrong1234", &hash).await.unwrap());
                started.elapsed()
            }
        };
        let (configured, old) = (time(current).await, time(cheap.clone()).await);
        let ratio = old.as_secs_f64() / configured.as_secs_f64();
        assert!(
            (0.7..1.5).contains(&ratio),
            "{old:?} for the cheap hash against {configured:?}"
        );
        // The right password is not held back: the login goes on and rehashes.
        let started = Instant::now();
        assert!(hasher.verify("password1", &cheap).await.unwrap());
        assert!(started.elapsed() < configured / 2);
    }

    #[test]
    fn only_costs_bcrypt_accepts_are_costs() {
        assert!(Cost::try_from(3).is_err());
        assert!(Cost::try_from(32).is_err());
        assert_eq!(Cost::try_from(4).map(Cost::get), Ok(4));
        assert_eq!(Cost::try_from(31).map(Cost::get), Ok(31));
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
        let hasher = hasher_at(4, 1, 0);
        // Hold the only place, as a running hash would.
        let _busy = hasher.admission.try_enter().unwrap();
        assert_eq!(hasher.hash("password1").await, Err(DomainError::Overloaded));
        assert_eq!(
            hasher.verify("password1", "x").await,
            Err(DomainError::Overloaded)
        );
    }
}
