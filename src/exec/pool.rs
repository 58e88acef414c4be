//! Connections to a database server (PostgreSQL, MySQL/MariaDB), pooled by restable rather
//! than by sqlx's `Pool`. sqlx's pool tests every connection it gets back with a round
//! trip to the server and returns it from a spawned task; for a key lookup that is a third
//! of the round trips and a task per request. Here a connection goes back to the idle list
//! only when the work on it ran to its end (`Conn::reuse`), so it is known to be between
//! statements and needs no test; one whose work was cut off (a timeout, a client gone
//! mid-stream, a broken connection) is closed instead. Knows connections and their limits,
//! never statements or HTTP.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, Database, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An idle connection older than this is closed rather than used (the server or a proxy
/// in between may have dropped it meanwhile).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Connections are replaced after this long, so that server-side memory does not grow
/// without bound and a fail-over behind a DNS name is picked up.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long closing a connection (sending `Terminate`) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Idle<C> {
    conn: C,
    created: Instant,
    since: Instant,
}

struct Inner<C: Connection + 'static> {
    options: C::Options,
    /// Statements every new connection runs first (time zone, statement timeout...).
    setup: String,
    idle: Mutex<Vec<Idle<C>>>,
    /// One permit per connection that may be open.
    slots: Arc<Semaphore>,
    size: u32,
    /// Connections open now (idle or in use).
    open: AtomicU32,
    acquire_timeout: Duration,
}

/// The pool. Cloning it shares it.
pub struct Conns<C: Connection + 'static> {
    inner: Arc<Inner<C>>,
}

impl<C: Connection + 'static> Clone for Conns<C> {
    fn clone(&self) -> Self {
        Conns {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A connection taken from the pool. Dropped, it goes back to the idle list if `reuse`
/// was called since it was taken, else it is closed.
pub struct Conn<C: Connection + 'static> {
    conn: Option<C>,
    created: Instant,
    reuse: bool,
    inner: Arc<Inner<C>>,
    _permit: OwnedSemaphorePermit,
}

fn lock<C>(m: &Mutex<Vec<Idle<C>>>) -> std::sync::MutexGuard<'_, Vec<Idle<C>>> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Close `conn` politely in the background (the server then logs no broken connection).
fn close_later<C: Connection + 'static>(conn: C) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        });
    }
}

impl<C> Conns<C>
where
    C: Connection + 'static,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::QueryResult: Send,
{
    /// A pool of at most `size` connections, opened as needed. Nothing is connected yet.
    pub fn new(options: C::Options, setup: String, size: u32, acquire_timeout: Duration) -> Self {
        let size = size.max(1);
        Conns {
            inner: Arc::new(Inner {
                options,
                setup,
                idle: Mutex::new(Vec::with_capacity(size as usize)),
                slots: Arc::new(Semaphore::new(size as usize)),
                size,
                open: AtomicU32::new(0),
                acquire_timeout,
            }),
        }
    }

    /// A connection: an idle one, else a new one. Waiting for a free slot and opening a
    /// connection are each bounded by the acquire timeout (`PoolTimedOut`).
    pub async fn acquire(&self) -> Result<Conn<C>, sqlx::Error> {
        let inner = &self.inner;
        let permit = match Arc::clone(&inner.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout(
                inner.acquire_timeout,
                Arc::clone(&inner.slots).acquire_owned(),
            )
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?,
        };
        let now = Instant::now();
        loop {
            let Some(idle) = lock(&inner.idle).pop() else {
                break;
            };
            if now.duration_since(idle.since) < IDLE_TIMEOUT
                && now.duration_since(idle.created) < MAX_LIFETIME
            {
                return Ok(Conn {
                    conn: Some(idle.conn),
                    created: idle.created,
                    reuse: false,
                    inner: Arc::clone(inner),
                    _permit: permit,
                });
            }
            inner.open.fetch_sub(1, Ordering::Relaxed);
            close_later(idle.conn);
        }
        let conn = Box::pin(tokio::time::timeout(inner.acquire_timeout, self.connect()))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        inner.open.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            conn: Some(conn),
            created: Instant::now(),
            reuse: false,
            inner: Arc::clone(inner),
            _permit: permit,
        })
    }

    /// A connection on which `first` (a simple statement: `BEGIN`, `SELECT 1`) has run.
    /// A connection whose first statement shows that the server closed it (`stale`) is
    /// dropped and the next one tried, as many times as the pool has connections: after
    /// a database restart every idle connection is such a one.
    pub async fn acquire_running(
        &self,
        first: &'static str,
        stale: fn(&sqlx::Error) -> bool,
    ) -> Result<Conn<C>, sqlx::Error> {
        let mut retries = 0;
        loop {
            let mut conn = self.acquire().await?;
            match sqlx::raw_sql(first).execute(&mut *conn).await {
                Ok(_) => return Ok(conn),
                Err(e) if stale(&e) && retries < self.inner.size => retries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// A connection outside the pool, set up as the pooled ones and bounded by the acquire
    /// timeout (a replica's health check keeps one of its own, so that a busy pool does
    /// not make the replica look down).
    pub async fn connect_unpooled(&self) -> Result<C, sqlx::Error> {
        Box::pin(tokio::time::timeout(
            self.inner.acquire_timeout,
            self.connect(),
        ))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn connect(&self) -> Result<C, sqlx::Error> {
        let mut conn = C::connect_with(&self.inner.options).await?;
        if !self.inner.setup.is_empty() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(self.inner.setup.clone()))
                .execute(&mut conn)
                .await?;
        }
        Ok(conn)
    }

    /// Connections open, and how many of them are idle.
    pub fn stats(&self) -> (u64, u64) {
        let idle = lock(&self.inner.idle).len() as u64;
        let open = u64::from(self.inner.open.load(Ordering::Relaxed));
        (open.max(idle), idle)
    }
}

impl<C> Conn<C>
where
    C: Connection + 'static,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::QueryResult: Send,
{
    /// End the transaction `BEGIN` opened: `COMMIT`, or `ROLLBACK` when not `commit`.
    /// Once it has ended, the connection can serve the next request.
    pub async fn end(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        sqlx::raw_sql(end).execute(&mut **self).await?;
        self.reuse();
        Ok(())
    }
}

impl<C: Connection + 'static> Conn<C> {
    /// The work on this connection ran to its end (the last statement's answer was read
    /// whole, no transaction is open): it may serve the next request.
    pub fn reuse(&mut self) {
        self.reuse = true;
    }
}

impl<C: Connection + 'static> Deref for Conn<C> {
    type Target = C;

    fn deref(&self) -> &C {
        // Only `Drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<C: Connection + 'static> DerefMut for Conn<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<C: Connection + 'static> Drop for Conn<C> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.reuse {
            lock(&self.inner.idle).push(Idle {
                conn,
                created: self.created,
                since: Instant::now(),
            });
        } else {
            self.inner.open.fetch_sub(1, Ordering::Relaxed);
            close_later(conn);
        }
    }
}
