//! The `restable` command line: parse arguments, build the configuration, call the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use restable::{Config, Overrides};

/// Serve database tables as a JSON REST API (PostgREST-compatible URLs).
#[derive(Parser)]
#[command(name = "restable", version, about, long_about = None)]
struct Cli {
    /// Config file [default: $RESTABLE_CONFIG, else ./services.toml]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides [server] bind)
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Database URL: sqlite://path, postgres://..., mysql://... (overrides [database] url)
    #[arg(long = "database-url", global = true)]
    database_url: Option<String>,
    /// Log format on stderr: text or json (one object per line)
    #[arg(long = "log-format", global = true, env = "RESTABLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Load the config, introspect the database, print the routes; exit 0 if all is well.
    Check,
    /// Print a services.toml that exposes every table of --database-url.
    Init,
    /// Load the config, introspect the database, print the OpenAPI 3.1 document.
    Openapi,
}

fn init_logging(format: LogFormat) {
    let spec = ["RESTABLE_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
    let mut filter = spec
        .as_deref()
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    // poem logs its own `listening addr=socket://...` and `server started` beside our
    // `listening on http://...`: one start-up line is enough, unless poem is asked for.
    if !spec.as_deref().is_some_and(|s| s.contains("poem")) {
        if let Ok(d) = "poem::server=warn".parse() {
            filter = filter.add_directive(d);
        }
    }
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::format as fmt_format;
    // Logs go to stderr, so `check`, `init` and `openapi` output on stdout stays clean.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Structured: one JSON object per line, span fields (request_id, method, path) included.
        LogFormat::Json => builder
            .fmt_fields(fmt_format::JsonFields::new())
            .event_format(WithInstance {
                inner: fmt_format()
                    .json()
                    .with_target(false)
                    .with_current_span(true)
                    .with_span_list(false),
                json: true,
            })
            .init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .event_format(WithInstance {
                inner: fmt_format().with_target(false),
                json: false,
            })
            .init(),
    }
}

/// `[server] instance_id`, once the configuration is loaded: every log line after that
/// carries it (lines before it, such as a config error, have none).
static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// An event format that puts the instance id first: `[web-1] 2026-... INFO ...` as text,
/// `{"instance":"web-1",...}` as JSON.
struct WithInstance<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithInstance<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(id) = INSTANCE.get() else {
            return self.inner.format_event(ctx, writer, event);
        };
        if self.json {
            let mut line = String::new();
            self.inner.format_event(
                ctx,
                tracing_subscriber::fmt::format::Writer::new(&mut line),
                event,
            )?;
            match line.strip_prefix('{') {
                Some(rest) => {
                    let id = serde_json::Value::String(id.clone());
                    write!(writer, "{{\"instance\":{id},{rest}")
                }
                None => writer.write_str(&line),
            }
        } else {
            write!(writer, "[{id}] ")?;
            self.inner.format_event(ctx, writer, event)
        }
    }
}

fn main() -> ExitCode {
    // Process-wide SQLite settings go in before anything opens a connection.
    restable::exec::sqlite::configure_process();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("restable: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let overrides = Overrides {
        bind: cli.bind.clone(),
        database_url: cli.database_url.clone(),
    };
    if let Some(Command::Init) = cli.command {
        return init(cli.database_url.as_deref()).await;
    }
    let file = Config::locate(cli.config.as_deref());
    let config = match Config::load(&file, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("restable: {e}");
            // `check` answers 0/1; starting the server fails with 2.
            let code = if matches!(cli.command, Some(Command::Check | Command::Openapi)) {
                1
            } else {
                2
            };
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Some(Command::Check) => check(config).await,
        Some(Command::Openapi) => openapi(config).await,
        _ => serve(config, file, overrides).await,
    }
}

async fn check(config: Config) -> ExitCode {
    // `check` looks, it never creates: a missing SQLite file is an error, not a new file.
    if let Err(e) = restable::config::require_sqlite_file(&config.database.url) {
        eprintln!("restable check: {e}");
        return ExitCode::from(1);
    }
    match restable::state::build(config).await {
        Ok(state) => {
            for svc in state.cache.services.values() {
                let methods: Vec<&str> = svc.methods.iter().map(|m| m.as_str()).collect();
                println!(
                    "{:<24} /{:<20} -> table {} ({}, key: {})",
                    if methods.is_empty() {
                        "(embedding only)".to_string()
                    } else {
                        methods.join(" ")
                    },
                    svc.name,
                    svc.table.name,
                    restable::column_count(svc.columns.len()),
                    if svc.primary_key.is_empty() {
                        "none".to_string()
                    } else {
                        svc.primary_key.join(", ")
                    }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("restable: {e}");
            ExitCode::from(1)
        }
    }
}

async fn openapi(config: Config) -> ExitCode {
    match restable::state::build(config).await {
        Ok(state) => {
            let doc = restable::openapi::document(&state.cache, None);
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("restable openapi: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("restable: {e}");
            ExitCode::from(1)
        }
    }
}

async fn init(url: Option<&str>) -> ExitCode {
    let Some(url) = url
        .map(str::to_string)
        .or_else(|| std::env::var("RESTABLE_DATABASE_URL").ok())
    else {
        eprintln!("restable init: give --database-url URL");
        return ExitCode::from(2);
    };
    if let Err(e) = restable::config::require_sqlite_file(&url) {
        eprintln!("restable init: {e}");
        return ExitCode::from(2);
    }
    let cfg = restable::config::DatabaseConfig {
        url: url.clone(),
        ..Default::default()
    };
    let db = match restable::exec::Database::open(&cfg, Duration::from_secs(10)).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("restable init: {e}");
            return ExitCode::from(2);
        }
    };
    let tables = match db.list_tables().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("restable init: {e}");
            return ExitCode::from(2);
        }
    };
    let introspected = db.introspect(tables.clone()).await.unwrap_or_default();
    print!(
        "{}",
        restable::config::render_init(&url, &tables, &introspected)
    );
    ExitCode::SUCCESS
}

async fn serve(config: Config, file: PathBuf, overrides: Overrides) -> ExitCode {
    // A change of instance_id on reload is not applied: it names the process.
    let _ = INSTANCE.set(config.server.instance_id());
    // Listen for signals before serving, so an early SIGTERM still shuts down cleanly.
    let stop = shutdown_signal();
    // What the config file held when it was loaded: a change made while the server starts
    // is picked up by the first look at the file.
    let loaded = std::fs::read(&file).ok();
    let grace = Duration::from_millis(config.server.request_timeout_ms.max(1000));
    let running = match restable::start(config, grace).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("restable: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!("listening on http://{}", running.addr);
    let server = std::sync::Arc::clone(&running.server);
    tokio::spawn(restable::watch_reload(server, file, overrides, loaded));
    stop.await;
    tracing::info!("shutting down: finishing requests in flight");
    match running.stop(grace).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("restable: {e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
