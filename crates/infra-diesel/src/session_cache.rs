//! Session lookups remembered in memory. Every authenticated request looks its session up; on
//! SQLite that lookup is most of the request's cost (a hand-off to a database thread and a read
//! transaction), while the answer changes only when something is written.
//!
//! Sound only where this process is the database's only server (see `DieselStore::
//! cache_sessions`): every write through the store forgets what it may have made stale (its
//! session, every session of its user, or everything) once it has committed, and a lookup that
//! raced any write is not remembered, so a revocation is seen by the next request.
//! Entries also age out after `FRESH_FOR`, which bounds how long a command-line tool's change
//! made beside the server (`create-admin` promoting an existing user) goes unseen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::{Session, User};
use uuid::Uuid;

/// Beyond this many sessions the cache starts over rather than grow without bound.
const CAPACITY: usize = 10_000;
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct SessionCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Counts writes: a lookup read before a write must not be stored after it.
    generation: u64,
    entries: HashMap<Uuid, (Instant, (Session, User))>,
}

/// What a write may have changed of the lookups' answers.
#[derive(Clone, Copy, Debug)]
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
    /// The remembered session and user, or a ticket to remember them once read.
    pub(crate) fn get(&self, id: Uuid) -> Result<(Session, User), Ticket> {
        let state = self.lock();
        match state.entries.get(&id) {
            Some((at, found)) if at.elapsed() < FRESH_FOR => Ok(found.clone()),
            _ => Err(Ticket(state.generation)),
        }
    }

    /// Remembers a lookup's answer unless a write happened since its ticket was taken.
    pub(crate) fn remember(&self, ticket: Ticket, id: Uuid, found: &(Session, User)) {
        let mut state = self.lock();
        if state.generation != ticket.0 {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(id, (Instant::now(), found.clone()));
    }

    /// Called after every write, committed or not.
    pub(crate) fn forget(&self, stale: Stale) {
        let mut state = self.lock();
        match stale {
            Stale::Nothing => return,
            Stale::Session(id) => {
                state.entries.remove(&id);
            }
            Stale::User(user_id) => state
                .entries
                .retain(|_, (_, (session, _))| session.user_id != user_id),
            Stale::Everything => state.entries.clear(),
        }
        state.generation += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is valid after any panic: each operation leaves it whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let cache = SessionCache::default();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        cache.remember(ticket, id, &value);
        assert_eq!(cache.get(id).ok(), Some(value));
        cache.forget(Stale::Session(id));
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn a_users_write_forgets_all_their_sessions_and_no_one_elses() {
        let cache = SessionCache::default();
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
        let cache = SessionCache::default();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        // Any write, even one about another session.
        cache.forget(Stale::Session(Uuid::new_v4()));
        cache.remember(ticket, id, &value);
        assert!(cache.get(id).is_err());
    }
}
