//! URLs as curl sends them: PostgREST's quoted values (`in.("a,b")`) and JSON path arrows
//! (`data->>name`) arrive with raw `"`, `<` and `>` in the query, which the HTTP parser
//! refuses. restable percent-encodes them before parsing, so they reach the grammar, on
//! one connection after another (keep-alive) as on a new one. On every backend.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Send `requests` (raw HTTP/1.1, the last with `Connection: close`) on one connection;
/// the (status, body) of each answer, in order.
fn exchange(s: &TestServer, targets: &[&str]) -> Vec<(u16, Value)> {
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let close = if i + 1 == targets.len() {
            "Connection: close\r\n"
        } else {
            ""
        };
        tcp.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n{close}\r\n").as_bytes())
            .expect("send");
        // One answer: its head, then Content-Length bytes of body.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                tcp.read(&mut byte).expect("read"),
                1,
                "{target}: closed early"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        tcp.read_exact(&mut body).expect("body");
        out.push((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    }
    out
}

#[test]
fn quotes_and_arrows_as_curl_sends_them() {
    each_backend(|s| {
        let b = s.backend.name();
        let answers = exchange(
            s,
            &[
                r#"/artists?select=name&name=in.("AC/DC","Accept")&order=id"#,
                r#"/artists?select=name&or=(name.eq."AC/DC",name.eq.<none>)"#,
                // Percent-encoded forms still work, and a plain request after them.
                "/artists?select=name&name=in.(%22Accept%22)",
                "/artists?select=id&id=eq.1",
            ],
        );
        assert_eq!(
            answers,
            vec![
                (200, json!([{"name": "AC/DC"}, {"name": "Accept"}])),
                (200, json!([{"name": "AC/DC"}])),
                (200, json!([{"name": "Accept"}])),
                (200, json!([{"id": 1}])),
            ],
            "{b}"
        );
    });
}

#[test]
fn json_path_arrows_as_curl_sends_them() {
    for b in backends() {
        let s = TestServer::start(
            b,
            "CREATE TABLE items (id INTEGER PRIMARY KEY, data JSON);
             INSERT INTO items VALUES (1, '{\"name\":\"Ana\",\"age\":31}');
             INSERT INTO items VALUES (2, '{\"name\":\"bob\",\"age\":8}');",
            "[services.items]\n",
        );
        let answers = exchange(
            &s,
            &[
                "/items?select=id,data->>name&data->age=gt.18",
                "/items?select=id,name:data->name&order=data->>name.desc",
            ],
        );
        assert_eq!(
            answers,
            vec![
                (200, json!([{"id": 1, "name": "Ana"}])),
                (
                    200,
                    json!([{"id": 2, "name": "bob"}, {"id": 1, "name": "Ana"}])
                ),
            ],
            "{}",
            b.name()
        );
    }
}
