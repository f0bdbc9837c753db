//! Access tokens already verified, by their exact text. A client sends the same access token
//! with every request until it expires, and neither its signature nor its claims can change, so
//! checking them again (a signature check and two JSON parses: most of an authenticated request's own CPU)
//! is waste. The domain still judges expiry and the session on every request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use domain::Claims;

/// Beyond this many tokens the cache starts over rather than grow without bound.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Claims>>,
}

impl VerifiedTokens {
    pub(crate) fn get(&self, token: &str) -> Option<Claims> {
        self.lock().get(token).cloned()
    }

    /// Only for tokens whose signature was checked with this keyring's keys.
    pub(crate) fn remember(&self, token: &str, claims: &Claims) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token.into(), claims.clone());
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Claims>> {
        // A map is whole after any panic: nothing here can leave it half-written.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
