//! PostgreSQL connections, pooled by restable rather than by sqlx's `PgPool`. sqlx's pool
//! tests every connection it gets back with a round trip to the server and returns it from
//! a spawned task; for a key lookup that is a third of the round trips and a task per
//! request. Here a connection goes back to the idle list only when the work on it ran to
//! its end (`PgConn::reuse`), so it is known to be between statements and needs no test;
//! one whose work was cut off (a timeout, a client gone mid-stream) is closed instead.
//! Knows connections and their limits, never statements or HTTP.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An idle connection older than this is closed rather than used (the server or a proxy
/// in between may have dropped it meanwhile).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Connections are replaced after this long, so that server-side memory does not grow
/// without bound and a fail-over behind a DNS name is picked up.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long closing a connection (sending `Terminate`) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Idle {
    conn: PgConnection,
    created: Instant,
    since: Instant,
}

struct Inner {
    options: PgConnectOptions,
    /// Statements every new connection runs first (time zone, statement timeout...).
    setup: String,
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection that may be open.
    slots: Arc<Semaphore>,
    /// Connections open now (idle or in use).
    open: AtomicU32,
    acquire_timeout: Duration,
}

/// The pool. Cloning it shares it.
#[derive(Clone)]
pub struct PgConns {
    inner: Arc<Inner>,
}

/// A connection taken from the pool. Dropped, it goes back to the idle list if `reuse`
/// was called since it was taken, else it is closed.
pub struct PgConn {
    conn: Option<PgConnection>,
    created: Instant,
    reuse: bool,
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

fn lock(m: &Mutex<Vec<Idle>>) -> std::sync::MutexGuard<'_, Vec<Idle>> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Close `conn` politely in the background (the server then logs no broken connection).
fn close_later(conn: PgConnection) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        });
    }
}

impl PgConns {
    /// A pool of at most `size` connections, opened as needed. Nothing is connected yet.
    pub fn new(
        options: PgConnectOptions,
        setup: String,
        size: u32,
        acquire_timeout: Duration,
    ) -> Self {
        let size = size.max(1);
        PgConns {
            inner: Arc::new(Inner {
                options,
                setup,
                idle: Mutex::new(Vec::with_capacity(size as usize)),
                slots: Arc::new(Semaphore::new(size as usize)),
                open: AtomicU32::new(0),
                acquire_timeout,
            }),
        }
    }

    /// A connection: an idle one, else a new one. Waiting for a free slot and opening a
    /// connection are each bounded by the acquire timeout (`PoolTimedOut`).
    pub async fn acquire(&self) -> Result<PgConn, sqlx::Error> {
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
                return Ok(PgConn {
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
        Ok(PgConn {
            conn: Some(conn),
            created: Instant::now(),
            reuse: false,
            inner: Arc::clone(inner),
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<PgConnection, sqlx::Error> {
        let mut conn = PgConnection::connect_with(&self.inner.options).await?;
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

impl PgConn {
    /// The work on this connection ran to its end (the last statement's answer was read
    /// whole, no transaction is open): it may serve the next request.
    pub fn reuse(&mut self) {
        self.reuse = true;
    }
}

impl Deref for PgConn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        // Only `Drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PgConn {
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
