//! Read replicas (`[database] replicas`): which database a read runs on. Owns each
//! replica's health as last checked (up, lagging, down; its lag and the log position it
//! has replayed), the round-robin choice among the healthy ones, the read counts by
//! target, and the task that checks every replica twice a second. What a check asks the
//! server is the backend's (`Probe`); the statements of a read are not known here.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::{Connection, Database, Executor};

use super::pool::Conns;

/// How often each replica is checked.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// A replica's state as last checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Serves reads.
    Up,
    /// Answers, but further behind than `max_replica_lag_ms`: serves no reads.
    Lagging,
    /// Does not answer, or is not a replica: serves no reads.
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Lagging => "lagging",
            Health::Down => "down",
        }
    }

    fn from_u8(v: u8) -> Health {
        match v {
            0 => Health::Up,
            1 => Health::Lagging,
            _ => Health::Down,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Health::Up => 0,
            Health::Lagging => 1,
            Health::Down => 2,
        }
    }
}

/// What a replica said when checked.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// The last log position it has replayed (PostgreSQL: a WAL LSN as a number).
    pub replayed: u64,
    /// How far behind the primary its replay is, in milliseconds.
    pub lag_ms: u64,
}

/// One replica: its pool of connections and its health.
pub struct Replica<C: Connection + 'static> {
    pub(crate) pool: Conns<C>,
    /// The URL without its password.
    pub shown: String,
    health: AtomicU8,
    lag_ms: AtomicU64,
    replayed: AtomicU64,
    /// Why it is down (for `/_ready`).
    reason: Mutex<String>,
}

impl<C: Connection + 'static> Replica<C> {
    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Relaxed))
    }

    fn set(&self, health: Health, reason: &str) {
        self.health.store(health.to_u8(), Ordering::Relaxed);
        if let Ok(mut r) = self.reason.lock() {
            if *r != reason {
                *r = reason.to_string();
            }
        }
    }

    /// A read could not get a connection: no reads until the next check finds it back.
    pub fn mark_down(&self, reason: &str) {
        if self.health() != Health::Down {
            tracing::warn!(replica = %self.shown, %reason, "replica down; reads go elsewhere");
        }
        self.set(Health::Down, reason);
    }
}

/// What `/_ready` shows of one replica.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    pub url: String,
    pub health: Health,
    pub lag_ms: Option<u64>,
    pub reason: Option<String>,
}

/// Where a read ran, for `/_metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

/// The replicas of one database.
pub struct Replicas<C: Connection + 'static> {
    list: Vec<Arc<Replica<C>>>,
    next: AtomicUsize,
    max_lag_ms: u64,
    reads_primary: AtomicU64,
    reads_replica: AtomicU64,
}

/// How a backend checks one replica, on a connection of the check's own (outside the
/// pool; `link` is `None` until connected, and again after a failure).
pub trait Probe: Send + Sync + 'static {
    type Conn: Connection + 'static;

    fn check<'a>(
        &'a self,
        pool: &'a Conns<Self::Conn>,
        link: &'a mut Option<Self::Conn>,
    ) -> impl Future<Output = Result<Checked, String>> + Send + 'a;
}

impl<C> Replicas<C>
where
    C: Connection + 'static,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::QueryResult: Send,
{
    /// Replicas by pool and shown URL; each is down until checked (`start`).
    pub fn new(pools: Vec<(Conns<C>, String)>, max_lag_ms: u64) -> Replicas<C> {
        Replicas {
            list: pools
                .into_iter()
                .map(|(pool, shown)| {
                    Arc::new(Replica {
                        pool,
                        shown,
                        health: AtomicU8::new(Health::Down.to_u8()),
                        lag_ms: AtomicU64::new(0),
                        replayed: AtomicU64::new(0),
                        reason: Mutex::new("not checked yet".into()),
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            max_lag_ms,
            reads_primary: AtomicU64::new(0),
            reads_replica: AtomicU64::new(0),
        }
    }

    /// Check every replica once now (so that reads use them from the first request),
    /// then every `CHECK_EVERY` in a task that ends once the replicas are dropped. Each
    /// check is bounded by `timeout`.
    pub async fn start<P: Probe<Conn = C>>(this: &Arc<Self>, probe: P, timeout: Duration) {
        let mut links: Vec<Option<C>> = this.list.iter().map(|_| None).collect();
        this.check_all(&probe, &mut links, timeout).await;
        let weak: Weak<Self> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                this.check_all(&probe, &mut links, timeout).await;
            }
        });
    }

    async fn check_all<P: Probe<Conn = C>>(
        &self,
        probe: &P,
        links: &mut [Option<C>],
        timeout: Duration,
    ) {
        let checks = self.list.iter().zip(links.iter_mut()).map(|(r, link)| {
            let probe = &probe;
            async move {
                let checked =
                    match tokio::time::timeout(timeout, probe.check(&r.pool, &mut *link)).await {
                        Ok(c) => c,
                        Err(_) => {
                            // Cut off mid-statement: not usable again.
                            *link = None;
                            Err(format!("no answer within {} ms", timeout.as_millis()))
                        }
                    };
                self.record(r, checked);
            }
        });
        futures_util::future::join_all(checks).await;
    }

    fn record(&self, r: &Replica<C>, checked: Result<Checked, String>) {
        let before = r.health();
        match checked {
            Ok(c) => {
                r.replayed.store(c.replayed, Ordering::Relaxed);
                r.lag_ms.store(c.lag_ms, Ordering::Relaxed);
                if c.lag_ms > self.max_lag_ms {
                    r.set(Health::Lagging, "");
                } else {
                    r.set(Health::Up, "");
                }
            }
            Err(reason) => r.set(Health::Down, &reason),
        }
        let now = r.health();
        if now != before {
            let lag_ms = r.lag_ms.load(Ordering::Relaxed);
            match now {
                Health::Up => tracing::info!(replica = %r.shown, lag_ms, "replica up"),
                _ => tracing::warn!(
                    replica = %r.shown,
                    status = now.as_str(),
                    lag_ms,
                    reason = %r.reason.lock().map(|s| s.clone()).unwrap_or_default(),
                    "replica serves no reads"
                ),
            }
        }
    }
}

impl<C: Connection + 'static> Replicas<C> {
    /// A healthy replica for a read, round-robin; with `after`, only one that had
    /// replayed that position when last checked. `None`: read on the primary.
    pub fn pick(&self, after: Option<u64>) -> Option<&Arc<Replica<C>>> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| &self.list[(start + i) % n]).find(|r| {
            r.health() == Health::Up
                && after.is_none_or(|p| r.replayed.load(Ordering::Relaxed) >= p)
        })
    }

    /// Count a read by where it ran.
    pub fn count(&self, target: Target) {
        match target {
            Target::Primary => &self.reads_primary,
            Target::Replica => &self.reads_replica,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Reads run on the primary and on replicas so far.
    pub fn reads(&self) -> (u64, u64) {
        (
            self.reads_primary.load(Ordering::Relaxed),
            self.reads_replica.load(Ordering::Relaxed),
        )
    }

    pub fn status(&self) -> Vec<ReplicaStatus> {
        self.list
            .iter()
            .map(|r| {
                let health = r.health();
                ReplicaStatus {
                    url: r.shown.clone(),
                    health,
                    lag_ms: (health != Health::Down).then(|| r.lag_ms.load(Ordering::Relaxed)),
                    reason: (health == Health::Down)
                        .then(|| r.reason.lock().map(|s| s.clone()).unwrap_or_default()),
                }
            })
            .collect()
    }
}
