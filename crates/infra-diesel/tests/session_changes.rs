//! Two stores on one PostgreSQL database, as two replicas: each remembers session lookups, and
//! a change written through one (or by anyone, in SQL) is heard by the other within the bound,
//! or the other asks the database while it cannot hear.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use domain::contract::{session, user};
use domain::{AttemptLimit, Stores, ThrottleKey};
use infra_diesel::DieselStore;
use infra_diesel::testing::TestDatabase;

/// What the contract promises another replica's logout takes to be refused here, at p99.
const BOUND: Duration = Duration::from_millis(100);
/// For a single change: the bound with room for a slow moment of a two-core machine, and still
/// below the entries' one-second freshness, so a notice that never came fails.
const ONE_CHANGE: Duration = Duration::from_millis(500);
const HASH: &str = "$2b$04$hash";

struct Replicas {
    a: DieselStore,
    b: DieselStore,
    db: TestDatabase,
}

impl Replicas {
    async fn start() -> Self {
        let db = TestDatabase::postgres();
        let a = db.store().await.cache_sessions().unwrap();
        let b = db.store().await.cache_sessions().unwrap();
        for store in [&a, &b] {
            listening(store).await;
        }
        Replicas { a, b, db }
    }
}

async fn listening(store: &DieselStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.sessions_cached() {
        assert!(Instant::now() < deadline, "the listener never vouched");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A user with an open session, looked up through `reader` so that it is remembered there.
async fn remembered_session(writer: &Stores, reader: &Stores) -> (domain::User, domain::Session) {
    let alice = user(&format!(
        "alice_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    writer.users.insert(&alice).await.unwrap();
    let session = session(&alice, Utc::now());
    assert!(writer.sessions.open(&session, HASH, false).await.unwrap());
    for _ in 0..2 {
        let (found, _) = reader
            .sessions
            .find_with_user(session.id)
            .await
            .unwrap()
            .unwrap();
        assert!(found.revoked_at.is_none());
    }
    (alice, session)
}

type Found = Option<(domain::Session, domain::User)>;

/// How long after `since` a lookup of `id` through `reader` first answers what `heard` wants.
async fn heard_after(
    reader: &Stores,
    id: uuid::Uuid,
    since: Instant,
    heard: impl Fn(&Found) -> bool,
) -> Duration {
    loop {
        if heard(&reader.sessions.find_with_user(id).await.unwrap()) {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(5), "never heard of");
        tokio::task::yield_now().await;
    }
}

/// How long after `since` a lookup of `id` through `reader` first shows it revoked.
async fn revoked_after(reader: &Stores, id: uuid::Uuid, since: Instant) -> Duration {
    heard_after(reader, id, since, |found| {
        found
            .as_ref()
            .is_none_or(|(session, _)| session.revoked_at.is_some())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_store_is_heard_by_the_other_within_the_bound() {
    let replicas = Replicas::start().await;
    let (a, b) = (replicas.a.stores(), replicas.b.stores());
    let mut delays = Vec::new();
    for _ in 0..50 {
        let (_, session) = remembered_session(&a, &b).await;
        let start = Instant::now();
        assert!(a.sessions.revoke(session.id, Utc::now()).await.unwrap());
        delays.push(revoked_after(&b, session.id, start).await);
    }
    delays.sort();
    let p99 = delays[delays.len() * 99 / 100 - 1];
    assert!(p99 <= BOUND, "p99 {p99:?}, all {delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_a_lookup_depends_on_is_heard_whoever_writes_it() {
    let replicas = Replicas::start().await;
    let (a, b) = (replicas.a.stores(), replicas.b.stores());
    let mut psql = PgConnection::establish(replicas.db.url()).unwrap();

    // Deactivated in SQL, as an operator would.
    let (alice, session) = remembered_session(&a, &b).await;
    psql.batch_execute(&format!(
        "UPDATE users SET is_active = false WHERE id = '{}'",
        alice.id
    ))
    .unwrap();
    let deactivated = |found: &Found| found.as_ref().is_some_and(|(_, user)| !user.is_active);
    let delay = heard_after(&b, session.id, Instant::now(), deactivated).await;
    assert!(
        delay < ONE_CHANGE,
        "the deactivation was heard after {delay:?}"
    );

    // Locked by failed logins on the other replica.
    let (bob, session) = remembered_session(&a, &b).await;
    let now = Utc::now();
    let limit = AttemptLimit {
        max_attempts: 1,
        lock_until: now + chrono::Duration::minutes(15),
    };
    a.throttle
        .count_attempt(&ThrottleKey::Account(bob.id), now, limit)
        .await
        .unwrap();
    let locked = |found: &Found| {
        found
            .as_ref()
            .is_some_and(|(_, u)| u.locked_until.is_some())
    };
    let delay = heard_after(&b, session.id, Instant::now(), locked).await;
    assert!(delay < ONE_CHANGE, "the lock was heard after {delay:?}");

    // Deleted, sessions and all.
    let (carol, session) = remembered_session(&a, &b).await;
    psql.batch_execute(&format!("DELETE FROM users WHERE id = '{}'", carol.id))
        .unwrap();
    let delay = heard_after(&b, session.id, Instant::now(), Option::is_none).await;
    assert!(delay < ONE_CHANGE, "the deletion was heard after {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_channel_sends_every_lookup_to_the_database_until_it_is_back() {
    let replicas = Replicas::start().await;
    let (a, b) = (replicas.a.stores(), replicas.b.stores());
    let (_, session) = remembered_session(&a, &b).await;

    // Both listeners' connections killed, as a database restart or a proxy would.
    let mut psql = PgConnection::establish(replicas.db.url()).unwrap();
    psql.batch_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{}'",
        "auth-api session listener"
    ))
    .unwrap();
    let start = Instant::now();
    while replicas.b.sessions_cached() {
        assert!(start.elapsed() < ONE_CHANGE, "the loss was not noticed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // Revoked while b cannot hear it: b must not answer from memory, deaf or back.
    revoke_unheard(&mut psql, session.id);
    let (found, _) = b
        .sessions
        .find_with_user(session.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.revoked_at.is_some(),
        "answered from memory while deaf"
    );

    listening(&replicas.b).await;
    let (found, _) = b
        .sessions
        .find_with_user(session.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.revoked_at.is_some(),
        "an entry from before the loss came back"
    );
    // And it hears again.
    let (_, session) = remembered_session(&a, &b).await;
    let start = Instant::now();
    assert!(a.sessions.revoke(session.id, Utc::now()).await.unwrap());
    assert!(revoked_after(&b, session.id, start).await <= ONE_CHANGE);
}

/// Revokes a session in one transaction with its trigger switched off: a write nobody hears of.
fn revoke_unheard(psql: &mut PgConnection, session: uuid::Uuid) {
    psql.batch_execute(&format!(
        "BEGIN; ALTER TABLE sessions DISABLE TRIGGER sessions_notify; \
         UPDATE sessions SET revoked_at = now() WHERE id = '{session}'; \
         ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify; COMMIT;"
    ))
    .unwrap();
}

/// Proof that lookups are really answered from memory: only the cache can miss this write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_lookup_is_answered_from_memory() {
    let replicas = Replicas::start().await;
    let (a, b) = (replicas.a.stores(), replicas.b.stores());
    let mut psql = PgConnection::establish(replicas.db.url()).unwrap();
    let plain = replicas.db.store().await.stores();
    // A few tries: a stall of the machine longer than the trust lets one lookup go unremembered.
    let mut from_memory = 0;
    for _ in 0..5 {
        let (_, session) = remembered_session(&a, &b).await;
        revoke_unheard(&mut psql, session.id);
        let (found, _) = b
            .sessions
            .find_with_user(session.id)
            .await
            .unwrap()
            .unwrap();
        from_memory += usize::from(found.revoked_at.is_none());
        // A store without the cache reads the write.
        let (found, _) = plain
            .sessions
            .find_with_user(session.id)
            .await
            .unwrap()
            .unwrap();
        assert!(found.revoked_at.is_some());
    }
    assert!(from_memory > 0, "every lookup asked the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_trigger_makes_every_replica_ask_the_database() {
    let replicas = Replicas::start().await;
    let mut psql = PgConnection::establish(replicas.db.url()).unwrap();
    psql.batch_execute("ALTER TABLE users DISABLE TRIGGER users_notify")
        .unwrap();
    let start = Instant::now();
    while replicas.a.sessions_cached() || replicas.b.sessions_cached() {
        assert!(start.elapsed() < Duration::from_secs(5), "still trusted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    psql.batch_execute("ALTER TABLE users ENABLE ALWAYS TRIGGER users_notify")
        .unwrap();
    for store in [&replicas.a, &replicas.b] {
        listening(store).await;
    }
}
