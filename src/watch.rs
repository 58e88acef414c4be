//! Schema changes made by someone else reach this instance without a SIGHUP (SPEC 6):
//! on PostgreSQL a dedicated connection LISTENs on `[database] notify_channel` and
//! `NOTIFY restable, 'reload'` re-introspects (as PostgREST's `NOTIFY pgrst`); everywhere
//! a schema-version check every `[database] schema_poll_ms` re-introspects when the
//! configured tables' fingerprint (`Executor::schema_version`) changed. Both go through
//! `reintrospect`, the reload path: a failed re-introspection keeps the old cache and logs
//! why. Both tasks end with the server, and follow the serving configuration as reloads
//! change it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::config::{sqlite_file, Backend};
use crate::http::Server;
use crate::state::AppState;

/// How often a task that has nothing to do (its key unset, the database unreachable)
/// looks again.
const IDLE: Duration = Duration::from_secs(1);

fn serving(server: &Weak<Server>) -> Option<Arc<AppState>> {
    server.upgrade().map(|s| s.state.load_full())
}

/// The interval of the schema-version check for this state; `None` when it is off (or
/// pointless: an in-memory SQLite database can only be changed by this process).
fn poll_every(state: &AppState) -> Option<Duration> {
    let db = &state.config.database;
    if state.db.backend() == Backend::Sqlite && sqlite_file(&db.url).is_none() {
        return None;
    }
    db.schema_poll()
}

fn table_names(state: &AppState) -> Vec<String> {
    let c = &state.config;
    c.services
        .keys()
        .map(|s| c.table_of(s).to_string())
        .collect()
}

async fn reintrospect(server: &Weak<Server>, why: &str) -> bool {
    match server.upgrade() {
        Some(s) => crate::reintrospect(&s, why).await.is_ok(),
        None => false,
    }
}

/// The schema-version check: every `schema_poll_ms`, compare the fingerprint with the
/// one the serving state was built under; re-introspect when it changed. A failed
/// re-introspection is not retried until the schema changes again (the error is logged
/// once, not every interval).
pub async fn poll(server: Weak<Server>) {
    // The state the fingerprint belongs to (held weakly: a replaced state is freed, and
    // its address cannot be reused while this points at it) and the fingerprint.
    let mut last: Option<(Weak<AppState>, String)> = None;
    let mut failing = false;
    loop {
        let Some(state) = serving(&server) else {
            return;
        };
        let Some(every) = poll_every(&state) else {
            drop(state);
            last = None;
            tokio::time::sleep(IDLE).await;
            continue;
        };
        drop(state);
        tokio::time::sleep(every).await;
        let Some(state) = serving(&server) else {
            return;
        };
        let version = state.db.schema_version(table_names(&state)).await;
        let current = Arc::downgrade(&state);
        drop(state);
        let version = match version {
            Ok(v) => v,
            Err(e) => {
                if !failing {
                    tracing::warn!("the schema-version check failed (retrying): {e}");
                    failing = true;
                }
                continue;
            }
        };
        if failing {
            tracing::info!("the schema-version check works again");
            failing = false;
        }
        let baseline = match &last {
            Some((seen, v)) if seen.ptr_eq(&current) => Some(v.clone()),
            // A state not seen yet: the fingerprint it was built under.
            _ => serving(&server)
                .filter(|s| Arc::downgrade(s).ptr_eq(&current))
                .and_then(|s| s.schema_version.clone()),
        };
        match baseline {
            Some(old) if old != version => {
                reintrospect(&server, "the schema changed").await;
                // The new state was introspected after `version` was read: it has at
                // least that schema. On failure the old state keeps this fingerprint too.
                let now = serving(&server).map(|s| Arc::downgrade(&s));
                last = now.map(|w| (w, version));
            }
            _ => last = Some((current, version)),
        }
    }
}

/// `[database] notify_channel` when the serving database is PostgreSQL: its URL and the
/// channel.
fn listen_target(state: &AppState) -> Option<(String, String)> {
    let db = &state.config.database;
    (state.db.backend() == Backend::Postgres && !db.notify_channel.is_empty())
        .then(|| (db.url.clone(), db.notify_channel.clone()))
}

/// A payload that asks for a reload: empty, `reload`, `reload schema` or `reload config`
/// (PostgREST's words; restable re-introspects for each).
pub fn asks_reload(payload: &str) -> bool {
    matches!(
        payload.trim().to_ascii_lowercase().as_str(),
        "" | "reload" | "reload schema" | "reload config"
    )
}

/// LISTEN on PostgreSQL: reconnects after an outage (each second), and re-introspects
/// once reconnected, since notifications sent meanwhile were lost.
pub async fn listen(server: Weak<Server>) {
    let mut lost = false;
    let mut failing = false;
    loop {
        let Some(state) = serving(&server) else {
            return;
        };
        let Some((url, channel)) = listen_target(&state) else {
            drop(state);
            tokio::time::sleep(IDLE).await;
            continue;
        };
        drop(state);
        let mut listener =
            match crate::exec::postgres::SchemaListener::connect(&url, &channel).await {
                Ok(l) => l,
                Err(e) => {
                    if !failing {
                        tracing::warn!("cannot LISTEN for schema changes (retrying): {e}");
                        failing = true;
                    }
                    lost = true;
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
            };
        failing = false;
        tracing::info!(
            "schema changes: LISTEN {channel} is on (NOTIFY {channel}, 'reload' re-introspects)"
        );
        if lost {
            reintrospect(
                &server,
                "the LISTEN connection is back; changes may have been missed",
            )
            .await;
            lost = false;
        }
        loop {
            tokio::select! {
                n = listener.next() => match n {
                    Ok(Some(payload)) if asks_reload(&payload) => {
                        reintrospect(&server, &format!("NOTIFY {channel}")).await;
                    }
                    Ok(Some(payload)) => {
                        tracing::debug!("NOTIFY {channel} with an unknown payload ignored: {payload:?}");
                    }
                    Ok(None) => {
                        tracing::warn!("the LISTEN connection was lost; reconnecting");
                        lost = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("the LISTEN connection failed ({e}); reconnecting");
                        lost = true;
                        break;
                    }
                },
                _ = tokio::time::sleep(IDLE) => {
                    // The server stopped, or a reload changed the URL or the channel.
                    let target = serving(&server).map(|s| listen_target(&s));
                    if target != Some(Some((url.clone(), channel.clone()))) {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reload_payloads() {
        for p in ["", "reload", " Reload Schema ", "reload config"] {
            assert!(super::asks_reload(p), "{p:?}");
        }
        for p in ["hello", "reload later"] {
            assert!(!super::asks_reload(p), "{p:?}");
        }
    }
}
