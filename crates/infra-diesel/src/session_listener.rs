//! Hears of other replicas' writes on PostgreSQL. A trigger on `sessions`, `users` and
//! `login_throttles` (migration `notify_session_changes`) sends a notice on commit naming what
//! changed; this thread, on a connection of its own, makes the session cache forget it.
//!
//! How long another replica may still accept a revoked session: the time PostgreSQL takes to
//! deliver the notice plus `POLL` while the channel is whole. The channel is vouched for by a
//! round trip every `BEAT`, and believed for `TRUST_FOR` from when that round trip was sent: a
//! connection that closes is noticed at the next poll, one that goes silent stops being believed
//! within `TRUST_FOR`. Either way the cache answers nothing until the listener is back, has
//! forgotten everything, and vouches again.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, ConnectionError, PgConnection};
use uuid::Uuid;

use crate::session_cache::{SessionCache, Stale};

pub(crate) const CHANNEL: &str = "auth_session_changes";
/// How often waiting notices are read.
const POLL: Duration = Duration::from_millis(2);
/// How often the channel proves it is whole.
const BEAT: Duration = Duration::from_millis(20);
/// How long one proof is believed: several beats, so a busy database does not switch the
/// cache off, and short enough that a silent loss is within the revocation bound.
const TRUST_FOR: Duration = Duration::from_millis(80);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How the listener's connection shows in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "auth-api session listener";

/// Starts the listener thread; it ends soon after the cache is dropped.
pub(crate) fn spawn(url: String, cache: &Arc<SessionCache>) -> std::io::Result<()> {
    let cache = Arc::downgrade(cache);
    std::thread::Builder::new()
        .name("db-listen".into())
        .spawn(move || listen(&url, &cache))
        .map(drop)
}

fn listen(url: &str, cache: &Weak<SessionCache>) {
    let mut retry = FIRST_RETRY;
    let mut lost = false;
    while cache.strong_count() > 0 {
        match connect(url) {
            Ok(mut conn) => {
                if lost {
                    tracing::info!("session changes are heard again; session lookups are cached");
                }
                retry = FIRST_RETRY;
                let Err(err) = serve(&mut conn, cache) else {
                    return;
                };
                if let Some(cache) = cache.upgrade() {
                    cache.deafen();
                }
                tracing::warn!(error = %err, "lost the channel of session changes; every session lookup asks the database until it is back");
                lost = true;
            }
            Err(err) if !lost => {
                tracing::warn!(error = %err, "cannot listen for session changes; every session lookup asks the database until it can");
                lost = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(retry);
        retry = (retry * 2).min(LAST_RETRY);
    }
}

fn connect(url: &str) -> Result<PgConnection, ConnectionError> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL};"
    ))
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Applies notices until the channel breaks (an error) or the cache is gone (`Ok`).
fn serve(conn: &mut PgConnection, cache: &Weak<SessionCache>) -> diesel::QueryResult<()> {
    // Anything written before LISTEN took effect was never heard of.
    if let Some(cache) = cache.upgrade() {
        cache.forget(Stale::Everything);
    }
    let mut last_beat: Option<Instant> = None;
    loop {
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        if last_beat.is_none_or(|at| at.elapsed() >= BEAT) {
            let sent = Instant::now();
            conn.batch_execute("SELECT 1")?;
            // Notices committed before the round trip arrived before its answer.
            apply_waiting(conn, &cache)?;
            cache.vouch(sent + TRUST_FOR);
            last_beat = Some(sent);
        } else {
            apply_waiting(conn, &cache)?;
        }
        drop(cache);
        std::thread::sleep(POLL);
    }
}

fn apply_waiting(conn: &mut PgConnection, cache: &SessionCache) -> diesel::QueryResult<()> {
    for notice in conn.notifications_iter() {
        cache.forget(stale_of(&notice?.payload));
    }
    Ok(())
}

/// What a notice says changed: `s:<session id>`, `u:<user id>` or `*`; anything else
/// (a notice this version does not know) forgets everything.
fn stale_of(payload: &str) -> Stale {
    let id = |text: &str| Uuid::parse_str(text).ok();
    match payload.split_once(':') {
        Some(("s", session)) => id(session).map_or(Stale::Everything, Stale::Session),
        Some(("u", user)) => id(user).map_or(Stale::Everything, Stale::User),
        _ => Stale::Everything,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_a_session_a_user_or_everything() {
        let id = Uuid::new_v4();
        assert_eq!(stale_of(&format!("s:{id}")), Stale::Session(id));
        assert_eq!(stale_of(&format!("u:{id}")), Stale::User(id));
        assert_eq!(stale_of("*"), Stale::Everything);
        assert_eq!(stale_of("s:not-a-uuid"), Stale::Everything);
        assert_eq!(stale_of("x:whatever"), Stale::Everything);
        assert_eq!(stale_of(""), Stale::Everything);
    }
}
