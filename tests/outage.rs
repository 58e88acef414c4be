//! The database going away: requests get fast 503s (never hang), and the server serves
//! again by itself when the database is back. A TCP proxy between restable and the
//! database is cut and restored; server backends only (SQLite has no connection to lose).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A TCP proxy that can be cut (every connection closed, new ones refused) and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut list = conns2.lock().expect("lock");
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        list.push(c);
                    }
                }
                drop(list);
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().expect("lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// host:port of a database URL.
fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

#[test]
fn database_outage_gives_fast_503s_and_recovers_without_restart() {
    for b in backends() {
        if b == Backend::Sqlite {
            continue;
        }
        // A database with the music data, reached through the proxy.
        let db = TestServer::music(b);
        let proxy = Proxy::start(host_port(&db.url));
        let proxied = db
            .url
            .replacen(&host_port(&db.url), &format!("127.0.0.1:{}", proxy.port), 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!(
            "[server]\nbind = \"127.0.0.1:0\"\nrequest_timeout_ms = 3000\n[database]\nurl = \"{proxied}\"\npool_size = 2\nacquire_timeout_ms = 1000\n{MUSIC_TOML}"
        );
        let s = TestServer::start_with_config(b, dir, &toml);
        assert_eq!(s.get("/artists?id=eq.1").status, 200);

        proxy.cut();
        for _ in 0..3 {
            let t = Instant::now();
            let r = s.get("/artists?id=eq.1");
            let took = t.elapsed();
            r.assert_error(503, "db_unavailable");
            assert!(
                took < Duration::from_secs(4),
                "{}: a 503 took {took:?}",
                b.name()
            );
        }
        assert_eq!(s.get("/_ready").status, 503);
        assert_eq!(s.get("/_health").status, 200);

        proxy.restore();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = s.get("/artists?id=eq.1");
        while last.status != 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            last = s.get("/artists?id=eq.1");
        }
        assert_eq!(
            last.status,
            200,
            "{}: not recovered: {}",
            b.name(),
            last.text
        );
        assert_eq!(last.json(), serde_json::json!([{"id": 1, "name": "AC/DC"}]));
        assert_eq!(s.get("/_ready").status, 200);
    }
}
