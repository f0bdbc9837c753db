//! Session lookups remembered in memory. Every authenticated request looks its session up; that
//! lookup is most of the request's cost (a hand-off to a database thread and a query), while the
//! answer changes only when something is written.
//!
//! Every write through this store forgets what it may have made stale (its session, every
//! session of its user, or everything) once it has committed, and a lookup that raced any write
//! is not remembered, so this process sees its own writes at once. Writes by anyone else are
//! covered by the cache's trust:
//! - SQLite (`Trust::SoleServer`): this process is the file's only server (see `DieselStore::
//!   cache_sessions`); entries age out after `FRESH_FOR`, which bounds how long a command-line
//!   tool's change made beside the server (`create-admin` promoting a user) goes unseen.
//! - PostgreSQL (`Trust::Listening`): other replicas write too. A listener (`session_listener`)
//!   forgets what their writes name, as PostgreSQL tells it, and vouches for the channel after
//!   every round trip on it; the cache answers only while that vouch holds, and asks the
//!   database for every lookup while the channel is down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::{Session, User};
use uuid::Uuid;

/// Beyond this many sessions the cache starts over rather than grow without bound.
const CAPACITY: usize = 10_000;
const FRESH_FOR: Duration = Duration::from_secs(1);

pub(crate) struct SessionCache {
    state: Mutex<State>,
}

struct State {
    trust: Trust,
    /// Counts writes: a lookup read before a write must not be stored after it.
    generation: u64,
    entries: HashMap<Uuid, (Instant, (Session, User))>,
}

/// Why the remembered answers may be believed.
#[derive(Clone, Copy)]
enum Trust {
    /// No one else writes.
    SoleServer,
    /// Every write of others until `until` has been heard of.
    Listening { until: Instant },
    /// Others' writes may be missed: remember nothing, answer nothing.
    Deaf,
}

/// What a write may have changed of the lookups' answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stale {
    /// Tables lookups never read (rate limits, the audit log), or a new user.
    Nothing,
    Session(Uuid),
    /// The user's row, its failed-login lock, or all its sessions.
    User(Uuid),
    Everything,
}

/// What a lookup needs to store its answer: the generation it started in.
#[derive(Clone, Copy)]
pub(crate) struct Ticket(u64);

impl SessionCache {
    /// For the only server of a database.
    pub(crate) fn sole_server() -> Self {
        Self::with(Trust::SoleServer)
    }

    /// For one of several servers: deaf until a listener vouches for it.
    pub(crate) fn listening() -> Self {
        Self::with(Trust::Deaf)
    }

    fn with(trust: Trust) -> Self {
        Self {
            state: Mutex::new(State {
                trust,
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// The remembered session and user, or a ticket to remember them once read.
    pub(crate) fn get(&self, id: Uuid) -> Result<(Session, User), Ticket> {
        let state = self.lock();
        match state.entries.get(&id) {
            Some((at, found)) if at.elapsed() < FRESH_FOR && state.trusted() => Ok(found.clone()),
            _ => Err(Ticket(state.generation)),
        }
    }

    /// Remembers a lookup's answer unless a write happened since its ticket was taken.
    pub(crate) fn remember(&self, ticket: Ticket, id: Uuid, found: &(Session, User)) {
        let mut state = self.lock();
        if state.generation != ticket.0 || !state.trusted() {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(id, (Instant::now(), found.clone()));
    }

    /// Called after every write, committed or not, and for every write another server made.
    pub(crate) fn forget(&self, stale: Stale) {
        let mut state = self.lock();
        state.forget(stale);
    }

    /// Every write of others committed before `heard_at` has been forgotten: answers may be
    /// believed until `until`.
    pub(crate) fn vouch(&self, until: Instant) {
        let mut state = self.lock();
        if let Trust::Listening { .. } | Trust::Deaf = state.trust {
            state.trust = Trust::Listening { until };
        }
    }

    /// Others' writes may have been missed: forget everything and answer nothing until vouched.
    pub(crate) fn deafen(&self) {
        let mut state = self.lock();
        state.trust = Trust::Deaf;
        state.forget(Stale::Everything);
    }

    /// Whether lookups may be answered from memory now.
    pub(crate) fn trusted(&self) -> bool {
        self.lock().trusted()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is valid after any panic: each operation leaves it whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn trusted(&self) -> bool {
        match self.trust {
            Trust::SoleServer => true,
            Trust::Listening { until } => Instant::now() < until,
            Trust::Deaf => false,
        }
    }

    fn forget(&mut self, stale: Stale) {
        match stale {
            Stale::Nothing => return,
            Stale::Session(id) => {
                self.entries.remove(&id);
            }
            Stale::User(user_id) => self
                .entries
                .retain(|_, (_, (session, _))| session.user_id != user_id),
            Stale::Everything => self.entries.clear(),
        }
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::contract::{session, user};

    use super::*;

    fn found() -> (Uuid, (Session, User)) {
        let alice = user("alice");
        let session = session(&alice, Utc::now());
        (session.id, (session, alice))
    }

    #[test]
    fn a_remembered_lookup_is_answered_until_the_next_write() {
        let cache = SessionCache::sole_server();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        cache.remember(ticket, id, &value);
        assert_eq!(cache.get(id).ok(), Some(value));
        cache.forget(Stale::Session(id));
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn a_users_write_forgets_all_their_sessions_and_no_one_elses() {
        let cache = SessionCache::sole_server();
        let (alices, alice) = found();
        let (bobs, bob) = found();
        let alice_id = alice.1.id;
        let alices_other = session(&alice.1, Utc::now());
        for (id, value) in [
            (alices, alice.clone()),
            (bobs, bob.clone()),
            (alices_other.id, (alices_other.clone(), alice.1.clone())),
        ] {
            let ticket = cache.get(id).unwrap_err();
            cache.remember(ticket, id, &value);
        }
        cache.forget(Stale::User(alice_id));
        assert!(cache.get(alices).is_err());
        assert!(cache.get(alices_other.id).is_err());
        assert_eq!(cache.get(bobs).ok(), Some(bob));
        cache.forget(Stale::Everything);
        assert!(cache.get(bobs).is_err());
    }

    #[test]
    fn a_lookup_that_raced_a_write_is_not_remembered() {
        let cache = SessionCache::sole_server();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        // Any write, even one about another session.
        cache.forget(Stale::Session(Uuid::new_v4()));
        cache.remember(ticket, id, &value);
        assert!(cache.get(id).is_err());
    }

    fn remembered(cache: &SessionCache) -> (Uuid, (Session, User)) {
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        cache.remember(ticket, id, &value);
        (id, value)
    }

    #[test]
    fn a_listening_cache_answers_only_while_vouched_for() {
        let cache = SessionCache::listening();
        let (id, _) = remembered(&cache);
        assert!(cache.get(id).is_err(), "deaf: nothing is remembered");

        cache.vouch(Instant::now() + Duration::from_secs(60));
        let (id, value) = remembered(&cache);
        assert_eq!(cache.get(id).ok(), Some(value.clone()));

        // The vouch ran out (the listener stalled): the entry is kept but not believed.
        cache.vouch(Instant::now());
        assert!(cache.get(id).is_err());
        assert!(!cache.trusted());
        cache.vouch(Instant::now() + Duration::from_secs(60));
        assert_eq!(cache.get(id).ok(), Some(value));
    }

    #[test]
    fn deafness_forgets_everything_and_voids_lookups_in_flight() {
        let cache = SessionCache::listening();
        cache.vouch(Instant::now() + Duration::from_secs(60));
        let (id, value) = remembered(&cache);
        let (other, other_value) = found();
        let ticket = cache.get(other).unwrap_err();

        cache.deafen();
        assert!(cache.get(id).is_err());
        cache.vouch(Instant::now() + Duration::from_secs(60));
        assert!(cache.get(id).is_err(), "forgotten, not only hidden");
        cache.remember(ticket, other, &other_value);
        assert!(
            cache.get(other).is_err(),
            "read before the channel was lost"
        );
        let ticket = cache.get(id).unwrap_err();
        cache.remember(ticket, id, &value);
        assert_eq!(cache.get(id).ok(), Some(value));
    }

    #[test]
    fn the_sole_server_is_always_believed() {
        let cache = SessionCache::sole_server();
        cache.vouch(Instant::now());
        let (id, value) = remembered(&cache);
        assert_eq!(cache.get(id).ok(), Some(value));
    }
}
