//! Connections: the listening socket, the accept loop and the life of each connection.
//! Owns the listen backlog, the connection cap (`max_connections`), the header and idle
//! deadlines of every connection, the open-file limit and graceful shutdown. It speaks
//! HTTP/1.1 through hyper and hands each request to `http::Api` as a poem request; it
//! knows nothing of what a request means beyond "its head has arrived" and "its response
//! has been sent". The body deadline belongs to the handlers, which read the body.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use poem::Endpoint;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::Api;
use crate::config::Config;
use crate::error::ApiError;

/// Connections the kernel queues before restable accepts them (capped by the kernel's
/// `net.core.somaxconn`). A burst of thousands of connects is queued, not dropped and
/// retried by the clients a second or more later, as with the usual 128.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Below this many open files restable warns at start-up.
pub const LOW_OPEN_FILES: u64 = 4096;

/// Files kept for everything but client connections when `max_connections` is sized from
/// the open-file limit: the pool's connections (`pool_size` x 4 covers SQLite's database,
/// WAL and shared-memory files), logs, the config file and slack.
const RESERVED_FILES: u64 = 128;

/// At most this many refusals (503 at the cap) are being written at once; past it a
/// refused connection is closed without an answer.
const MAX_REFUSING: usize = 64;

/// Bind `addr` with a backlog of `LISTEN_BACKLOG` (and SO_REUSEADDR, so a restart finds
/// the port free while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

static OPEN_FILES: OnceLock<u64> = OnceLock::new();

/// Raise the soft open-file limit to the hard one (once per process) and return the
/// limit now in force; warns when it is still under `LOW_OPEN_FILES`.
pub fn raise_open_file_limit() -> u64 {
    *OPEN_FILES.get_or_init(|| {
        let (soft, hard) = match nofile::raise() {
            Ok(limits) => limits,
            Err(e) => {
                tracing::warn!("cannot read or raise the open-file limit: {e}");
                return 1024;
            }
        };
        if soft < LOW_OPEN_FILES {
            tracing::warn!(
                "the open-file limit is {soft} (hard limit {hard}): restable can hold about \
                 {} client connections; raise it (LimitNOFILE= under systemd, ulimit -n)",
                soft.saturating_sub(RESERVED_FILES)
            );
        }
        soft
    })
}

#[cfg(unix)]
mod nofile {
    /// (soft, hard) after raising soft to hard.
    pub fn raise() -> std::io::Result<(u64, u64)> {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if rl.rlim_cur < rl.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            // SAFETY: setrlimit reads one `rlimit` through a valid pointer to a local.
            // Failing (macOS refuses more than OPEN_MAX) keeps the old limit.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
        // rlim_t is u64 on Linux and macOS, narrower elsewhere.
        #[allow(clippy::useless_conversion)]
        Ok((u64::from(rl.rlim_cur), u64::from(rl.rlim_max)))
    }
}

#[cfg(not(unix))]
mod nofile {
    pub fn raise() -> std::io::Result<(u64, u64)> {
        Ok((u64::MAX, u64::MAX))
    }
}

/// What a new connection is held to, from the configuration serving when it arrives.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    idle: Duration,
    max_connections: u64,
}

impl Limits {
    fn of(config: &Config) -> Limits {
        let s = &config.server;
        Limits {
            header: Duration::from_millis(s.header_timeout_ms),
            idle: Duration::from_millis(s.idle_timeout_ms),
            max_connections: max_connections(config),
        }
    }
}

/// `[server] max_connections`, or when it is 0 the open-file limit less what the pool and
/// the rest of the process need (at least 16).
pub fn max_connections(config: &Config) -> u64 {
    if config.server.max_connections > 0 {
        return config.server.max_connections;
    }
    let files = raise_open_file_limit();
    let pool = u64::from(config.database.pool_size).saturating_mul(4);
    files
        .saturating_sub(RESERVED_FILES)
        .saturating_sub(pool)
        .max(16)
}

/// Where a connection is: waiting for (or reading) a request head, idle between requests,
/// or busy with a request.
const HEAD: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;

/// One connection's phase and the time it entered it, shared by its socket wrapper, its
/// service and its watchdog (all run in the connection's one task).
struct Clock {
    opened: Instant,
    phase: AtomicU8,
    /// Milliseconds after `opened` the phase began.
    since: AtomicU64,
    /// Milliseconds after `opened` + 1 since a write has been waiting for the client to
    /// read; 0 when no write is waiting.
    blocked: AtomicU64,
    changed: Notify,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            opened: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            blocked: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// When the connection must be closed if nothing changes, and why.
    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        let at = |ms: u64, limit: Duration| self.opened + Duration::from_millis(ms) + limit;
        let since = self.since.load(Ordering::Relaxed);
        match self.phase.load(Ordering::Relaxed) {
            HEAD => Some((at(since, limits.header), "header")),
            IDLE => Some((at(since, limits.idle), "idle")),
            _ => match self.blocked.load(Ordering::Relaxed) {
                0 => None,
                b => Some((at(b - 1, limits.idle), "send")),
            },
        }
    }

    /// Resolves when a deadline has passed: the reason.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            match self.deadline(limits) {
                Some((at, why)) => {
                    if at <= Instant::now() {
                        return why;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// The client socket, telling the clock when a new request's first bytes arrive and when
/// a write waits for the client. It also percent-encodes the characters of a request
/// line's query that clients such as curl send as they are and the HTTP parser refuses
/// (`"`, `<`, `>`: PostgREST's `in.("a,b")`, `data->>name`), so such a URL reaches the
/// query grammar rather than answering an empty 400.
struct Watched {
    inner: TcpStream,
    clock: Arc<Clock>,
    /// The bytes read next may begin a request line (the connection is new, or idle).
    line_start: bool,
    /// Rewritten request-line bytes that did not fit the reader's buffer.
    pending: Vec<u8>,
}

/// Whether `b` must be percent-encoded in a request target for the HTTP parser.
fn refused_in_target(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>')
}

impl Watched {
    fn new(inner: TcpStream, clock: Arc<Clock>) -> Watched {
        Watched {
            inner,
            clock,
            line_start: true,
            pending: Vec::new(),
        }
    }

    /// Rewrite the request line at `buf.filled()[from..]`, if those bytes begin one
    /// (`METHOD /...`): its refused characters become `%XX`; what does not fit waits in
    /// `pending`. Bytes that do not look like a request line are left alone.
    fn rewrite_line(&mut self, buf: &mut ReadBuf<'_>, from: usize) {
        let new = &buf.filled()[from..];
        let method = new.iter().take_while(|b| b.is_ascii_uppercase()).count();
        if method == 0 || new.get(method) != Some(&b' ') {
            return;
        }
        let end = new.iter().position(|&b| b == b'\n').unwrap_or(new.len());
        let Some(first) = new[..end].iter().position(|&b| refused_in_target(b)) else {
            return;
        };
        let cut = from + first;
        let rest = buf.filled()[cut..].to_vec();
        let line_end = end - first;
        let mut out = Vec::with_capacity(rest.len() + 16);
        for (i, &b) in rest.iter().enumerate() {
            if i < line_end && refused_in_target(b) {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            } else {
                out.push(b);
            }
        }
        buf.set_filled(cut);
        let room = buf.remaining().min(out.len());
        buf.put_slice(&out[..room]);
        self.pending = out.split_off(room);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            let n = buf.remaining().min(self.pending.len());
            buf.put_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut line = std::mem::take(&mut self.line_start);
            let clock = &self.clock;
            if clock.phase.load(Ordering::Relaxed) == IDLE {
                clock.enter(HEAD);
                line = true;
            }
            if line {
                self.rewrite_line(buf, before);
            }
        }
        polled
    }
}

impl Watched {
    fn note_write<T>(&self, polled: &Poll<io::Result<T>>) {
        let clock = &self.clock;
        match polled {
            Poll::Pending => {
                if clock.blocked.load(Ordering::Relaxed) == 0 {
                    clock.blocked.store(clock.now_ms() + 1, Ordering::Relaxed);
                    clock.changed.notify_one();
                }
            }
            Poll::Ready(_) => clock.blocked.store(0, Ordering::Relaxed),
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.note_write(&polled);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that tells the clock when it is done (sent, or dropped with the
/// connection): the connection is idle from then on.
struct Sent<B> {
    inner: B,
    clock: Arc<Clock>,
}

impl<B> Drop for Sent<B> {
    fn drop(&mut self) {
        self.clock.enter(IDLE);
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Sent<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Finish the request in flight, then close.
    Graceful,
    /// Close now.
    Now,
}

/// Serve one connection until it closes, a deadline passes or the server stops.
async fn connection(
    stream: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    api: Arc<Api>,
    limits: Limits,
    mut stop: watch::Receiver<Stop>,
) {
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(Clock::new());
    let io = hyper_util::rt::TokioIo::new(Watched::new(stream, Arc::clone(&clock)));
    let local_addr = poem::web::LocalAddr(poem::Addr::SocketAddr(local));
    let remote_addr = poem::web::RemoteAddr(poem::Addr::SocketAddr(remote));
    let service_clock = Arc::clone(&clock);
    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
        service_clock.enter(BUSY);
        let req = poem::Request::from((
            req,
            local_addr.clone(),
            remote_addr.clone(),
            poem::http::uri::Scheme::HTTP,
        ));
        let api = Arc::clone(&api);
        let clock = Arc::clone(&service_clock);
        async move {
            let resp: hyper::Response<_> = api.get_response(req).await.into();
            Ok::<_, Infallible>(resp.map(|inner| Sent { inner, clock }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The deadlines are the clock's, which knows idle from busy; hyper's own header timer
    // also runs while a connection is idle, and needs a timer of its own.
    builder.keep_alive(true).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        why = clock.expired(limits) => {
            tracing::debug!(%remote, "closing the connection: {why} timeout");
            return;
        }
        _ = stop.wait_for(|s| *s != Stop::Run) => {}
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = clock.expired(limits) => {}
        _ = stop.wait_for(|s| *s == Stop::Now) => {}
    }
}

/// Answer a connection over the cap with a 503 and close it, within a second.
async fn refuse(mut stream: TcpStream, max: u64) {
    let body = ApiError::TooManyConnections { max }.body_text();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the connection before it
        // has read the answer.
        let mut sink = [0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
            if n == 0 {
                return Ok::<_, io::Error>(());
            }
        }
    })
    .await;
}

/// A warning printed at most every 10 s, counting what happened in between.
struct Throttled {
    last: Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(10);

    fn new() -> Throttled {
        Throttled {
            last: Mutex::new(None),
            count: AtomicU64::new(0),
        }
    }

    /// Count one; `Some(n)` (the count since the last warning) when it is time to warn.
    fn note(&self) -> Option<u64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return None;
        }
        *last = Some(Instant::now());
        Some(self.count.swap(0, Ordering::Relaxed))
    }
}

/// Accept and serve connections on `listener` until `stop` resolves; then stop accepting,
/// let each connection finish the request it is on for at most `grace`, and close them.
pub async fn serve(
    listener: TcpListener,
    api: Arc<Api>,
    stop: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (tx, rx) = watch::channel(Stop::Run);
    let mut conns = JoinSet::new();
    let mut refusals = JoinSet::new();
    let refused = Throttled::new();
    let failed = Throttled::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            Some(_) = refusals.join_next(), if !refusals.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let limits = Limits::of(&api.server.state.load().config);
                    let open = u64::try_from(conns.len()).unwrap_or(u64::MAX);
                    if open >= limits.max_connections {
                        if let Some(n) = refused.note() {
                            tracing::warn!(
                                "refused {n} connection(s) since the last warning: {open} \
                                 open, the limit (server.max_connections = {})",
                                limits.max_connections
                            );
                        }
                        if refusals.len() < MAX_REFUSING {
                            refusals.spawn(refuse(stream, limits.max_connections));
                        }
                        continue;
                    }
                    conns.spawn(connection(stream, local, remote, Arc::clone(&api), limits, rx.clone()));
                }
                Err(e) => {
                    if let Some(n) = failed.note() {
                        tracing::warn!("accepting connections fails ({n} time(s) since the last warning): {e}");
                    }
                    // Out of file descriptors (EMFILE) fails at once, again and again:
                    // give connections a moment to close instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = tx.send(Stop::Graceful);
    refusals.abort_all();
    let _ = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    let _ = tx.send(Stop::Now);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    Ok(())
}
