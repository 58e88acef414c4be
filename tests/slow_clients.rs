//! Slow and idle clients cannot starve the server (SPEC §5): with 1,100 idle sockets,
//! slowloris clients (a header a byte at a time) and slow bodies open, a normal client is
//! still answered at once; the header, idle and body timeouts close the slow ones; past
//! `max_connections` a connection gets a 503 `too_many_connections` at once.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// The timeouts of the test server: short, so the test is.
const HEADER_MS: u64 = 2000;
const IDLE_MS: u64 = 3000;
const BODY_MS: u64 = 1500;

fn addr(s: &TestServer) -> SocketAddr {
    s.base
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// One request on a fresh connection (`Connection: close`): status and body.
fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    tcp.write_all(request.as_bytes()).expect("send");
    read_response(&mut tcp)
}

/// Read until the server closes: status and body.
fn read_response(tcp: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// True once the server has closed `tcp` (EOF or reset), false while it is open.
fn closed(tcp: &mut TcpStream) -> bool {
    let _ = tcp.set_nonblocking(true);
    let mut buf = [0u8; 512];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Wait up to `within` for every socket to be closed by the server; the number still open.
fn wait_closed(socks: &mut [TcpStream], within: Duration) -> usize {
    let until = Instant::now() + within;
    loop {
        let mut open = 0;
        for s in socks.iter_mut() {
            if !closed(s) {
                open += 1;
            }
        }
        if open == 0 || Instant::now() >= until {
            return open;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many idle sockets this process can afford: 1,100, or fewer under a low open-file
/// limit (each costs two descriptors here, the client's and the server's).
fn idle_count() -> usize {
    let limit = restable::http::listen::raise_open_file_limit();
    let affordable = usize::try_from(limit.saturating_sub(400) / 2).unwrap_or(usize::MAX);
    if affordable < 1100 {
        eprintln!("open-file limit {limit}: {affordable} idle sockets instead of 1,100");
    }
    affordable.min(1100)
}

#[test]
fn idle_and_slow_clients_do_not_starve_the_server() {
    let idle = idle_count();
    for b in backends() {
        let toml = format!(
            "[server]\nheader_timeout_ms = {HEADER_MS}\nidle_timeout_ms = {IDLE_MS}\n\
             body_timeout_ms = {BODY_MS}\nmax_connections = 5000\n{MUSIC_TOML}"
        );
        let s = TestServer::fixture(b, "music", &toml);
        let a = addr(&s);
        let opened = Instant::now();
        let mut idle_socks: Vec<TcpStream> = (0..idle)
            .map(|_| TcpStream::connect(a).expect("connect an idle socket"))
            .collect();
        // Slowloris: a header a byte every 200 ms, never finished.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut lorises: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut t = TcpStream::connect(a).expect("connect");
                t.write_all(b"GET /_health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .expect("send");
                t
            })
            .collect();
        // Slow bodies: the head whole, then 4 of 100 announced bytes.
        let mut bodies: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut t = TcpStream::connect(a).expect("connect");
                t.write_all(
                    b"POST /artists HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                      Content-Length: 100\r\n\r\n{\"na",
                )
                .expect("send");
                t
            })
            .collect();
        let dripper = {
            let mut socks: Vec<TcpStream> = lorises
                .iter()
                .chain(bodies.iter())
                .map(|t| t.try_clone().expect("clone"))
                .collect();
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for t in &mut socks {
                        let _ = t.write_all(b"a");
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        let setup = opened.elapsed();

        // A normal client, meanwhile: each request answered within 100 ms.
        let mut worst = Duration::ZERO;
        for _ in 0..5 {
            for (path, expect) in [
                ("/_health", "\"status\":\"ok\""),
                ("/artists?id=eq.1&select=id,name", "\"id\":1"),
            ] {
                let t = Instant::now();
                let (status, body) = exchange(
                    a,
                    &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                );
                let took = t.elapsed();
                assert_eq!(status, 200, "{}: {path}: {body}", b.name());
                assert!(body.contains(expect), "{}: {path}: {body}", b.name());
                worst = worst.max(took);
            }
        }
        eprintln!(
            "{}: {idle} idle + 20 slowloris + 20 slow bodies open (in {setup:?}); \
             normal client's slowest answer {worst:?}",
            b.name()
        );
        assert!(
            worst < Duration::from_millis(100),
            "{}: a request took {worst:?} with {idle} idle sockets open",
            b.name()
        );
        assert!(
            opened.elapsed() < Duration::from_millis(HEADER_MS),
            "{}: the test was too slow to measure before the header timeout",
            b.name()
        );

        // The slow bodies get 408 `timeout` after body_timeout_ms, and are closed.
        for t in &mut bodies {
            t.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let (status, body) = read_response(t);
            assert_eq!(status, 408, "{}: {body}", b.name());
            assert!(
                body.contains("\"code\":\"timeout\""),
                "{}: {body}",
                b.name()
            );
            assert!(
                body.contains(&format!("did not arrive within {BODY_MS} ms")),
                "{}: {body}",
                b.name()
            );
        }
        let body_closed = opened.elapsed();
        assert!(
            body_closed >= Duration::from_millis(BODY_MS),
            "{}: {body_closed:?}",
            b.name()
        );

        // Idle sockets (no request at all) and slowloris go after header_timeout_ms.
        assert_eq!(
            wait_closed(&mut lorises, Duration::from_millis(HEADER_MS + 2000)),
            0,
            "{}: slowloris sockets still open after the header timeout",
            b.name()
        );
        assert_eq!(
            wait_closed(&mut idle_socks, Duration::from_millis(HEADER_MS + 2000)),
            0,
            "{}: idle sockets still open after the header timeout",
            b.name()
        );
        let all_closed = opened.elapsed();
        assert!(
            all_closed >= Duration::from_millis(HEADER_MS),
            "{}: closed before the header timeout ({all_closed:?})",
            b.name()
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = dripper.join();
        eprintln!(
            "{}: slow bodies answered 408 by {body_closed:?}, idle and slowloris closed by \
             {all_closed:?}",
            b.name()
        );

        // A kept-alive connection outlives the header timeout while idle (idle_timeout_ms
        // is longer), serves another request, then is closed after idle_timeout_ms.
        let mut keep = TcpStream::connect(a).expect("connect");
        keep.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let ask = b"GET /_health HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut buf = [0u8; 4096];
        keep.write_all(ask).expect("send");
        let n = keep.read(&mut buf).expect("answer");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        std::thread::sleep(Duration::from_millis(HEADER_MS + 300));
        keep.write_all(ask).expect("send again");
        let n = keep.read(&mut buf).expect("second answer");
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}: {}",
            b.name(),
            String::from_utf8_lossy(&buf[..n])
        );
        let idle_from = Instant::now();
        let n = keep.read(&mut buf).unwrap_or(0);
        let idle_closed = idle_from.elapsed();
        assert_eq!(n, 0, "{}: expected the idle connection closed", b.name());
        assert!(
            idle_closed >= Duration::from_millis(IDLE_MS - 100)
                && idle_closed < Duration::from_millis(IDLE_MS + 1500),
            "{}: idle connection closed after {idle_closed:?}",
            b.name()
        );
    }
}

#[test]
fn connections_past_the_cap_get_503_and_then_are_served_again() {
    for b in backends() {
        let toml =
            format!("[server]\nheader_timeout_ms = 1500\nmax_connections = 20\n{MUSIC_TOML}");
        let s = TestServer::fixture(b, "music", &toml);
        let a = addr(&s);
        let mut held: Vec<TcpStream> = (0..20)
            .map(|_| TcpStream::connect(a).expect("connect"))
            .collect();
        // Let the server accept them all before the next one.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        let (status, body) = exchange(a, "GET /_health HTTP/1.1\r\nHost: x\r\n\r\n");
        let took = t.elapsed();
        assert_eq!(status, 503, "{}: {body}", b.name());
        assert_eq!(
            body,
            r#"{"code":"too_many_connections","message":"the server has 20 connections open, its limit; try again shortly","details":null,"hint":null}"#,
            "{}",
            b.name()
        );
        assert!(took < Duration::from_millis(500), "{}: {took:?}", b.name());
        // Once the header timeout has closed the held ones, the server answers again.
        assert_eq!(
            wait_closed(&mut held, Duration::from_secs(4)),
            0,
            "{}",
            b.name()
        );
        let (status, body) = exchange(
            a,
            "GET /_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{}: {body}", b.name());
        assert!(body.contains("\"status\":\"ok\""), "{}: {body}", b.name());
    }
}
