//! Session lookups remembered in memory. Every authenticated request looks its session up; on
//! SQLite that lookup is most of the request's cost (a hand-off to a database thread and a read
//! transaction), while the answer changes only when something is written.
//!
//! Sound only where this process is the database's only server (see `DieselStore::
//! cache_sessions`): every write through the store empties the cache once it has committed, and
//! a lookup that raced a write is not remembered, so a revocation is seen by the next request.
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

    /// Forgets everything: called after every write, committed or not.
    pub(crate) fn invalidate(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.entries.clear();
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
    use chrono::{TimeZone, Utc};
    use domain::Role;

    use super::*;

    fn found() -> (Uuid, (Session, User)) {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        let user = User {
            id: Uuid::new_v4(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            name: None,
            role: Role::User,
            is_active: true,
            password_hash: "$2b$04$hash".into(),
            locked_until: None,
            created_at: at,
            updated_at: at,
        };
        let session = Session {
            id: Uuid::new_v4(),
            user_id: user.id,
            refresh_jti: Uuid::new_v4(),
            previous_refresh_jti: None,
            rotated_at: None,
            created_at: at,
            last_used_at: at,
            expires_at: at,
            revoked_at: None,
            user_agent: None,
            ip: None,
        };
        (session.id, (session, user))
    }

    #[test]
    fn a_remembered_lookup_is_answered_until_the_next_write() {
        let cache = SessionCache::default();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        cache.remember(ticket, id, &value);
        assert_eq!(cache.get(id).ok(), Some(value));
        cache.invalidate();
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn a_lookup_that_raced_a_write_is_not_remembered() {
        let cache = SessionCache::default();
        let (id, value) = found();
        let ticket = cache.get(id).unwrap_err();
        cache.invalidate();
        cache.remember(ticket, id, &value);
        assert!(cache.get(id).is_err());
    }
}
