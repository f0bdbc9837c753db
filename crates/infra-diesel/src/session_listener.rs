//! Hears of other replicas' writes on PostgreSQL. Triggers on `sessions`, `users` and
//! `login_throttles` (migration `notify_session_changes`) send a notice on commit naming what
//! changed; this thread, on a connection of its own, makes the session cache forget it.
//!
//! How long another replica may still accept a revoked session: the time PostgreSQL takes to
//! deliver the notice plus `POLL`, while the channel is whole. Whole means proven: every `BEAT`
//! the listener notifies a channel of its own and, when that notice comes back, every notice
//! committed before it has come back too (PostgreSQL delivers notices in commit order), so the
//! cache is believed for `TRUST_FOR` from when the beat was sent. Every `TRIGGER_CHECK` it also
//! checks that all the triggers are there and enabled (a replica started before `migrate`, or
//! triggers disabled by hand, would otherwise be trusted with no one telling it anything).
//! A connection that closes is noticed at the next poll; a beat not back within `LOST_AFTER`,
//! a failed statement, or a missing trigger makes the cache deaf (every lookup asks the
//! database) until the listener has reconnected, forgotten everything and been proven again.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, ConnectionError, PgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::session_cache::{SessionCache, Stale};

const CHANNEL: &str = "auth_session_changes";
/// How often waiting notices are read.
const POLL: Duration = Duration::from_millis(2);
/// How often the channel proves it is whole.
const BEAT: Duration = Duration::from_millis(20);
/// How long one proof is believed: several beats, so a busy database does not switch the
/// cache off, and short enough that a silent loss stays within the revocation bound.
const TRUST_FOR: Duration = Duration::from_millis(80);
/// A beat not back by then: the channel is treated as lost and made anew.
const LOST_AFTER: Duration = Duration::from_secs(1);
const TRIGGER_CHECK: Duration = Duration::from_secs(1);
/// The triggers of the migration, each enabled `ALWAYS`.
const TRIGGERS: i64 = 9;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// How the listener's connection shows in `pg_stat_activity`.
const APPLICATION_NAME: &str = "auth-api session listener";

/// Starts the listener thread; it ends soon after the cache is dropped.
pub(crate) fn spawn(url: &str, cache: &Arc<SessionCache>) -> std::io::Result<()> {
    let cache = Arc::downgrade(cache);
    let url = with_timeouts(url);
    std::thread::Builder::new()
        .name("db-listen".into())
        .spawn(move || listen(&url, &cache))
        .map(drop)
}

/// The URL with libpq timeouts the caller did not set: a statement on a connection that went
/// silent fails within seconds instead of the system's TCP timeout (minutes), so the thread
/// reconnects (or, once the store is dropped, ends) in good time.
fn with_timeouts(url: &str) -> String {
    let mut url = url.to_owned();
    for (key, value) in [("connect_timeout", "5"), ("tcp_user_timeout", "5000")] {
        if !url.contains(&format!("{key}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

fn listen(url: &str, cache: &Weak<SessionCache>) {
    let mut retry = FIRST_RETRY;
    let mut lost = false;
    while cache.strong_count() > 0 {
        let beats = format!("auth_session_beat_{}", Uuid::new_v4().simple());
        match connect(url, &beats) {
            Ok(mut conn) => {
                if lost {
                    tracing::info!("session changes are heard again; session lookups are cached");
                }
                retry = FIRST_RETRY;
                let Err(why) = serve(&mut conn, &beats, cache) else {
                    return;
                };
                with(cache, SessionCache::deafen);
                tracing::warn!(error = %why, "lost the channel of session changes; every session lookup asks the database until it is back");
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

fn connect(url: &str, beats: &str) -> Result<PgConnection, ConnectionError> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}; LISTEN {beats};"
    ))
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Runs `action` on the cache if it still exists. The listener never holds the cache across a
/// statement: a store dropped meanwhile is freed at once.
fn with(cache: &Weak<SessionCache>, action: impl FnOnce(&SessionCache)) {
    if let Some(cache) = cache.upgrade() {
        action(&cache);
    }
}

/// A beat sent and not yet back.
struct Beat {
    payload: String,
    sent: Instant,
}

/// Applies notices until the channel is lost (an error) or the cache is gone (`Ok`).
fn serve(conn: &mut PgConnection, beats: &str, cache: &Weak<SessionCache>) -> Result<(), String> {
    // Anything written before LISTEN took effect was never heard of.
    with(cache, |cache| cache.forget(Stale::Everything));
    let mut pending: Option<Beat> = None;
    let mut last_beat: Option<Instant> = None;
    let mut triggers_checked: Option<Instant> = None;
    let mut count = 0u64;
    while cache.strong_count() > 0 {
        if triggers_checked.is_none_or(|at| at.elapsed() >= TRIGGER_CHECK) {
            let enabled: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
                "(SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
                  WHERE p.proname = 'auth_notify_session_change' AND t.tgenabled = 'A')",
            ))
            .get_result(conn)
            .map_err(|err| err.to_string())?;
            if enabled != TRIGGERS {
                return Err(format!(
                    "{enabled} of the {TRIGGERS} session-change triggers are enabled (migrations not run, or triggers disabled)"
                ));
            }
            triggers_checked = Some(Instant::now());
        }
        if pending.is_none() && last_beat.is_none_or(|at| at.elapsed() >= BEAT) {
            count += 1;
            let beat = Beat {
                payload: count.to_string(),
                sent: Instant::now(),
            };
            conn.batch_execute(&format!("NOTIFY {beats}, '{}'", beat.payload))
                .map_err(|err| err.to_string())?;
            last_beat = Some(beat.sent);
            pending = Some(beat);
        }
        for notice in conn.notifications_iter() {
            let notice = notice.map_err(|err| err.to_string())?;
            if notice.channel != beats {
                with(cache, |cache| cache.forget(stale_of(&notice.payload)));
            } else if let Some(beat) = pending.take_if(|beat| beat.payload == notice.payload) {
                with(cache, |cache| cache.vouch(beat.sent + TRUST_FOR));
            }
        }
        if let Some(beat) = &pending
            && beat.sent.elapsed() >= LOST_AFTER
        {
            return Err(format!("a beat was not back within {LOST_AFTER:?}"));
        }
        std::thread::sleep(POLL);
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
    fn timeouts_are_added_unless_the_url_sets_them() {
        assert_eq!(
            with_timeouts("postgres://u@h/db"),
            "postgres://u@h/db?connect_timeout=5&tcp_user_timeout=5000"
        );
        assert_eq!(
            with_timeouts("postgres://u@h/db?sslmode=disable&connect_timeout=2"),
            "postgres://u@h/db?sslmode=disable&connect_timeout=2&tcp_user_timeout=5000"
        );
    }

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
