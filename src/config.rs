//! `services.toml` + environment + flags -> `Config`. Owns the file format, defaults,
//! the override precedence (flag > env > file > default) and every check that needs no
//! database. Checks against the database (tables, columns) live in `state.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A start-up error that names the file, the key and what is wrong (exit code 2).
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    pub max_body_bytes: u64,
    pub max_rows: u64,
    pub request_timeout_ms: u64,
    pub cors_origins: Vec<String>,
    /// A request's head (request line and headers) must arrive within this time of its
    /// first byte (of the connection's opening, for the first request).
    pub header_timeout_ms: u64,
    /// A kept-alive connection with no request for this long is closed (and a response the
    /// client stops reading for this long is abandoned).
    pub idle_timeout_ms: u64,
    /// A request body must arrive whole within this time of the request's head.
    pub body_timeout_ms: u64,
    /// Open client connections at most; more are answered 503 and closed. 0: sized from
    /// the open-file limit.
    pub max_connections: u64,
    /// Serve the admin page at `/_admin/`; unset means "on when `bind` is a loopback
    /// address" (`ServerConfig::admin_enabled`).
    pub admin: Option<bool>,
    /// Allow aggregate functions in `select` (`count()`, `col.sum()`, ...) on every
    /// service whose section does not say otherwise; off by default, as PostgREST's
    /// `db-aggregates-enabled`.
    pub aggregates: bool,
    /// Names this instance in every log line, `/_ready` and `/_metrics`; unset: the host
    /// name and the process id (`ServerConfig::instance_id`).
    pub instance_id: Option<String>,
}

impl ServerConfig {
    /// `instance_id` when set, else `<hostname>-<pid>`.
    pub fn instance_id(&self) -> String {
        match &self.instance_id {
            Some(id) => id.clone(),
            None => format!("{}-{}", hostname(), std::process::id()),
        }
    }

    /// Whether `/_admin/` is served: the `admin` key when set, else true exactly when the
    /// server binds a loopback address (127.0.0.0/8, ::1, localhost).
    pub fn admin_enabled(&self) -> bool {
        self.admin.unwrap_or_else(|| is_loopback_bind(&self.bind))
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `bind` names a loopback address (`127.0.0.1:8080`, `[::1]:80`, `localhost:8080`).
fn is_loopback_bind(bind: &str) -> bool {
    if let Ok(addr) = bind.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = bind.rsplit_once(':').map_or(bind, |(h, _)| h);
    host.eq_ignore_ascii_case("localhost")
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            max_body_bytes: 1_048_576,
            max_rows: 1000,
            request_timeout_ms: 10_000,
            cors_origins: Vec::new(),
            header_timeout_ms: 10_000,
            idle_timeout_ms: 75_000,
            body_timeout_ms: 30_000,
            max_connections: 0,
            admin: None,
            aggregates: false,
            instance_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    pub init_sql: Option<String>,
    pub pool_size: u32,
    pub acquire_timeout_ms: u64,
    /// SQLite: the page cache of each connection, in MiB.
    pub sqlite_cache_mib: u32,
    /// PostgreSQL: the channel a dedicated connection LISTENs on; `NOTIFY <channel>,
    /// 'reload'` re-introspects (as PostgREST's `NOTIFY pgrst`). Empty: no LISTEN.
    pub notify_channel: String,
    /// How often (milliseconds) to check whether the configured tables' schema changed,
    /// and re-introspect when it did. Unset: 2000 on SQLite and MariaDB, off on
    /// PostgreSQL (which has `notify_channel`); 0: off (`DatabaseConfig::schema_poll`).
    pub schema_poll_ms: Option<u64>,
    /// PostgreSQL read replicas (URLs of the same backend as `url`): reads go to a healthy
    /// one, writes to `url` (docs/scaling.md §3).
    pub replicas: Vec<String>,
    /// A replica further behind the primary than this (milliseconds) serves no reads.
    pub max_replica_lag_ms: u64,
}

impl DatabaseConfig {
    /// The interval of the schema-version check, `None` when it is off.
    pub fn schema_poll(&self) -> Option<std::time::Duration> {
        let ms = match self.schema_poll_ms {
            Some(ms) => ms,
            None => match backend_of(&self.url) {
                Ok(Backend::Postgres) | Err(_) => 0,
                Ok(_) => DEFAULT_SCHEMA_POLL_MS,
            },
        };
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }
}

/// The schema-version check's interval on SQLite and MariaDB when `schema_poll_ms` is unset.
pub const DEFAULT_SCHEMA_POLL_MS: u64 = 2000;

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://music.db".into(),
            init_sql: None,
            pool_size: 16,
            acquire_timeout_ms: 2000,
            sqlite_cache_mib: 8,
            notify_channel: "restable".into(),
            schema_poll_ms: None,
            replicas: Vec::new(),
            max_replica_lag_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    pub table: Option<String>,
    pub hidden: Vec<String>,
    pub read_only: Vec<String>,
    pub methods: Option<Vec<String>>,
    pub primary_key: Option<Vec<String>>,
    pub max_rows: Option<u64>,
    /// Aggregates on this service (and in embeds of it); unset: the server's `aggregates`.
    pub aggregates: Option<bool>,
    pub allow_unfiltered_writes: bool,
    /// Role -> the methods it may use (`[services.tracks.roles] anon = ["GET"]`); absent:
    /// open to every role.
    pub roles: Option<BTreeMap<String, Vec<String>>>,
    /// Row ownership: every read and write is confined to rows whose `owner_column`
    /// equals the token's `owner_claim` (default `sub`).
    pub owner_column: Option<String>,
    pub owner_claim: Option<String>,
}

/// `[auth]` (SPEC 4.7).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `none` (default): no authentication; `jwt`: bearer tokens.
    pub mode: String,
    /// The environment variable holding the HS256/384/512 secret.
    pub jwt_secret_env: Option<String>,
    /// A PEM public key (RSA, EC P-256/P-384 or Ed25519).
    pub jwt_public_key_file: Option<String>,
    /// A JSON Web Key Set file.
    pub jwks_file: Option<String>,
    /// A JSON Web Key Set fetched at start, on reload, and when a token names an unknown
    /// `kid` (at most every `jwks_refresh_s` seconds).
    pub jwks_url: Option<String>,
    pub jwks_refresh_s: u64,
    /// Dotted path of the role in the claims (`app_metadata.role`).
    pub role_claim: String,
    /// `aud` a token must carry, when set.
    pub audience: Option<String>,
    /// `iss` a token must carry, when set.
    pub issuer: Option<String>,
    /// The role of requests without a token; none: such requests get 401.
    pub anonymous_role: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_s: u64,
    /// PostgreSQL only: each request's transaction runs as the token's role.
    pub database_roles: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: "none".into(),
            jwt_secret_env: None,
            jwt_public_key_file: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_s: 10,
            role_claim: "role".into(),
            audience: None,
            issuer: None,
            anonymous_role: None,
            leeway_s: 30,
            database_roles: false,
        }
    }
}

impl AuthConfig {
    pub fn enabled(&self) -> bool {
        self.mode == "jwt"
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct FileConfig {
    server: ServerConfig,
    database: DatabaseConfig,
    auth: AuthConfig,
    services: BTreeMap<String, ServiceConfig>,
}

/// The whole configuration, with every relative path already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from (for messages and reload).
    pub file: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// `init_sql` resolved against the config file's folder.
    pub init_sql_path: Option<PathBuf>,
    /// `[auth]`, its file paths resolved against the config file's folder.
    pub auth: AuthConfig,
    pub services: BTreeMap<String, ServiceConfig>,
}

/// Overrides from the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub bind: Option<String>,
    pub database_url: Option<String>,
}

const SECTIONS: [&str; 2] = ["server", "database"];

impl Config {
    /// Where the config file is: the flag, else `$RESTABLE_CONFIG`, else `./services.toml`.
    pub fn locate(flag: Option<&Path>) -> PathBuf {
        if let Some(p) = flag {
            return p.to_path_buf();
        }
        match std::env::var_os("RESTABLE_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("services.toml"),
        }
    }

    /// Read the file, apply `RESTABLE_<SECTION>_<KEY>` variables from the process
    /// environment, then the flags.
    pub fn load(file: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, overrides, &env)
    }

    pub fn load_with_env(
        file: &Path,
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let fname = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: fname.clone(),
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::parse(&text, file, overrides, env)
    }

    pub fn parse(
        text: &str,
        file: &Path,
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let fname = file.display().to_string();
        let err = |key: &str, message: String| ConfigError {
            file: fname.clone(),
            key: key.to_string(),
            message,
        };
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("", one_line(&e.to_string())))?;

        // Environment overrides, then flags: both rewrite the TOML tree before it is typed,
        // so the same checks and messages apply to every source.
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("RESTABLE_") else {
                continue;
            };
            for section in SECTIONS {
                let prefix = format!("{}_", section.to_ascii_uppercase());
                if let Some(key) = rest.strip_prefix(&prefix) {
                    let key = key.to_ascii_lowercase();
                    set_override(&mut doc, section, &key, value);
                }
            }
        }
        if let Some(b) = &overrides.bind {
            set_override(&mut doc, "server", "bind", b);
        }
        if let Some(u) = &overrides.database_url {
            set_override(&mut doc, "database", "url", u);
        }
        let url_from_outside = overrides.database_url.is_some()
            || env.iter().any(|(k, _)| k == "RESTABLE_DATABASE_URL");

        let parsed: FileConfig = FileConfig::deserialize(toml::Value::Table(doc))
            .map_err(|e| err("", one_line(&e.to_string())))?;

        let base = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut database = parsed.database;
        if !url_from_outside {
            database.url = resolve_sqlite_path(&database.url, &base);
        }
        let init_sql_path = database.init_sql.as_ref().map(|p| base.join(p));
        let mut auth = parsed.auth;
        for path in [&mut auth.jwt_public_key_file, &mut auth.jwks_file]
            .into_iter()
            .flatten()
        {
            *path = base.join(&*path).display().to_string();
        }

        let config = Config {
            file: file.to_path_buf(),
            server: parsed.server,
            database,
            init_sql_path,
            auth,
            services: parsed.services,
        };
        config
            .check()
            .map_err(|(key, message)| err(&key, message))?;
        Ok(config)
    }

    /// Checks that need no database.
    fn check(&self) -> Result<(), (String, String)> {
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "server.bind".into(),
                format!(
                    "'{}' is not an address:port such as 127.0.0.1:8080",
                    self.server.bind
                ),
            ));
        }
        if let Some(id) = &self.server.instance_id {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err((
                    "server.instance_id".into(),
                    format!(
                        "'{id}' is not an instance id: 1 to 64 letters, digits, '-', '_' or '.'"
                    ),
                ));
            }
        }
        if self.database.pool_size == 0 {
            return Err(("database.pool_size".into(), "must be at least 1".into()));
        }
        if !(1..=65_536).contains(&self.database.sqlite_cache_mib) {
            return Err((
                "database.sqlite_cache_mib".into(),
                "must be from 1 to 65536 (MiB)".into(),
            ));
        }
        let channel = &self.database.notify_channel;
        if channel.len() > 63
            || !channel
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || channel.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err((
                "database.notify_channel".into(),
                format!("'{channel}' is not a channel name: letters, digits and '_', at most 63, not starting with a digit (empty: no LISTEN)"),
            ));
        }
        if let Some(ms) = self.database.schema_poll_ms {
            if ms > 86_400_000 {
                return Err((
                    "database.schema_poll_ms".into(),
                    "must be from 0 (off) to 86400000 (milliseconds; a day at most)".into(),
                ));
            }
        }
        for (key, ms) in [
            ("server.header_timeout_ms", self.server.header_timeout_ms),
            ("server.idle_timeout_ms", self.server.idle_timeout_ms),
            ("server.body_timeout_ms", self.server.body_timeout_ms),
        ] {
            if !(1..=86_400_000).contains(&ms) {
                return Err((
                    key.into(),
                    "must be from 1 to 86400000 (milliseconds; a day at most)".into(),
                ));
            }
        }
        if self.server.max_body_bytes == 0 {
            return Err(("server.max_body_bytes".into(), "must be at least 1".into()));
        }
        let backend =
            backend_of(&self.database.url).map_err(|m| ("database.url".to_string(), m))?;
        self.check_replicas(backend)?;
        self.check_auth(backend)?;
        if self.services.is_empty() {
            return Err((
                "services".into(),
                "no [services.NAME] section: nothing would be served".into(),
            ));
        }
        for (name, svc) in &self.services {
            let key = format!("services.{name}");
            if name.starts_with('_') {
                return Err((key, "a service name must not start with '_'".into()));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return Err((
                    key,
                    "a service name may use only letters, digits, '_' and '-' (it is a URL segment)"
                        .into(),
                ));
            }
            if let Some(methods) = &svc.methods {
                for m in methods {
                    if crate::schema::Method::parse(m).is_none() {
                        return Err((
                            format!("{key}.methods"),
                            format!("'{m}' is not one of GET, POST, PATCH, PUT, DELETE"),
                        ));
                    }
                }
            }
            if let Some(roles) = &svc.roles {
                if !self.auth.enabled() {
                    return Err((
                        format!("{key}.roles"),
                        "roles need [auth] mode = \"jwt\"".into(),
                    ));
                }
                for (role, methods) in roles {
                    for m in methods {
                        if crate::schema::Method::parse(m).is_none() {
                            return Err((
                                format!("{key}.roles.{role}"),
                                format!("'{m}' is not one of GET, POST, PATCH, PUT, DELETE"),
                            ));
                        }
                    }
                }
            }
            if svc.owner_column.is_some() && !self.auth.enabled() {
                return Err((
                    format!("{key}.owner_column"),
                    "row ownership needs [auth] mode = \"jwt\"".into(),
                ));
            }
            if svc.owner_claim.is_some() && svc.owner_column.is_none() {
                return Err((
                    format!("{key}.owner_claim"),
                    "owner_claim needs owner_column".into(),
                ));
            }
            if let Some(pk) = &svc.primary_key {
                if pk.is_empty() {
                    return Err((
                        format!("{key}.primary_key"),
                        "must name at least one column".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Replicas: PostgreSQL URLs beside a PostgreSQL `url` (MariaDB replicas are not
    /// built yet; SQLite has none).
    fn check_replicas(&self, backend: Backend) -> Result<(), (String, String)> {
        let db = &self.database;
        let key = || "database.replicas".to_string();
        if db.max_replica_lag_ms > 86_400_000 {
            return Err((
                "database.max_replica_lag_ms".into(),
                "must be from 0 to 86400000 (milliseconds; a day at most)".into(),
            ));
        }
        if db.replicas.is_empty() {
            return Ok(());
        }
        match backend {
            Backend::Postgres => {}
            Backend::MySql => {
                return Err((
                    key(),
                    "read replicas are PostgreSQL-only for now: MariaDB/MySQL replicas are not supported yet (remove the key, or point a read-only instance's url at the replica)".into(),
                ))
            }
            Backend::Sqlite => {
                return Err((
                    key(),
                    "SQLite has no replicas: replicas need a PostgreSQL url".into(),
                ))
            }
        }
        for (i, url) in db.replicas.iter().enumerate() {
            if backend_of(url) != Ok(Backend::Postgres) {
                return Err((
                    format!("database.replicas[{i}]"),
                    format!(
                        "'{}' is not a PostgreSQL URL: a replica must be of the same backend as database.url (postgres://...)",
                        redact_url(url)
                    ),
                ));
            }
            if db.replicas[..i].contains(url) {
                return Err((
                    format!("database.replicas[{i}]"),
                    format!("'{}' is listed twice", redact_url(url)),
                ));
            }
        }
        Ok(())
    }

    fn check_auth(&self, backend: Backend) -> Result<(), (String, String)> {
        let a = &self.auth;
        match a.mode.as_str() {
            "none" => {
                return if a.database_roles {
                    Err(("auth.database_roles".into(), "needs mode = \"jwt\"".into()))
                } else {
                    Ok(())
                }
            }
            "jwt" => {}
            other => {
                return Err((
                    "auth.mode".into(),
                    format!("'{other}' is not \"none\" or \"jwt\""),
                ))
            }
        }
        let sources = [
            a.jwt_secret_env.is_some(),
            a.jwt_public_key_file.is_some(),
            a.jwks_file.is_some(),
            a.jwks_url.is_some(),
        ];
        if !sources.contains(&true) {
            return Err((
                "auth".into(),
                "mode = \"jwt\" needs a key: jwt_secret_env, jwt_public_key_file, jwks_file or jwks_url".into(),
            ));
        }
        if a.role_claim.trim().is_empty() {
            return Err(("auth.role_claim".into(), "must not be empty".into()));
        }
        if a.database_roles && backend != Backend::Postgres {
            return Err((
                "auth.database_roles".into(),
                "database roles exist on PostgreSQL only (SET LOCAL ROLE); use [services.X.roles] and owner_column on SQLite and MySQL/MariaDB".into(),
            ));
        }
        Ok(())
    }

    pub fn table_of<'a>(&'a self, service: &'a str) -> &'a str {
        self.services
            .get(service)
            .and_then(|s| s.table.as_deref())
            .unwrap_or(service)
    }
}

/// A service name (a URL segment: letters, digits, `_`, `-`, not starting with `_`;
/// letters and digits of any script) for a table as `init` found it: lower case, every
/// run of other characters one `_`, so that `"Order Items"` is `order_items`, PostgreSQL's
/// `sales.orders` is `sales_orders` and `موارد` stays `موارد`. `None` when nothing usable
/// is left.
pub fn service_name(table: &str) -> Option<String> {
    let mut out = String::with_capacity(table.len());
    for c in table.chars() {
        if c.is_alphanumeric() || c == '-' {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    (!out.is_empty()).then(|| out.to_string())
}

/// The file of a `sqlite://` URL, when it names one (not `:memory:`, not a URI with
/// `mode=memory`); `None` for other backends.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// For the commands that only look at a database (`init`, `check`): a SQLite file that
/// does not exist is an error naming it, where opening it would create an empty one.
pub fn require_sqlite_file(url: &str) -> Result<(), String> {
    match sqlite_file(url) {
        Some(path) if !path.exists() => Err(format!(
            "the SQLite database {} does not exist (check the path in the database URL)",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// `sqlite://music.db` in the file means `music.db` beside the file.
fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_string();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let joined = base.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

fn set_override(doc: &mut toml::Table, section: &str, key: &str, raw: &str) {
    let value = if matches!(
        key,
        "url" | "bind" | "init_sql" | "notify_channel" | "instance_id"
    ) {
        toml::Value::String(raw.to_string())
    } else if key == "cors_origins" || key == "replicas" {
        match format!("v = {raw}").parse::<toml::Table>() {
            Ok(mut t) if t.get("v").is_some_and(toml::Value::is_array) => {
                t.remove("v").unwrap_or(toml::Value::Array(Vec::new()))
            }
            _ => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ),
        }
    } else {
        match format!("v = {raw}").parse::<toml::Table>() {
            Ok(mut t) => t
                .remove("v")
                .unwrap_or_else(|| toml::Value::String(raw.to_string())),
            Err(_) => toml::Value::String(raw.to_string()),
        }
    };
    let entry = doc
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = entry {
        t.insert(key.to_string(), value);
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A services.toml exposing every table found (`restable init`).
pub fn render_init(
    url: &str,
    tables: &[String],
    introspected: &[Option<crate::schema::Table>],
) -> String {
    const SECRET_HINTS: [&str; 6] = ["password", "passwd", "secret", "token", "api_key", "hash"];
    let mut out = String::new();
    out.push_str(
        "# services.toml written by `restable init`. Every table found is exposed below;\n",
    );
    out.push_str(
        "# delete the sections you do not want served. docs/configuration.md lists every key.\n\n",
    );
    out.push_str("[server]\nbind = \"127.0.0.1:8080\"\nmax_rows = 1000\n\n");
    out.push_str(&format!(
        "[database]\nurl = {}\n",
        toml::Value::String(url.to_string())
    ));
    // A name that is already a service name is kept; the others are cleaned up, and one
    // that then collides (`Order Items` beside `order_items`) gets `_2`, `_3`, ...
    let usable = |name: &str| {
        !name.is_empty()
            && !name.starts_with('_')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    let mut taken: Vec<String> = tables.iter().filter(|t| usable(t)).cloned().collect();
    for (n, name) in tables.iter().enumerate() {
        let section = if usable(name) {
            name.clone()
        } else {
            let base = service_name(name).unwrap_or_else(|| format!("table_{}", n + 1));
            let mut section = base.clone();
            let mut k = 2;
            while taken.contains(&section) {
                section = format!("{base}_{k}");
                k += 1;
            }
            taken.push(section.clone());
            section
        };
        out.push('\n');
        let table = introspected.get(n).and_then(Option::as_ref);
        if let Some(t) = table {
            out.push_str(&format!(
                "# {} {} ({}{})\n",
                if t.is_view { "view" } else { "table" },
                name,
                crate::column_count(t.columns.len()),
                if t.primary_key.is_empty() {
                    ", no primary key".to_string()
                } else {
                    format!(", key {}", t.primary_key.join(", "))
                }
            ));
        }
        // A bare TOML key is ASCII only: `[services."日本"]`.
        let key = if section
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            section.clone()
        } else {
            toml::Value::String(section.clone()).to_string()
        };
        out.push_str(&format!("[services.{key}]\n"));
        if section != *name {
            out.push_str(&format!("table = {}\n", toml::Value::String(name.clone())));
        }
        if let Some(t) = table {
            let secrets: Vec<String> = t
                .columns
                .iter()
                .filter(|c| {
                    let l = c.name.to_ascii_lowercase();
                    SECRET_HINTS.iter().any(|h| l.contains(h))
                })
                .map(|c| toml::Value::String(c.name.clone()).to_string())
                .collect();
            if !secrets.is_empty() {
                out.push_str(&format!(
                    "hidden = [{}]   # looks secret: never served\n",
                    secrets.join(", ")
                ));
            }
            if t.is_view {
                out.push_str("methods = [\"GET\"]\n# primary_key = [\"id\"]   # give a view a key to get /{service}/{key} URLs\n");
            }
        }
    }
    out
}

/// The kind of database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// Which backend a database URL names.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "mysql" | "mariadb" => Ok(Backend::MySql),
        _ => Err(format!(
            "'{}' is not a database URL: use sqlite://path, postgres://... or mysql://...",
            redact_url(url)
        )),
    }
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)], o: Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(text, Path::new("/etc/r/services.toml"), &o, &env)
    }

    const MIN: &str = "[services.artists]\n";

    #[test]
    fn defaults_and_relative_sqlite_path() {
        let c = parse(MIN, &[], Overrides::default()).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.server.max_rows, 1000);
        assert_eq!(c.database.url, "sqlite:///etc/r/music.db");
        assert_eq!(c.database.pool_size, 16);
        assert_eq!(c.database.sqlite_cache_mib, 8);
    }

    #[test]
    fn admin_default_follows_the_bind_address() {
        let on = |text: &str, env: &[(&str, &str)]| {
            parse(text, env, Overrides::default())
                .unwrap()
                .server
                .admin_enabled()
        };
        assert!(on(MIN, &[]), "default bind 127.0.0.1 serves the admin page");
        for bind in ["127.0.0.1:9", "127.0.0.2:9", "[::1]:9"] {
            let text = format!("[server]\nbind = \"{bind}\"\n{MIN}");
            assert!(on(&text, &[]), "{bind}");
        }
        for bind in ["0.0.0.0:9", "[::]:9", "10.1.2.3:9", "192.168.0.1:9"] {
            let text = format!("[server]\nbind = \"{bind}\"\n{MIN}");
            assert!(!on(&text, &[]), "{bind}");
        }
        assert!(is_loopback_bind("localhost:8080"));
        assert!(is_loopback_bind("LOCALHOST:80"));
        assert!(!is_loopback_bind("example.com:80"));
        // The key wins over the default, the environment over the key.
        let public = "[server]\nbind = \"0.0.0.0:9\"\nadmin = true\n[services.a]\n";
        assert!(on(public, &[]));
        let local = "[server]\nadmin = false\n[services.a]\n";
        assert!(!on(local, &[]));
        assert!(on(local, &[("RESTABLE_SERVER_ADMIN", "true")]));
        assert!(!on(MIN, &[("RESTABLE_SERVER_ADMIN", "false")]));
        let bad = parse(
            MIN,
            &[("RESTABLE_SERVER_ADMIN", "yes")],
            Overrides::default(),
        );
        assert!(bad.is_err(), "a non-boolean admin value is refused");
    }

    #[test]
    fn init_service_names() {
        assert_eq!(service_name("Order Items").as_deref(), Some("order_items"));
        assert_eq!(
            service_name("sales.orders").as_deref(),
            Some("sales_orders")
        );
        assert_eq!(service_name("\"a.b\"").as_deref(), Some("a_b"));
        assert_eq!(service_name("__x  y__").as_deref(), Some("x_y"));
        assert_eq!(service_name("Big-Table").as_deref(), Some("big-table"));
        assert_eq!(service_name("日本").as_deref(), Some("日本"));
        assert_eq!(service_name("!!"), None);
        let tables = [
            "Order Items".to_string(),
            "order_items".to_string(),
            "日本".into(),
            "!!".into(),
        ];
        let out = render_init("sqlite://x.db", &tables, &[]);
        let doc: toml::Table = out.parse().expect("TOML");
        let services = doc["services"].as_table().expect("services");
        assert_eq!(services["order_items"].get("table"), None);
        assert_eq!(
            services["order_items_2"]["table"].as_str(),
            Some("Order Items")
        );
        // Letters of any script are kept as they are.
        assert_eq!(services["日本"].get("table"), None);
        assert_eq!(services["table_4"]["table"].as_str(), Some("!!"));
    }

    #[test]
    fn sqlite_files() {
        assert_eq!(
            sqlite_file("sqlite://a/b.db"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:b.db?mode=ro"),
            Some(PathBuf::from("b.db"))
        );
        assert_eq!(sqlite_file("sqlite://:memory:"), None);
        assert_eq!(sqlite_file("sqlite://x?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
        assert!(require_sqlite_file("sqlite:///nonexistent/typo.db")
            .unwrap_err()
            .contains("/nonexistent/typo.db does not exist"));
        assert!(require_sqlite_file("postgres://h/db").is_ok());
    }

    #[test]
    fn instance_id_default_env_and_bounds() {
        let c = parse(MIN, &[], Overrides::default()).unwrap();
        let id = c.server.instance_id();
        assert!(
            id.ends_with(&format!("-{}", std::process::id())) && id.len() > 2,
            "{id}"
        );
        let c = parse(
            MIN,
            &[("RESTABLE_SERVER_INSTANCE_ID", "web-1")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.server.instance_id(), "web-1");
        for bad in ["", "a b", "x\\n"] {
            let text = format!("[server]\ninstance_id = \"{bad}\"\n{MIN}");
            let e = parse(&text, &[], Overrides::default()).unwrap_err();
            assert_eq!(e.key, "server.instance_id", "{bad:?}");
        }
    }

    #[test]
    fn schema_reload_keys_defaults_env_and_bounds() {
        let c = parse(MIN, &[], Overrides::default()).unwrap();
        assert_eq!(c.database.notify_channel, "restable");
        // SQLite (MIN) polls by default; PostgreSQL does not (it LISTENs).
        assert_eq!(
            c.database.schema_poll(),
            Some(std::time::Duration::from_millis(DEFAULT_SCHEMA_POLL_MS))
        );
        let pg = parse(
            MIN,
            &[("RESTABLE_DATABASE_URL", "postgres://h/db")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(pg.database.schema_poll(), None);
        let c = parse(
            MIN,
            &[
                ("RESTABLE_DATABASE_NOTIFY_CHANNEL", "schema_events"),
                ("RESTABLE_DATABASE_SCHEMA_POLL_MS", "250"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.database.notify_channel, "schema_events");
        assert_eq!(
            c.database.schema_poll(),
            Some(std::time::Duration::from_millis(250))
        );
        let off = parse(
            &format!("[database]\nschema_poll_ms = 0\nnotify_channel = \"\"\n{MIN}"),
            &[],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(off.database.schema_poll(), None);
        assert_eq!(off.database.notify_channel, "");
        for (bad, key) in [
            ("notify_channel = \"a b\"", "database.notify_channel"),
            ("notify_channel = \"1x\"", "database.notify_channel"),
            ("schema_poll_ms = 86400001", "database.schema_poll_ms"),
        ] {
            let e = parse(
                &format!("[database]\n{bad}\n{MIN}"),
                &[],
                Overrides::default(),
            )
            .unwrap_err();
            assert_eq!(e.key, key, "{bad}");
        }
    }

    #[test]
    fn replicas_same_backend_postgres_only() {
        let c = parse(MIN, &[], Overrides::default()).unwrap();
        assert!(c.database.replicas.is_empty());
        assert_eq!(c.database.max_replica_lag_ms, 5000);
        let pg = |db: &str| {
            parse(
                &format!("[database]\nurl = \"postgres://h/db\"\n{db}\n{MIN}"),
                &[],
                Overrides::default(),
            )
        };
        let c = pg("replicas = [\"postgres://r1/db\", \"postgresql://u:pw@r2/db\"]\nmax_replica_lag_ms = 250").unwrap();
        assert_eq!(c.database.replicas.len(), 2);
        assert_eq!(c.database.max_replica_lag_ms, 250);
        // From the environment: a TOML array, or a comma-separated list.
        for list in [
            "[\"postgres://r1/db\",\"postgres://r2/db\"]",
            "postgres://r1/db, postgres://r2/db",
        ] {
            let c = parse(
                MIN,
                &[
                    ("RESTABLE_DATABASE_URL", "postgres://h/db"),
                    ("RESTABLE_DATABASE_REPLICAS", list),
                ],
                Overrides::default(),
            )
            .unwrap();
            assert_eq!(
                c.database.replicas,
                ["postgres://r1/db", "postgres://r2/db"],
                "{list}"
            );
        }
        for (db, key, says) in [
            (
                "replicas = [\"mysql://r/db\"]",
                "database.replicas[0]",
                "same backend",
            ),
            (
                "replicas = [\"postgres://r/db\", \"sqlite://x.db\"]",
                "database.replicas[1]",
                "same backend",
            ),
            (
                "replicas = [\"postgres://r/db\", \"postgres://r/db\"]",
                "database.replicas[1]",
                "twice",
            ),
            (
                "max_replica_lag_ms = 86400001",
                "database.max_replica_lag_ms",
                "a day",
            ),
        ] {
            let e = pg(db).unwrap_err();
            assert_eq!(e.key, key, "{db}");
            assert!(e.message.contains(says), "{db}: {}", e.message);
        }
        let e = parse(
            &format!("[database]\nurl = \"mysql://h/db\"\nreplicas = [\"mysql://r/db\"]\n{MIN}"),
            &[],
            Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.key, "database.replicas");
        assert!(e.message.contains("PostgreSQL-only"), "{}", e.message);
        let e = parse(
            &format!("[database]\nreplicas = [\"postgres://r/db\"]\n{MIN}"),
            &[],
            Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.key, "database.replicas");
        assert!(e.message.contains("SQLite"), "{}", e.message);
    }

    #[test]
    fn sqlite_cache_mib_bounds_and_env() {
        let c = parse(
            MIN,
            &[("RESTABLE_DATABASE_SQLITE_CACHE_MIB", "64")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.database.sqlite_cache_mib, 64);
        for bad in ["0", "65537"] {
            let text = format!("[database]\nsqlite_cache_mib = {bad}\n{MIN}");
            let e = parse(&text, &[], Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("database.sqlite_cache_mib"), "{e}");
            assert!(e.to_string().contains("65536"), "{e}");
        }
    }

    #[test]
    fn connection_timeouts_and_cap() {
        let c = parse(MIN, &[], Overrides::default()).unwrap();
        assert_eq!(c.server.header_timeout_ms, 10_000);
        assert_eq!(c.server.idle_timeout_ms, 75_000);
        assert_eq!(c.server.body_timeout_ms, 30_000);
        assert_eq!(c.server.max_connections, 0);
        let text = format!(
            "[server]\nheader_timeout_ms = 1\nidle_timeout_ms = 2\nbody_timeout_ms = 3\nmax_connections = 4\n{MIN}"
        );
        let c = parse(
            &text,
            &[
                ("RESTABLE_SERVER_IDLE_TIMEOUT_MS", "20"),
                ("RESTABLE_SERVER_MAX_CONNECTIONS", "40"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            (
                c.server.header_timeout_ms,
                c.server.idle_timeout_ms,
                c.server.body_timeout_ms,
                c.server.max_connections
            ),
            (1, 20, 3, 40)
        );
        for key in ["header_timeout_ms", "idle_timeout_ms", "body_timeout_ms"] {
            for bad in ["0", "86400001"] {
                let text = format!("[server]\n{key} = {bad}\n{MIN}");
                let e = parse(&text, &[], Overrides::default()).unwrap_err();
                assert_eq!(e.key, format!("server.{key}"), "{e}");
                assert!(e.to_string().contains("from 1 to 86400000"), "{e}");
            }
        }
        let e = parse(
            MIN,
            &[("RESTABLE_SERVER_MAX_CONNECTIONS", "-1")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("max_connections"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse(
            "[server]\nbindd = 1\n[services.a]\n",
            &[],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bindd"), "{e}");
        assert!(e.to_string().contains("/etc/r/services.toml"), "{e}");
        let e = parse("[services.a]\nhiden = []\n", &[], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("hiden"), "{e}");
    }

    #[test]
    fn precedence_flag_env_file() {
        let text = "[server]\nbind = \"127.0.0.1:1\"\nmax_rows = 5\n[services.a]\n";
        let c = parse(text, &[], Overrides::default()).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:1");
        let env = [
            ("RESTABLE_SERVER_BIND", "127.0.0.1:2"),
            ("RESTABLE_SERVER_MAX_ROWS", "7"),
            (
                "RESTABLE_SERVER_CORS_ORIGINS",
                "https://a.example,https://b.example",
            ),
        ];
        let c = parse(text, &env, Overrides::default()).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:2");
        assert_eq!(c.server.max_rows, 7);
        assert_eq!(c.server.cors_origins.len(), 2);
        let o = Overrides {
            bind: Some("127.0.0.1:3".into()),
            database_url: Some("sqlite://x.db".into()),
        };
        let c = parse(text, &env, o).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:3");
        assert_eq!(c.database.url, "sqlite://x.db");
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let e = parse(MIN, &[("RESTABLE_SERVER_PORTT", "1")], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("portt"), "{e}");
    }

    #[test]
    fn bad_service_names() {
        for name in ["_x", "\"a b\"", "\"a.b\""] {
            let e = parse(&format!("[services.{name}]\n"), &[], Overrides::default());
            assert!(e.is_err(), "{name}");
        }
        let e = parse(
            "[services.a]\nmethods = [\"FETCH\"]\n",
            &[],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("services.a.methods"), "{e}");
    }
}
