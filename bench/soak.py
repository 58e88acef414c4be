#!/usr/bin/env python3
"""Memory under sustained load (issue "Hardening", item 10): a mixed soak against one
restable for SOAK_SECONDS (default 600), sampling its RSS every 5 s. The answer is flat
when RSS never grows past 1.15 x its value at the end of the first minute.

The mix, all at once, each from its own wrk (1 thread): 1,000-row pages (64
connections), reads by key, filtered lists, embeds (albums with artist and tracks), single
inserts and 100-row bulk inserts, both rolled back (`Prefer: tx=rollback`) so that the
database does not grow. Runs on SQLite by default; SOAK_BACKEND=postgres uses
BENCH_POSTGRES_URL's server. Needs the release binary (cargo build --release) and wrk.

Prints the samples and `soak: flat` or `soak: grew`; exit code 1 when it grew.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the data generator and server helpers of bench/run.py)

SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
BACKEND = os.environ.get("SOAK_BACKEND", "sqlite")
LIMIT = 1.15

MIX = {
    "pages": (64, 'wrk.path = "/tracks?limit=1000"'),
    "get one": (8, bench.LUA["get one"]),
    "filtered": (8, bench.LUA["filtered"]),
    "embed": (8, 'wrk.path = "/albums?select=title,artists(name),tracks(name,milliseconds)&limit=50"'),
    # Writes run and are rolled back (`tx=rollback`): the write path is exercised all
    # along, but the table does not grow, so that RSS measures the server, not the data
    # (10 minutes of committed bulk inserts wrote tens of GB).
    "insert": (4, bench.LUA["insert one"] + '\nwrk.headers["Prefer"] = "tx=rollback"'),
    "bulk": (2, 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                'wrk.headers["Prefer"] = "return=minimal, tx=rollback"\nwrk.path = "/tracks"\nwrk.body = \'['
                + ",".join('{"name":"soak %d","album_id":%d,"milliseconds":1000}' % (i, i % 100 + 1) for i in range(100))
                + "]'"),
}


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    os.makedirs(bench.OUT, exist_ok=True)
    if BACKEND == "sqlite":
        db = os.path.join(bench.OUT, "soak.db")
        bench.sqlite_data(db, bench.TRACKS)
        url = f"sqlite://{db}"
    else:
        url = bench.postgres_data("restable_soak", bench.TRACKS)
    server = bench.restable(url, "soak")
    pid = server.proc.pid
    procs = []
    for name, (conns, lua) in MIX.items():
        script = os.path.join(bench.OUT, f"soak-{name.replace(' ', '_')}.lua")
        with open(script, "w") as f:
            f.write(lua)
        procs.append(subprocess.Popen(
            ["wrk", "-t1", f"-c{conns}", f"-d{SECONDS}s", "-s", script, server.base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    samples = []
    start = time.time()
    baseline = None
    try:
        while time.time() - start < SECONDS:
            time.sleep(5)
            t = time.time() - start
            mb = rss_mb(pid)
            samples.append((t, mb))
            if baseline is None and t >= 60:
                baseline = mb
            print(f"{t:6.0f} s  RSS {mb:7.1f} MB" + (f"  ({mb / baseline:4.2f} x the first minute)" if baseline else ""), flush=True)
    finally:
        for p in procs:
            p.wait()
        server.stop()
    if baseline is None:
        print("soak: too short to judge (under a minute)")
        return 0
    peak = max(mb for t, mb in samples if t >= 60)
    verdict = "flat" if peak <= baseline * LIMIT else "grew"
    print(f"soak: {verdict}: RSS after the first minute {baseline:.1f} MB, peak after it {peak:.1f} MB "
          f"({peak / baseline:.2f} x; limit {LIMIT} x) over {SECONDS} s on {BACKEND}")
    return 0 if verdict == "flat" else 1


if __name__ == "__main__":
    sys.exit(main())
