#!/usr/bin/env python3
"""HTTP load benchmark: restable against hand-written reference servers, same run.

Scenarios (SPEC issue "Performance"): get one by key, list 50, filtered list (tracks of
one album), list ordered by a non-key column, insert one, bulk insert 1,000 rows per POST,
and export of 1,000,000 rows as JSON and CSV (rows/s and peak RSS). Each load scenario runs
at 8 and 64 connections against restable and the reference, back to back, and the table
shows the ratio restable / reference. Results go to stdout and bench/out/results.md.

Embedding (issue "Embedding related rows"): albums with their artist and tracks, artists
with their albums and those albums' tracks, playlists with their tracks (many-to-many).
The reference answers each two ways, one query per level stitched in Rust (`/a/...`) and
the JSON built by the database in one query (`/b/...`); the faster is the reference.
Auth (issue "Auth: JWT roles and row ownership", part `auth`): get one by key of a table
of 100,000 owned rows, without auth, with an HS256 bearer token, and with the token and
`owner_column`; on PostgreSQL also with `database_roles` (a role switch per request). The
ratio is against the same server without auth, same run, same table.

On PostgreSQL the same embedding requests and a get-one by filter also run against the
Rust PostgREST clone pg-rest-server (crates.io `pg-rest-server-tokio-postgres-pg-wired`
0.2.0, installed into bench/cache on first use; BENCH_PEER=0 skips it).
"""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
RESTABLE = os.path.join(ROOT, "target", "release", "restable")
REFERENCE = os.path.join(ROOT, "target", "release", "reference")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
TRACKS = int(os.environ.get("BENCH_TRACKS", "100000"))
EXPORT_ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "1000000"))
CONNS = [8, 64]
# Parts to run: core (the six CRUD scenarios), embed, auth, export, startup, peer.
PARTS = os.environ.get("BENCH_PARTS", "core,embed,auth,export,startup,peer").split(",")

SCHEMA = """
CREATE TABLE artists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT NOT NULL, artist_id INTEGER NOT NULL REFERENCES artists(id));
CREATE TABLE tracks (id INTEGER PRIMARY KEY {auto}, name TEXT NOT NULL, album_id INTEGER NOT NULL REFERENCES albums(id),
  milliseconds INTEGER, unit_price NUMERIC(4,2) NOT NULL DEFAULT 0.99, genre TEXT,
  explicit BOOLEAN NOT NULL DEFAULT FALSE, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX tracks_album ON tracks (album_id);
CREATE INDEX albums_artist ON albums (artist_id);
CREATE TABLE playlists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE playlist_tracks (playlist_id INTEGER NOT NULL REFERENCES playlists(id),
  track_id INTEGER NOT NULL REFERENCES tracks(id), PRIMARY KEY (playlist_id, track_id));
"""

SERVICES = """[server]
bind = "{bind}"
max_rows = {max_rows}
max_body_bytes = 16_777_216
request_timeout_ms = 60_000

[database]
url = "{url}"
pool_size = {pool}

[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
[services.playlist_tracks]
methods = []
"""

GENRES = ["Rock", "Metal", "Jazz", "Blues", "Pop", "Alternative", "Classical", None]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, seconds=60, poll=0.1, proc=None):
    """Wait until `url` answers; fail at once if `proc` (the server) has exited."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the server exited before {url} answered; see bench/out")
            time.sleep(poll)
    raise RuntimeError(f"{url} did not answer")


def sqlite_data(path, tracks):
    # The WAL and shared-memory files of an earlier database would be replayed into the
    # new one.
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    c = sqlite3.connect(path)
    c.executescript(SCHEMA.format(auto=""))
    c.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 1000) "
              "INSERT INTO artists SELECT x, 'Artist ' || x FROM n")
    c.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 10000) "
              "INSERT INTO albums SELECT x, 'Album ' || x, (x % 1000) + 1 FROM n")
    c.execute(f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < {tracks}) "
              "INSERT INTO tracks SELECT x, 'Track ' || ((x * 7919) % 1000003), (x % 10000) + 1, 180000 + (x % 240000), "
              "CASE WHEN x % 3 = 0 THEN 1.29 ELSE 0.99 END, "
              "CASE x % 8 WHEN 0 THEN 'Rock' WHEN 1 THEN 'Metal' WHEN 2 THEN 'Jazz' WHEN 3 THEN 'Blues' "
              "WHEN 4 THEN 'Pop' WHEN 5 THEN 'Alternative' WHEN 6 THEN 'Classical' ELSE NULL END, "
              "x % 7 = 0, '2024-01-01 00:00:00' FROM n")
    c.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 100) "
              "INSERT INTO playlists SELECT x, 'Playlist ' || x FROM n")
    c.execute(f"WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x+1 FROM n WHERE x < 4999) "
              f"INSERT OR IGNORE INTO playlist_tracks SELECT (x % 100) + 1, ((x * 7919) % {tracks}) + 1 FROM n")
    c.commit()
    c.execute("PRAGMA journal_mode=WAL")
    c.close()


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def postgres_data(dbname, tracks):
    psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {dbname}")
    psql(PG_ADMIN, f"CREATE DATABASE {dbname}")
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
    psql(url, SCHEMA.format(auto="GENERATED BY DEFAULT AS IDENTITY").replace("INTEGER PRIMARY KEY GENERATED", "INTEGER GENERATED").replace("id INTEGER GENERATED BY DEFAULT AS IDENTITY", "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
    psql(url, "INSERT INTO artists SELECT x, 'Artist ' || x FROM generate_series(1, 1000) x")
    psql(url, "INSERT INTO albums SELECT x, 'Album ' || x, (x % 1000) + 1 FROM generate_series(1, 10000) x")
    psql(url, f"INSERT INTO tracks (id, name, album_id, milliseconds, unit_price, genre, explicit, created_at) "
              f"SELECT x, 'Track ' || ((x::bigint * 7919) % 1000003), (x % 10000) + 1, 180000 + (x % 240000), "
              f"CASE WHEN x % 3 = 0 THEN 1.29 ELSE 0.99 END, "
              f"(ARRAY['Rock','Metal','Jazz','Blues','Pop','Alternative','Classical',NULL])[(x % 8) + 1], "
              f"x % 7 = 0, '2024-01-01 00:00:00' FROM generate_series(1, {tracks}) x")
    psql(url, f"SELECT setval(pg_get_serial_sequence('tracks','id'), {tracks})")
    psql(url, "INSERT INTO playlists SELECT x, 'Playlist ' || x FROM generate_series(1, 100) x")
    psql(url, f"INSERT INTO playlist_tracks SELECT (x % 100) + 1, ((x::bigint * 7919) % {tracks}) + 1 "
              f"FROM generate_series(0, 4999) x ON CONFLICT DO NOTHING")
    psql(url, "VACUUM ANALYZE")
    return url


class Server:
    def __init__(self, argv, base, env=None):
        self.log = open(os.path.join(OUT, f"server-{len(os.listdir(OUT))}.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)
        self.base = base

    def peak_rss_mb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def restable(url, name, max_rows=1000, extra=""):
    """restable with the default row cap (1000); exports lift it (max_rows = 0). `extra`
    is appended to services.toml."""
    port = free_port()
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "services.toml")
    with open(cfg, "w") as f:
        f.write(SERVICES.format(bind=f"127.0.0.1:{port}", url=url, pool=16, max_rows=max_rows) + extra)
    env = dict(os.environ, RESTABLE_LOG="warn", BENCH_JWT_SECRET=AUTH_SECRET)
    s = Server([RESTABLE, "--config", cfg], f"http://127.0.0.1:{port}", env)
    wait_http(s.base + "/_health", proc=s.proc)
    return s


def reference(kind, target):
    port = free_port()
    args = [REFERENCE, kind] + ([target] if target else []) + [f"127.0.0.1:{port}"]
    s = Server(args, f"http://127.0.0.1:{port}")
    wait_http(s.base + ("/tracks/1" if kind != "nodb" else "/"), proc=s.proc)
    return s


LUA = {
    "get one": 'request = function() return wrk.format("GET", "/tracks/" .. math.random(1, %d)) end' % TRACKS,
    "list 50": 'wrk.path = "/tracks?limit=50"',
    "filtered": 'request = function() return wrk.format("GET", "/tracks?album_id=eq." .. math.random(1, 10000)) end',
    "order by name": 'wrk.path = "/tracks?order=name&limit=50"',
    "insert one": 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                  'wrk.body = \'{"name":"bench","album_id":1,"milliseconds":1000,"unit_price":0.99}\'\nwrk.path = "/tracks"',
    "bulk 1000": None,
    # PostgREST's form of get one (pg-rest-server has no item routes).
    "get one (filter)": 'request = function() return wrk.format("GET", "/tracks?id=eq." .. math.random(1, %d)) end' % TRACKS,
}

EMBED = {
    "embed albums": ("albums", "/albums?select=title,artists(name),tracks(name,milliseconds)&limit=50"),
    "embed artists": ("artists", "/artists?select=name,albums(title,tracks(name))&limit=20"),
    "embed playlists": ("playlists", "/playlists?select=name,tracks(name)&limit=10"),
}
for _name, (_, _path) in EMBED.items():
    LUA[_name] = 'wrk.path = "%s"' % _path.replace('"', '\\"')


AUTH_SECRET = "bench-jwt-secret-0123456789-abcdefghijklmnop"
AUTH_ROLE = "bench_user"


def hs256(claims):
    """An HS256 token for the benchmark (the standard library's HMAC)."""
    import base64, hashlib, hmac
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(AUTH_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


AUTH_JWT = '[auth]\nmode = "jwt"\njwt_secret_env = "BENCH_JWT_SECRET"\n'
# Each configuration serves `owned`; the token is sent to all but the first.
AUTH_CONFIGS = {
    "none": "[services.owned]\n",
    "jwt": AUTH_JWT + "[services.owned]\n",
    "jwt+owner": AUTH_JWT + '[services.owned]\nowner_column = "user_id"\n',
    "database_roles": AUTH_JWT + "database_roles = true\n[services.owned]\n",
}


def owned_data(backend, target):
    """`owned`: the tracks' first columns, every row owned by u1."""
    sql = ("DROP TABLE IF EXISTS owned; CREATE TABLE owned (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, "
           "name TEXT NOT NULL, album_id INTEGER NOT NULL, milliseconds INTEGER); "
           "INSERT INTO owned SELECT id, 'u1', name, album_id, milliseconds FROM tracks; "
           "CREATE INDEX owned_user ON owned (user_id)")
    if backend == "sqlite":
        c = sqlite3.connect(target)
        c.executescript(sql)
        c.commit()
        c.close()
    else:
        psql(target, sql)
        psql(PG_ADMIN, f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AUTH_ROLE}') "
                       f"THEN CREATE ROLE {AUTH_ROLE} NOLOGIN; END IF; END $$")
        psql(target, f"GRANT USAGE ON SCHEMA public TO {AUTH_ROLE}; GRANT SELECT ON owned TO {AUTH_ROLE}")
        psql(target, "VACUUM ANALYZE owned")


def run_auth(backend, url, target, rows):
    owned_data(backend, target)
    token = hs256({"role": AUTH_ROLE, "sub": "u1", "exp": int(time.time()) + 86400})
    get = 'request = function() return wrk.format("GET", "/owned/" .. math.random(1, %d)) end' % TRACKS
    # Without auth the same bytes go out, in a header restable ignores: wrk runs on the
    # same two cores, and a bigger request costs the client too.
    LUA["get one (owned)"] = ('wrk.headers["X-Padding"] = "Bearer %s"\n' % token) + get
    LUA["get one (owned, token)"] = ('wrk.headers["Authorization"] = "Bearer %s"\n' % token) + get
    configs = [c for c in AUTH_CONFIGS if backend == "postgres" or c != "database_roles"]
    # The configurations take turns, ROUNDS times, and each is reported by its median run:
    # a burst of noise on the machine then spoils one run, not the ratio.
    rounds = int(os.environ.get("BENCH_AUTH_ROUNDS", "3"))
    for conns in CONNS:
        runs = {name: [] for name in configs}
        for _ in range(rounds):
            for name in configs:
                settle(backend, target)
                r = restable(url, f"restable-{backend}-auth", extra=AUTH_CONFIGS[name])
                scenario = "get one (owned)" if name == "none" else "get one (owned, token)"
                # Every answer is a row: a refused token would be measured as fast 401s.
                req = urllib.request.Request(r.base + "/owned/1", headers={} if name == "none" else {"Authorization": f"Bearer {token}"})
                if fetch_json(req)["user_id"] != "u1":
                    raise SystemExit(f"{backend} auth {name}: unexpected answer")
                a = wrk(r.base, scenario, conns)
                r.stop()
                if a["errors"]:
                    raise SystemExit(f"{backend} auth {name}: {a['errors']} non-2xx answers")
                runs[name].append(a)
        median = {name: sorted(v, key=lambda a: a["rps"])[len(v) // 2] for name, v in runs.items()}
        base = median["none"]
        for name in configs[1:]:
            a = median[name]
            rows.append((backend, f"auth {name}", conns, a, dict(base, way="no auth")))
            report(backend, f"auth {name}", conns, a, base)


def bulk_lua():
    # An album-catalog import: 1,000 tracks of 10 albums.
    rows = ",".join('{"name":"bulk %d","album_id":%d,"milliseconds":1000,"unit_price":1.29,"genre":"Rock"}' % (i, i // 100 + 1) for i in range(1000))
    return ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            'wrk.headers["Prefer"] = "return=minimal"\nwrk.path = "/tracks"\nwrk.body = \'[' + rows + ']\'')


def wrk(base, scenario, conns, path=None):
    """`path`: a fixed path instead of the scenario's own (the reference's embeds)."""
    script = os.path.join(OUT, "s.lua")
    with open(script, "w") as f:
        if path:
            f.write('wrk.path = "%s"' % path)
        else:
            f.write(bulk_lua() if scenario == "bulk 1000" else LUA[scenario])
    threads = 2
    seconds = SECONDS if scenario != "bulk 1000" else max(3, SECONDS // 2)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, base],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "errors": errors}


def export(base, rows, accept, select=None):
    """Read `rows` tracks as `accept`, 64 KiB at a time: (seconds, bytes)."""
    t = time.time()
    query = f"limit={rows}" + (f"&select={select}" if select else "")
    req = urllib.request.Request(base + f"/tracks?{query}", headers={"Accept": accept})
    n = 0
    with urllib.request.urlopen(req, timeout=600) as r:
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            n += len(chunk)
    return time.time() - t, n


def settle(backend, target):
    """Write out what the previous measurement left dirty (WAL, shared buffers, on
    PostgreSQL also the vacuum and statistics its inserts made due), so that no server
    pays for the writes of the one measured before it: an autovacuum that the previous
    server's bulk inserts started would otherwise run during the next measurement."""
    if backend == "sqlite":
        c = sqlite3.connect(target)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
    else:
        psql(target, "VACUUM (ANALYZE) tracks")
        psql(target, "CHECKPOINT")


def run_backend(backend, rows):
    if backend == "sqlite":
        db = os.path.join(OUT, "bench.db")
        sqlite_data(db, TRACKS)
        url_restable, ref, target = f"sqlite://{db}", ("sqlite", db), db
    else:
        pg = postgres_data("restable_bench", TRACKS)
        url_restable, ref, target = pg, ("postgres", pg), pg
    core = ["get one", "list 50", "filtered", "order by name", "insert one", "bulk 1000"]
    for scenario in core if "core" in PARTS else []:
        for conns in CONNS:
            settle(backend, target)
            r = restable(url_restable, f"restable-{backend}")
            a = wrk(r.base, scenario, conns)
            r.stop()
            settle(backend, target)
            f = reference(*ref)
            b = wrk(f.base, scenario, conns)
            f.stop()
            rows.append((backend, scenario, conns, a, b))
            report(backend, scenario, conns, a, b)
    if "embed" in PARTS and "core" in PARTS:
        # The inserts above added thousands of tracks to the first albums: start again from
        # the generated data, so that every embedded array is as generated.
        if backend == "sqlite":
            sqlite_data(target, TRACKS)
        else:
            postgres_data("restable_bench", TRACKS)
    for scenario, (name, path) in EMBED.items() if "embed" in PARTS else []:
        # All three answers are the same JSON before anything is measured.
        f = reference(*ref)
        want = fetch_json(f.base + f"/a/{name}")
        if fetch_json(f.base + f"/b/{name}") != want:
            raise SystemExit(f"{backend} {scenario}: the reference's two ways disagree")
        f.stop()
        r = restable(url_restable, f"restable-{backend}")
        if fetch_json(r.base + path) != want:
            raise SystemExit(f"{backend} {scenario}: restable's answer differs from the reference's")
        r.stop()
        for conns in CONNS:
            settle(backend, target)
            r = restable(url_restable, f"restable-{backend}")
            a = wrk(r.base, scenario, conns)
            r.stop()
            settle(backend, target)
            f = reference(*ref)
            ways = {way: wrk(f.base, scenario, conns, path=f"/{way}/{name}") for way in ["a", "b"]}
            f.stop()
            way, b = max(ways.items(), key=lambda kv: kv[1]["rps"])
            b = dict(b, way=way)
            rows.append((backend, scenario, conns, a, b))
            report(backend, scenario, conns, a, b)


def fetch_json(url):
    """`url`: a URL or a urllib Request."""
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def report(backend, scenario, conns, a, b):
    ratio = a["rps"] / b["rps"] if b["rps"] else float("nan")
    print(f"{backend:8} {scenario:14} c={conns:<3} restable {a['rps']:9.0f} req/s p50 {a['p50']:6.2f} ms p99 {a['p99']:7.2f} ms | "
          f"reference{('(' + b['way'] + ')') if 'way' in b else ''} {b['rps']:9.0f} req/s p50 {b['p50']:6.2f} ms p99 {b['p99']:7.2f} ms | ratio {ratio:4.2f}"
          + (f"  (non-2xx: {a['errors']}/{b['errors']})" if a["errors"] or b["errors"] else ""), flush=True)


PEER_VERSION = "0.2.0"
PEER_CRATE = "pg-rest-server-tokio-postgres-pg-wired"
PEER = os.path.join(ROOT, "bench", "cache", "bin", PEER_CRATE)


def peer_binary():
    """pg-rest-server, built once into bench/cache (ignored by git)."""
    if not os.path.exists(PEER):
        print(f"installing {PEER_CRATE} {PEER_VERSION} into bench/cache (first use only)", flush=True)
        subprocess.run(["cargo", "install", "--quiet", PEER_CRATE, "--version", PEER_VERSION,
                        "--root", os.path.join(ROOT, "bench", "cache")], check=True)
    return PEER


def run_peer(rows):
    """restable against pg-rest-server on PostgreSQL: embedding and get one by filter."""
    if os.environ.get("BENCH_PEER", "1") == "0":
        return
    binary = peer_binary()
    pg = postgres_data("restable_peer", TRACKS)
    for scenario in ["get one (filter)"] + list(EMBED):
        for conns in CONNS:
            settle("postgres", pg)
            r = restable(pg, "restable-peer")
            a = wrk(r.base, scenario, conns)
            r.stop()
            settle("postgres", pg)
            port = free_port()
            d = os.path.join(OUT, "peer")
            os.makedirs(d, exist_ok=True)
            cfg = os.path.join(d, "pg-rest.toml")
            with open(cfg, "w") as f:
                f.write(f'[database]\nuri = "{pg}"\nschemas = ["public"]\nanon_role = "postgres"\npool_size = 16\n\n'
                        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[jwt]\nsecret = "bench-secret-bench-secret-bench-secret"\n')
            p = Server([binary, "--config", cfg], f"http://127.0.0.1:{port}", dict(os.environ, RUST_LOG="warn"))
            wait_http(p.base + "/tracks?id=eq.1", proc=p.proc)
            b = wrk(p.base, scenario, conns)
            p.stop()
            b = dict(b, way="peer")
            rows.append(("postgres/peer", scenario, conns, a, b))
            report("pg/peer", scenario, conns, a, b)


def export_rows(backend):
    """Export EXPORT_ROWS rows as JSON and CSV; rows/s and peak RSS at 100k and 1M rows."""
    results = []
    if backend == "sqlite":
        db = os.path.join(OUT, "export.db")
        sqlite_data(db, EXPORT_ROWS)
        url = f"sqlite://{db}"
    else:
        url = postgres_data("restable_export", EXPORT_ROWS)
    for rows in [100_000, EXPORT_ROWS]:
        for accept in ["application/json", "text/csv"]:
            r = restable(url, f"export-{backend}", max_rows=0)
            dt, n = export(r.base, rows, accept)
            rss = r.peak_rss_mb()
            r.stop()
            results.append((backend, rows, accept, rows / dt, rss, n))
            print(f"{backend:8} export {rows:>8} rows {accept:17} {rows / dt:10.0f} rows/s  peak RSS {rss:6.1f} MB  ({n} bytes)", flush=True)
    # With an embed per row (the album of each track): streamed the same way, so peak
    # memory should stay within a few MB of the plain export.
    for rows in [100_000]:
        r = restable(url, f"export-{backend}", max_rows=0)
        dt, n = export(r.base, rows, "application/json", select="*,albums(title)")
        rss = r.peak_rss_mb()
        r.stop()
        results.append((backend, rows, "json + albums(title)", rows / dt, rss, n))
        print(f"{backend:8} export {rows:>8} rows json + embed      {rows / dt:10.0f} rows/s  peak RSS {rss:6.1f} MB  ({n} bytes)", flush=True)
    return results


STARTUP_TABLES = int(os.environ.get("BENCH_STARTUP_TABLES", "500"))


def startup(backend):
    """Start-up with STARTUP_TABLES tables named in services.toml: seconds from launch
    until /_ready answers (introspection included), best of three."""
    ddl = [f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(10,2), "
           f"created_at TIMESTAMP, parent_id INTEGER{' REFERENCES t%d(id)' % (i - 1) if i else ''})"
           for i in range(STARTUP_TABLES)]
    if backend == "sqlite":
        db = os.path.join(OUT, "startup.db")
        if os.path.exists(db):
            os.remove(db)
        c = sqlite3.connect(db)
        c.executescript(";\n".join(ddl) + ";")
        c.commit()
        c.close()
        url = f"sqlite://{db}"
    else:
        psql(PG_ADMIN, "DROP DATABASE IF EXISTS restable_startup")
        psql(PG_ADMIN, "CREATE DATABASE restable_startup")
        url = PG_ADMIN.rsplit("/", 1)[0] + "/restable_startup"
        psql(url, ";\n".join(ddl) + ";")
    port = free_port()
    d = os.path.join(OUT, f"startup-{backend}")
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "services.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nbind = "127.0.0.1:{port}"\n\n[database]\nurl = "{url}"\n\n')
        f.write("".join(f"[services.t{i}]\n" for i in range(STARTUP_TABLES)))
    best = float("inf")
    for _ in range(3):
        t = time.time()
        s = Server([RESTABLE, "--config", cfg], f"http://127.0.0.1:{port}", dict(os.environ, RESTABLE_LOG="warn"))
        wait_http(s.base + "/_ready", poll=0.005, proc=s.proc)
        best = min(best, time.time() - t)
        s.stop()
    print(f"{backend:8} start-up with {STARTUP_TABLES} tables: {best:.3f} s (launch to /_ready, best of 3)", flush=True)
    return best


def nodb_ceiling():
    f = reference("nodb", None)
    out = {c: wrk(f.base, "list 50", c) for c in CONNS}
    f.stop()
    for c, v in out.items():
        print(f"no database (poem only) c={c:<3} {v['rps']:9.0f} req/s p50 {v['p50']:6.2f} ms p99 {v['p99']:7.2f} ms", flush=True)
    return out


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    print(f"{os.cpu_count()} cores; wrk -t2, {SECONDS} s per run; {TRACKS} tracks", flush=True)
    ceiling = nodb_ceiling()
    rows, exports, starts = [], [], []
    for backend in BACKENDS:
        if backend == "postgres" and subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True).returncode != 0:
            print("postgres: not reachable, skipped", flush=True)
            continue
        if "startup" in PARTS:
            starts.append((backend, startup(backend)))
        run_backend(backend, rows)
        if "auth" in PARTS:
            target = os.path.join(OUT, "bench.db") if backend == "sqlite" else PG_ADMIN.rsplit("/", 1)[0] + "/restable_bench"
            if not os.path.exists(target) and backend == "sqlite":
                sqlite_data(target, TRACKS)
            url = f"sqlite://{target}" if backend == "sqlite" else target
            run_auth(backend, url, target, rows)
        if "export" in PARTS:
            exports += export_rows(backend)
        if backend == "postgres" and "peer" in PARTS:
            run_peer(rows)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(f"| backend | scenario | conns | restable req/s | p50 ms | p99 ms | reference req/s | p50 ms | p99 ms | ratio | p99 ratio |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
        for backend, scenario, conns, a, b in rows:
            f.write(f"| {backend} | {scenario} | {conns} | {a['rps']:.0f} | {a['p50']:.2f} | {a['p99']:.2f} | {b['rps']:.0f} | {b['p50']:.2f} | {b['p99']:.2f} | {a['rps'] / b['rps']:.2f} | {a['p99'] / b['p99']:.2f} |\n")
        f.write("\n| backend | rows | format | rows/s | peak RSS MB |\n|---|--:|---|--:|--:|\n")
        for backend, n, accept, rps, rss, _ in exports:
            f.write(f"| {backend} | {n} | {accept} | {rps:.0f} | {rss:.1f} |\n")
        f.write("\n| backend | start-up with %d tables |\n|---|--:|\n" % STARTUP_TABLES)
        for backend, secs in starts:
            f.write(f"| {backend} | {secs:.3f} s |\n")
        f.write("\n" + " ".join(f"no-database ceiling c={c}: {v['rps']:.0f} req/s." for c, v in ceiling.items()) + "\n")
    print(open(os.path.join(OUT, "results.md")).read())


if __name__ == "__main__":
    sys.exit(main())
