//! The threads that run queries. diesel blocks, so queries must stay off the async workers; but
//! `spawn_blocking` per query grows tokio's blocking pool to hundreds of threads under load, all
//! fighting over the connection pool's lock (most of the server's CPU went to futex wake-ups).
//! Here a fixed set of threads, one per pooled connection, takes queries from one queue: a
//! query never waits for a connection, only for its turn.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use domain::StoreError;
use domain::ports::StoreResult;
use tokio::sync::oneshot;

use crate::connection::{DbConnection, DbPool};

type Job = Box<dyn FnOnce(&DbPool) + Send>;

#[derive(Clone)]
pub(crate) struct Executor {
    queue: Sender<Job>,
    checkout_timeout: Duration,
}

impl Executor {
    /// Starts one thread per connection the pool may open. The threads end when the last
    /// clone of the executor is dropped. A query that cannot have a connection within
    /// `checkout_timeout` of being asked for, queueing included, fails as `Unavailable`.
    pub(crate) fn start(pool: &DbPool, checkout_timeout: Duration) -> std::io::Result<Self> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        for index in 0..pool.max_size() {
            let (pool, jobs): (DbPool, Receiver<Job>) = (pool.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("db-{index}"))
                .spawn(move || {
                    for job in jobs {
                        job(&pool);
                    }
                })?;
        }
        Ok(Self {
            queue,
            checkout_timeout,
        })
    }

    /// Runs `query` on a pooled connection on one of the executor's threads, in the caller's
    /// tracing span.
    pub(crate) async fn run<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let span = tracing::Span::current();
        let deadline = Instant::now() + self.checkout_timeout;
        let job: Job = Box::new(move |pool: &DbPool| {
            let _entered = span.enter();
            // A panicking query must not take its thread with it; its caller sees the task fail.
            let result = catch_unwind(AssertUnwindSafe(|| checkout_and_run(pool, deadline, query)));
            if let Ok(result) = result {
                let _ = reply.send(result);
            }
        });
        self.queue
            .send(job)
            .map_err(|_| StoreError::Other("the database threads have stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Other("the database task failed".into()))?
    }
}

fn checkout_and_run<T>(
    pool: &DbPool,
    deadline: Instant,
    query: impl FnOnce(&mut DbConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    use diesel::r2d2::R2D2Connection;

    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(StoreError::Unavailable(
            "no database connection became free in time".into(),
        ));
    }
    let mut conn = pool
        .get_timeout(left)
        .map_err(|err| StoreError::Unavailable(err.to_string()))?;
    let result = query(&mut conn);
    // A failure on a connection that no longer answers is the database going away.
    if matches!(result, Err(StoreError::Other(_))) && conn.ping().is_err() {
        return Err(StoreError::Unavailable("the connection was lost".into()));
    }
    result
}
