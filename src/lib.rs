//! restable: database tables as a JSON REST API (PostgREST-compatible grammar).
//!
//! One straight pipeline per request: `request` (parse) -> `plan` (resolve against the
//! `schema` cache) -> `sql` (one dialect) -> `exec` (the only I/O) -> `response`, glued
//! to HTTP by `http`. `state` holds config + schema cache + pool behind one swappable
//! handle; `config` reads services.toml.

pub mod auth;
pub mod config;
pub mod error;
pub mod exec;
pub mod http;
pub mod openapi;
pub mod plan;
pub mod request;
pub mod response;
pub mod schema;
pub mod sql;
pub mod state;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, ConfigError, Overrides};
pub use state::StartupError;

/// A server bound to its address and serving in the background (used by tests and main).
pub struct Running {
    pub addr: SocketAddr,
    pub server: Arc<http::Server>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (up to `grace`), then return.
    pub async fn stop(mut self, grace: Duration) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace + Duration::from_secs(1), self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => Ok(()),
        }
    }

    /// Wait until the server stops by itself (it does not, unless shut down).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// CPU cores this process may use (2 when unknown): what the SQLite reader pool and the
/// large-body parsing are sized by.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `1 column`, `8 columns`.
pub fn column_count(n: usize) -> String {
    if n == 1 {
        "1 column".to_string()
    } else {
        format!("{n} columns")
    }
}

/// Log one line per service.
pub fn log_routes(state: &state::AppState) {
    for svc in state.cache.services.values() {
        let methods: Vec<&str> = svc.methods.iter().map(|m| m.as_str()).collect();
        let methods = if methods.is_empty() {
            "(embedding only)".to_string()
        } else {
            methods.join("/")
        };
        tracing::info!(
            "{methods} /{} -> table {} ({})",
            svc.name,
            svc.table.name,
            column_count(svc.columns.len())
        );
    }
}

/// Build the state from `config`, bind, and serve until `stop` (or the returned
/// shutdown signal). `grace` bounds how long in-flight requests may take at shutdown.
pub async fn start(config: Config, grace: Duration) -> Result<Running, StartupError> {
    let bind = config.server.bind.clone();
    let state = state::build(config).await?;
    log_routes(&state);
    let server = http::Server::new(state);
    // The metrics' latency samples are folded every second, and the task ends with the server.
    let weak = Arc::downgrade(&server);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(http::metrics::UPKEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(server) => server.metrics.upkeep(),
                None => break,
            }
        }
    });
    tokio::spawn(watch::poll(Arc::downgrade(&server)));
    tokio::spawn(watch::listen(Arc::downgrade(&server)));
    http::listen::raise_open_file_limit();
    let listen_on: SocketAddr = bind
        .parse()
        .map_err(|e| StartupError::Database(format!("cannot listen on {bind}: {e}")))?;
    let listener = http::listen::bind(listen_on)
        .map_err(|e| StartupError::Database(format!("cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartupError::Database(format!("cannot listen on {bind}: {e}")))?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let api = Arc::new(http::Api {
        server: Arc::clone(&server),
    });
    let task = tokio::spawn(http::listen::serve(
        listener,
        api,
        async move {
            let _ = rx.await;
        },
        grace,
    ));
    Ok(Running {
        addr,
        server,
        shutdown: Some(tx),
        task,
    })
}

/// Re-read the config and re-introspect; swap the new state in only if all of it worked.
pub async fn reload(
    server: &http::Server,
    file: &std::path::Path,
    overrides: &Overrides,
) -> Result<(), String> {
    let _one_at_a_time = server.reloading.lock().await;
    let config = Config::load(file, overrides).map_err(|e| e.to_string())?;
    let old_bind = server.state.load().config.server.bind.clone();
    if config.server.bind != old_bind {
        tracing::warn!(
            "server.bind changed to {}; a new address needs a restart (still on {old_bind})",
            config.server.bind
        );
    }
    let state = state::build(config).await.map_err(|e| e.to_string())?;
    log_routes(&state);
    server.state.store(Arc::new(state));
    Ok(())
}

/// Re-introspect with the serving configuration (the schema changed under it) and swap
/// the new state in only if all of it worked; otherwise keep serving the old one and log
/// why, as a SIGHUP reload does.
pub async fn reintrospect(server: &http::Server, why: &str) -> Result<(), String> {
    let _one_at_a_time = server.reloading.lock().await;
    tracing::info!("reloading the schema ({why})");
    let config = server.state.load().config.clone();
    match state::build(config).await {
        Ok(state) => {
            log_routes(&state);
            server.state.store(Arc::new(state));
            tracing::info!("reloaded: the new schema cache is serving");
            Ok(())
        }
        Err(e) => {
            let e = e.to_string();
            tracing::error!("reload failed, still serving the previous schema cache: {e}");
            Err(e)
        }
    }
}

/// The config file's bytes, as far as they can be read now.
fn contents(file: &std::path::Path) -> Option<Vec<u8>> {
    std::fs::read(file).ok()
}

/// The file's bytes once they have stopped changing: an editor (or `echo >`) may truncate
/// the file and write it in several steps, and a reload must not catch it half written.
async fn settled(file: &std::path::Path) -> Option<Vec<u8>> {
    let mut seen = contents(file);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = contents(file);
        if again == seen {
            break;
        }
        seen = again;
    }
    seen
}

/// Reload on SIGHUP and whenever the config file's contents change on disk (checked every
/// second, then read again until they have settled). `loaded`: the contents the serving
/// configuration was read from.
pub async fn watch_reload(
    server: Arc<http::Server>,
    file: std::path::PathBuf,
    overrides: Overrides,
    loaded: Option<Vec<u8>>,
) {
    let mut last = loaded;
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let mut why = "";
        #[cfg(unix)]
        {
            let hup_recv = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = hup_recv => why = "SIGHUP",
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        #[cfg(not(unix))]
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = contents(&file);
        if why.is_empty() && now != last && now.is_some() {
            why = "the config file changed";
            last = settled(&file).await;
        } else if !why.is_empty() {
            last = now;
        }
        if why.is_empty() {
            continue;
        }
        tracing::info!("reloading ({why})");
        match reload(&server, &file, &overrides).await {
            Ok(()) => tracing::info!("reloaded: the new configuration is serving"),
            Err(e) => {
                tracing::error!("reload failed, still serving the previous configuration: {e}")
            }
        }
    }
}
