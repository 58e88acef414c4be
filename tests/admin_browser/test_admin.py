"""Walk the admin page in headless Chromium on every backend this run has (see run.sh).

Each step drives the page like a user (clicks, typing) and then checks the outcome against
the database through the public API. A screenshot of every step is saved. The last line is
`N passed, M failed`.
"""

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 15


# ---------------------------------------------------------------------------------------
# The API, for checking
# ---------------------------------------------------------------------------------------


class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def json(self, path, headers=None):
        status, h, text = self.call("GET", path, headers=headers)
        assert status in (200, 206), f"GET {path}: {status} {text}"
        return json.loads(text), h

    def total(self, path):
        _, h = self.json(path, {"Prefer": "count=exact", "Range": "0-0"})
        return int(h["Content-Range"].split("/")[1])

    def ids(self, path, first, last):
        rows, _ = self.json(path, {"Range": f"{first}-{last}"})
        return [r["id"] for r in rows]


# ---------------------------------------------------------------------------------------
# Databases and the server
# ---------------------------------------------------------------------------------------


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def url_with_db(url, name):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + name, p.query, ""))


def make_database(backend, schema, work):
    """A fresh database with schema.sql loaded: (url, drop function)."""
    name = f"restable_admin_{os.getpid()}_{backend}"
    if backend == "sqlite":
        path = os.path.join(work, name + ".db")
        con = sqlite3.connect(path)
        with open(schema, encoding="utf-8") as f:
            con.executescript(f.read())
        con.commit()
        con.close()
        return "sqlite://" + path, lambda: None
    if backend == "postgres":
        admin = os.environ["RESTABLE_TEST_POSTGRES_URL"]
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        subprocess.run(["psql", admin, "-qX", "-v", "ON_ERROR_STOP=1",
                        "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        url = url_with_db(admin, name)
        subprocess.run(["psql", url, "-qX", "-v", "ON_ERROR_STOP=1", "-f", schema],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        return url, lambda: subprocess.run(
            ["psql", admin, "-qX", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = os.environ["RESTABLE_TEST_MYSQL_URL"]
    p = urllib.parse.urlsplit(admin)
    args = ["mariadb", "--protocol=tcp", "-h" + (p.hostname or "127.0.0.1"),
            "-P" + str(p.port or 3306), "-u" + urllib.parse.unquote(p.username or "root")]
    env = dict(os.environ, MYSQL_PWD=urllib.parse.unquote(p.password or ""))
    subprocess.run(args + ["-e", f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} "
                           "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"], check=True, env=env)
    with open(schema, "rb") as f:
        subprocess.run(args + [name], stdin=f, check=True, env=env)
    return url_with_db(admin, name), lambda: subprocess.run(
        args + ["-e", f"DROP DATABASE IF EXISTS {name}"], env=env)


def start_server(binary, db_url, work, backend):
    port = free_port()
    conf = os.path.join(work, f"{backend}.toml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"""[server]
bind = "127.0.0.1:{port}"
[database]
url = {json.dumps(db_url)}
pool_size = 4
[services.artists]
[services.albums]
[services.tracks]
read_only = ["created_at"]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
""")
    log = open(os.path.join(work, f"{backend}.log"), "w")
    proc = subprocess.Popen([binary, "--config", conf], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(base + "/_health", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    with open(os.path.join(work, f"{backend}.log"), encoding="utf-8") as f:
        sys.stderr.write(f.read())
    raise RuntimeError("restable did not start")


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------


def browser(download_dir):
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--lang=en-US", "--no-first-run",
              "--disable-background-networking", "--disable-component-update"]:
        o.add_argument(a)
    o.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                        "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.set_page_load_timeout(30)
    return d


class Walk:
    """Runs numbered steps on one backend; a failed step skips the rest of the backend."""

    def __init__(self, backend, driver, out):
        self.backend, self.d, self.out = backend, driver, out
        self.n = 0
        self.passed = 0
        self.failed = 0
        self.broken = False

    def shot(self, name):
        """An extra screenshot in the middle of a step."""
        self.d.execute_script("window.scrollTo(0, 0)")
        self.d.save_screenshot(os.path.join(self.out, f"{self.backend}-{self.n:02d}-{name}.png"))

    def step(self, name, fn):
        self.n += 1
        label = f"{self.backend} {self.n:02d} {name}"
        if self.broken:
            self.failed += 1
            print(f"SKIP {label} (an earlier step failed)")
            return
        try:
            fn()
            self.passed += 1
            print(f"ok   {label}")
        except Exception:  # noqa: BLE001 - every failure is reported the same way
            self.failed += 1
            self.broken = True
            print(f"FAIL {label}")
            traceback.print_exc(file=sys.stdout)
            for entry in self.d.get_log("browser"):
                print("     browser:", entry.get("message"))
        finally:
            slug = name.lower().replace(" ", "-").replace("/", "-")
            self.d.save_screenshot(os.path.join(self.out, f"{self.backend}-{self.n:02d}-{slug}.png"))

    # helpers -----------------------------------------------------------------------------
    def wait(self, cond, what="condition"):
        return WebDriverWait(self.d, WAIT).until(cond, message=what)

    def idle(self):
        self.wait(lambda d: d.execute_script("return !document.body.hasAttribute('aria-busy')"), "page idle")

    def el(self, css):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)), css)

    def click(self, css):
        self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), css).click()

    def text_of(self, css):
        """The text of the first match, read in one go (the page re-renders under us)."""
        return self.d.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null", css)

    def texts_of(self, css):
        return self.d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.trim())", css)

    def text_is(self, css, text):
        self.wait(lambda _: self.text_of(css) == text, f"{css} to read {text!r}")

    def table_ids(self):
        self.idle()
        return [int(t) for t in self.texts_of("#rows tbody td[data-column=id]")]

    def set_input(self, css, value):
        e = self.el(css)
        e.clear()
        e.send_keys(value)


# ---------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------


def walk(backend, base, driver, out, downloads):
    api = Api(base)
    w = Walk(backend, driver, out)
    d = driver
    ctx = {}

    def open_page():
        d.get(base + "/_admin/")
        w.el("#services a[data-service=tracks]")
        w.idle()
        listed = sorted(s["name"] for s in api.json("/")[0]["services"])
        shown = sorted(a.get_attribute("data-service") for a in d.find_elements(By.CSS_SELECTOR, "#services a"))
        assert shown == listed, (shown, listed)
        assert "tracks" in [td.text for td in d.find_elements(By.CSS_SELECTOR, "main td")]

    def open_tracks():
        w.click("#services a[data-service=tracks]")
        total = api.total("/tracks")
        w.text_is("#range", f"rows 1-25 of {total}")
        assert w.table_ids() == api.ids("/tracks", 0, 24)
        # The request behind the view is shown as curl, with the headers that matter.
        curl = w.text_of(".curl-box pre")
        assert "Range: 0-24" in curl and "Prefer: count=exact" in curl, curl
        # A reference links to the row it names, with the album's title beside it.
        link = w.el("#rows tbody td[data-column=album_id] a")
        assert "/s/albums/row/" in link.get_attribute("href")
        album = api.json(f"/albums/{link.text}")[0]
        label = w.el("#rows tbody td[data-column=album_id] .label").text.strip()
        assert label == album["title"], (label, album)
        Select(w.el(".pager select")).select_by_value("10")
        w.text_is("#range", f"rows 1-10 of {total}")

    def filter_name():
        w.click("#add-filter")
        Select(w.el(".filter-row select[aria-label=column]")).select_by_value("name")
        Select(w.el(".filter-row select[aria-label=operator]")).select_by_value("ilike")
        w.set_input(".filter-row .filter-value", "*a*")
        w.click("#apply-filters")
        total = api.total("/tracks?name=ilike.*a*")
        assert 10 < total < 51, total
        ctx["total"] = total
        w.text_is("#range", f"rows 1-10 of {total}")
        assert w.table_ids() == api.ids("/tracks?name=ilike.*a*", 0, 9)
        names = w.texts_of("#rows tbody td[data-column=name]")
        assert all("a" in n.lower() for n in names), names

    def sort_desc():
        w.click("th button[data-column=milliseconds]")  # ascending
        w.wait(lambda _: "▲" in (w.text_of("th button[data-column=milliseconds]") or ""), "asc")
        w.click("th button[data-column=milliseconds]")  # descending
        w.wait(lambda _: "▼" in (w.text_of("th button[data-column=milliseconds]") or ""), "desc")
        q = "/tracks?name=ilike.*a*&order=milliseconds.desc"
        w.wait(lambda _: w.table_ids() == api.ids(q, 0, 9), "rows sorted by milliseconds desc")
        assert (w.text_of("th[aria-sort=descending]") or "").startswith("milliseconds")
        assert "order=milliseconds.desc" in w.text_of(".curl-box pre")

    def page_two():
        w.click("#next")
        total = ctx["total"]
        w.text_is("#range", f"rows 11-{min(20, total)} of {total}")
        q = "/tracks?name=ilike.*a*&order=milliseconds.desc"
        ids = w.table_ids()
        assert ids == api.ids(q, 10, 19), ids
        assert "Range: 10-19" in w.text_of(".curl-box pre")
        ctx["id"] = ids[0]

    def download_csv():
        for f in os.listdir(downloads):
            os.remove(os.path.join(downloads, f))
        w.click(".actions button:nth-of-type(1)")
        path = os.path.join(downloads, "tracks.csv")
        w.wait(lambda _: os.path.exists(path) and os.path.getsize(path) > 0, "tracks.csv downloaded")
        time.sleep(0.3)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        _, _, expect = api.call("GET", "/tracks?select=*,album_id_label:albums!album_id(title)"
                                "&name=ilike.*a*&order=milliseconds.desc",
                                headers={"Accept": "text/csv", "Range": "10-19"})
        assert text == expect, (text[:200], expect[:200])

    def invalid_edit():
        tid = ctx["id"]
        d.find_element(By.CSS_SELECTOR, "#rows tbody tr:first-child a.button").click()
        w.el("#field-unit_price")
        w.idle()
        ctx["before"] = api.json(f"/tracks/{tid}")[0]
        w.set_input("#field-unit_price", "123.456")
        w.click("#save")
        err = w.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, "#field-unit_price-error")), "field error")
        assert "does not fit" in err.text and "(4,2)" in err.text, err.text
        assert w.el("#field-unit_price").get_attribute("aria-invalid") == "true"
        assert api.json(f"/tracks/{tid}")[0] == ctx["before"], "nothing changed"

    def fix_and_save():
        tid = ctx["id"]
        w.set_input("#field-unit_price", "1.49")
        name = ctx["before"]["name"] + " (edited)"
        w.set_input("#field-name", name)
        w.click("#save")
        w.text_is(".form-status", "Saved.")
        assert not w.el("#field-unit_price-error").is_displayed()
        row = api.json(f"/tracks/{tid}")[0]
        assert row["name"] == name and str(row["unit_price"]) == "1.49", row
        assert row["milliseconds"] == ctx["before"]["milliseconds"]
        ctx["edited"] = row

    def conflict():
        tid = ctx["id"]
        status, _, text = api.call("PATCH", f"/tracks/{tid}", {"name": "Changed elsewhere"})
        assert status == 200, text
        w.set_input("#field-milliseconds", "123456")
        w.click("#save")
        box = w.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, ".form-status .conflict")), "412 message")
        assert "412" in box.text, box.text
        now = w.wait(EC.visibility_of_element_located((By.XPATH, "//input[@id='field-name']/ancestor::div[contains(@class,'field ')][1]/p[contains(@class,'field-current')]")), "current value of name")
        assert "Changed elsewhere" in now.text, now.text
        w.shot("conflict-shown")
        row = api.json(f"/tracks/{tid}")[0]
        assert row["name"] == "Changed elsewhere" and row["milliseconds"] == ctx["edited"]["milliseconds"], row
        # Saving again, on purpose, writes the field this user changed (and only that).
        w.click("#save")
        w.text_is(".form-status", "Saved.")
        row = api.json(f"/tracks/{tid}")[0]
        assert row["milliseconds"] == 123456 and row["name"] == "Changed elsewhere", row

    def create():
        w.click(".crumbs a")
        w.el("#rows")
        w.idle()
        w.click(".actions a.button")  # New row
        w.el("#field-name")
        w.idle()
        w.set_input("#field-id", "9001")
        w.set_input("#field-name", "Admin test track")
        w.set_input("#field-album_id", "1")
        w.set_input("#field-unit_price", "0.50")
        w.click("#field-explicit")
        w.click("#save")
        w.text_is("#view-title", "tracks 9001")
        row = api.json("/tracks/9001")[0]
        assert row["name"] == "Admin test track" and row["explicit"] is True, row
        assert str(row["unit_price"]) in ("0.5", "0.50"), row
        assert row["genre"] is None and row["created_at"], row

    def delete():
        w.click("#delete")
        w.click("#confirm-delete")
        w.el("#rows")
        w.idle()
        status, _, _ = api.call("GET", "/tracks/9001")
        assert status == 404, status

    def narrow():
        d.set_window_size(390, 844)
        try:
            d.get(base + "/_admin/#/s/tracks")
            w.el("#rows")
            w.idle()
            width = d.execute_script("return document.documentElement.scrollWidth")
            assert width <= 400, f"the page is {width}px wide on a 390px screen"
        finally:
            d.execute_script("window.scrollTo(0, 0)")
            d.save_screenshot(os.path.join(out, f"{backend}-narrow.png"))
            d.set_window_size(1280, 900)

    w.step("open admin", open_page)
    w.step("open tracks", open_tracks)
    w.step("filter name ilike", filter_name)
    w.step("sort milliseconds desc", sort_desc)
    w.step("page 2", page_two)
    w.step("download csv", download_csv)
    w.step("invalid edit shows field error", invalid_edit)
    w.step("fix and save", fix_and_save)
    w.step("412 when changed meanwhile", conflict)
    w.step("create row", create)
    w.step("delete row", delete)
    w.step("narrow screen", narrow)
    return w.passed, w.failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):
        if f.endswith(".png"):
            os.remove(os.path.join(a.out, f))
    backends = ["sqlite"]
    require = os.environ.get("RESTABLE_REQUIRE_BACKENDS") == "1"
    for b, var in [("postgres", "RESTABLE_TEST_POSTGRES_URL"), ("mysql", "RESTABLE_TEST_MYSQL_URL")]:
        if os.environ.get(var):
            backends.append(b)
        elif require:
            print(f"error: RESTABLE_REQUIRE_BACKENDS=1 but {var} is not set")
            print("0 passed, 1 failed")
            return 1
        else:
            print(f"notice: {var} not set, skipping {b}")
    passed = failed = 0
    work = tempfile.mkdtemp(prefix="restable-admin-")
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads)
    driver = browser(downloads)
    try:
        for b in backends:
            drop = lambda: None  # noqa: E731
            proc = None
            try:
                url, drop = make_database(b, a.schema, work)
                proc, base = start_server(a.bin, url, work, b)
                p, f = walk(b, base, driver, a.out, downloads)
            except Exception:  # noqa: BLE001
                traceback.print_exc(file=sys.stdout)
                p, f = 0, 1
            finally:
                if proc:
                    stop_server(proc)
                drop()
            print(f"{b}: {p} passed, {f} failed")
            passed += p
            failed += f
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots: {a.out}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
