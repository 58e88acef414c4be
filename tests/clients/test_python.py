"""The official Python PostgREST client (`postgrest` on PyPI) against a running restable.

Run by tests/clients/run.sh: RESTABLE_URL is the server's base URL, on a fresh database
loaded with the music fixture (tests/fixtures/music.*.sql). The checks run in file order:
reads first (on the untouched fixture), then writes, each on rows it names itself.

Prints `ok NAME` per passing check, and for a failing one `FAIL NAME`, the reason, and the
last request the client sent with restable's answer. Closes with `RESULT <passed> <failed>`.
Where restable deliberately differs from PostgREST (SPEC.md), the check follows SPEC.md and
says so.
"""

import os
import sys
import traceback

import httpx
from postgrest import APIError, SyncPostgrestClient

BASE = os.environ.get("RESTABLE_URL", "http://127.0.0.1:8080")
BACKEND = os.environ.get("RESTABLE_BACKEND", "?")

client = SyncPostgrestClient(BASE)

# The last exchange, shown when a check fails.
LAST = {}


def _on_response(resp: httpx.Response) -> None:
    resp.read()
    req = resp.request
    LAST["request"] = "%s %s\n      headers: %s\n      body: %s" % (
        req.method,
        req.url,
        {
            k: v
            for k, v in req.headers.items()
            if k.lower() in ("accept", "prefer", "content-type", "range")
        },
        req.content.decode("utf-8", "replace")[:300] or "(none)",
    )
    LAST["response"] = "%s\n      headers: %s\n      body: %s" % (
        resp.status_code,
        {
            k: v
            for k, v in resp.headers.items()
            if k.lower() in ("content-type", "content-range", "preference-applied", "location")
        },
        resp.text[:500] or "(none)",
    )


client.session.event_hooks["response"] = [_on_response]

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def eq(actual, expected, what=""):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what or "value", expected, actual))


def ids(resp):
    return [row["id"] for row in resp.data]


def table(name):
    return client.from_(name)


def expect_api_error(run, code, message=None, status_hint=None):
    """run() must raise APIError with this code (and this exact message when given)."""
    try:
        result = run()
    except APIError as e:
        eq(e.code, code, "APIError.code (message %r)" % e.message)
        if message is not None:
            eq(e.message, message, "APIError.message")
        return e
    raise AssertionError("expected APIError %s, got a result: %r" % (code, result))


# ---------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------


@test
def select_columns():
    r = table("artists").select("id, name").order("id").execute()
    eq(
        r.data,
        [
            {"id": 1, "name": "AC/DC"},
            {"id": 2, "name": "Accept"},
            {"id": 3, "name": "Aerosmith"},
            {"id": 4, "name": "Audioslave"},
            {"id": 5, "name": "Crosby, Stills and Nash"},
        ],
    )


@test
def select_star_types():
    r = table("tracks").select("*").eq("id", 6).execute()
    eq(len(r.data), 1, "rows")
    row = r.data[0]
    eq(row["name"], "Walk On Water", "name")
    eq(row["album_id"], 5, "album_id")
    eq(row["milliseconds"], 295680, "milliseconds")
    eq(float(row["unit_price"]), 1.29, "unit_price")
    eq(row["genre"], None, "genre")


@test
def select_alias():
    r = table("albums").select("title:title,when:year").eq("id", 2).execute()
    eq(r.data, [{"title": "Back in Black", "when": 1980}])


@test
def filter_eq():
    eq(ids(table("tracks").select("id").eq("genre", "Metal").order("id").execute()), [4, 5])


@test
def filter_neq():
    r = table("albums").select("id").neq("artist_id", 1).order("id").execute()
    eq(ids(r), [3, 4, 5, 6, 7])


@test
def filter_gt():
    r = table("tracks").select("id").gt("milliseconds", 300000).order("id").execute()
    eq(ids(r), [1, 3, 4])


@test
def filter_gte():
    eq(ids(table("albums").select("id").gte("year", 1994).order("id").execute()), [5, 6])


@test
def filter_lt():
    eq(ids(table("albums").select("id").lt("year", 1981).execute()), [2])


@test
def filter_lte():
    eq(ids(table("albums").select("id").lte("year", 1981).order("id").execute()), [1, 2])


@test
def filter_gt_and_lt_same_column():
    r = table("albums").select("id").gt("year", 1980).lt("year", 1990).order("id").execute()
    eq(ids(r), [1, 3, 4])


@test
def filter_like():
    eq(ids(table("artists").select("id").like("name", "A*").order("id").execute()), [1, 2, 3, 4])
    eq(ids(table("artists").select("id").like("name", "%slave").execute()), [4])
    # like is case-sensitive
    eq(ids(table("artists").select("id").like("name", "ac*").execute()), [])


@test
def filter_ilike():
    eq(ids(table("artists").select("id").ilike("name", "ac*").order("id").execute()), [1, 2])
    eq(ids(table("artists").select("id").ilike("name", "%STILLS%").execute()), [5])


@test
def filter_like_any_of():
    r = table("albums").select("id").like_any_of("title", "B*,R*").order("id").execute()
    eq(ids(r), [2, 3, 4, 5])


@test
def filter_like_all_of():
    r = table("albums").select("id").like_all_of("title", "B*,*l").order("id").execute()
    eq(ids(r), [3])


@test
def filter_ilike_any_of():
    r = table("artists").select("id").ilike_any_of("name", "*SLAVE,*nash").order("id").execute()
    eq(ids(r), [4, 5])


@test
def filter_is_null():
    eq(ids(table("albums").select("id").is_("year", None).execute()), [7])
    eq(ids(table("tracks").select("id").is_("genre", "null").execute()), [6])


@test
def filter_in():
    eq(ids(table("artists").select("id").in_("id", [2, 4]).order("id").execute()), [2, 4])
    # A value with a comma: the client quotes it.
    r = table("artists").select("id").in_("name", ["AC/DC", "Crosby, Stills and Nash"]).order("id").execute()
    eq(ids(r), [1, 5])
    # parentheses too
    r = table("tracks").select("id").in_("name", ["For Those About To Rock (We Salute You)", "Cochise"]).order("id").execute()
    eq(ids(r), [1, 7])


@test
def filter_values_with_punctuation():
    eq(ids(table("artists").select("id").eq("name", "Crosby, Stills and Nash").execute()), [5])
    eq(ids(table("artists").select("id").eq("name", "AC/DC").execute()), [1])
    eq(ids(table("tracks").select("id").eq("name", "For Those About To Rock (We Salute You)").execute()), [1])


@test
def filter_not():
    r = table("albums").select("id").not_.is_("year", None).order("id").execute()
    eq(ids(r), [1, 2, 3, 4, 5, 6])
    # NULL genre is neither Rock nor not Rock
    r = table("tracks").select("id").not_.eq("genre", "Rock").order("id").execute()
    eq(ids(r), [4, 5, 7, 8])
    r = table("tracks").select("id").not_.in_("album_id", [1, 2, 3, 4]).order("id").execute()
    eq(ids(r), [6, 7, 8])


@test
def filter_or():
    r = table("albums").select("id").or_("year.lt.1981,year.is.null").order("id").execute()
    eq(ids(r), [2, 7])
    r = table("tracks").select("id").or_("genre.eq.Metal,and(album_id.eq.6,milliseconds.gt.250000)").order("id").execute()
    eq(ids(r), [4, 5, 8])


@test
def filter_match():
    r = table("tracks").select("id").match({"album_id": 6, "genre": "Alternative"}).order("id").execute()
    eq(ids(r), [7, 8])


@test
def filter_generic():
    r = table("albums").select("id").filter("year", "in", "(1980,1994)").order("id").execute()
    eq(ids(r), [2, 5])


@test
def order_asc_desc():
    eq(ids(table("albums").select("id").order("year").execute()), [2, 1, 4, 3, 5, 6, 7])
    # descending: NULLs first, as PostgreSQL does
    eq(ids(table("albums").select("id").order("year", desc=True).execute()), [7, 6, 5, 3, 4, 1, 2])


@test
def order_nulls():
    r = table("albums").select("id").order("year", nullsfirst=True).execute()
    eq(ids(r), [7, 2, 1, 4, 3, 5, 6])
    r = table("albums").select("id").order("year", desc=True, nullsfirst=False).execute()
    eq(ids(r), [6, 5, 3, 4, 1, 2, 7])


@test
def order_two_columns():
    r = table("tracks").select("id").order("unit_price", desc=True).order("id").execute()
    eq(ids(r), [6, 7, 8, 1, 2, 3, 4, 5])


@test
def embed_shapes():
    eq(
        table("albums").select("title, artists(name)").eq("id", 3).execute().data,
        [{"title": "Balls to the Wall", "artists": {"name": "Accept"}}],
    )
    eq(
        table("artists").select("name, albums(title)").eq("id", 2).order("year", foreign_table="albums").execute().data,
        [{"name": "Accept", "albums": [{"title": "Restless and Wild"}, {"title": "Balls to the Wall"}]}],
    )
    eq(
        table("playlists").select("name, tracks(id)").eq("id", 2).order("id", foreign_table="tracks").execute().data,
        [{"name": "Heavy", "tracks": [{"id": 4}, {"id": 5}]}],
    )


@test
def embed_foreign_table_order_and_limit():
    r = (
        table("artists")
        .select("id, albums(id)")
        .eq("id", 1)
        .order("id", desc=True, foreign_table="albums")
        .limit(1, foreign_table="albums")
        .execute()
    )
    eq(r.data, [{"id": 1, "albums": [{"id": 2}]}])


@test
def embed_inner():
    r = table("artists").select("id, albums!inner(title)").gt("albums.year", 2000).execute()
    eq(r.data, [{"id": 4, "albums": [{"title": "Audioslave"}]}])


@test
def limit():
    eq(ids(table("artists").select("id").order("id").limit(2).execute()), [1, 2])


@test
def range_():
    eq(ids(table("artists").select("id").order("id").range(1, 3).execute()), [2, 3, 4])


@test
def offset():
    eq(ids(table("artists").select("id").order("id").limit(2).offset(3).execute()), [4, 5])


@test
def count_exact():
    r = table("tracks").select("id", count="exact").eq("genre", "Rock").order("id").execute()
    eq(r.count, 3, "count")
    eq(ids(r), [1, 2, 3])
    # a page of a larger total (206 on the wire)
    r = table("tracks").select("id, name", count="exact").order("id").limit(2).execute()
    eq(r.count, 8, "count")
    eq(r.data, [{"id": 1, "name": "For Those About To Rock (We Salute You)"}, {"id": 2, "name": "Put The Finger On You"}])
    # nothing matches
    r = table("tracks").select("id", count="exact").eq("genre", "Jazz").execute()
    eq(r.count, 0, "count")
    eq(r.data, [])


@test
def count_head():
    r = table("albums").select("*", count="exact", head=True).execute()
    eq(r.count, 7, "count")
    eq(r.data, [], "data")


@test
def single():
    r = table("artists").select("id, name").eq("id", 3).single().execute()
    eq(r.data, {"id": 3, "name": "Aerosmith"})


@test
def single_many_rows_is_error():
    e = expect_api_error(lambda: table("artists").select("id").single().execute(), "not_acceptable")
    eq(e.details, "The result contains 5 rows", "details")


@test
def maybe_single_one():
    r = table("albums").select("title, year").eq("id", 6).maybe_single().execute()
    eq(r.data, {"title": "Audioslave", "year": 2002})


@test
def maybe_single_none():
    eq(table("albums").select("*").eq("id", 999).maybe_single().execute(), None)


@test
def csv():
    text = table("artists").select("id,name").lte("id", 2).order("id").csv().execute()
    eq(text.data.splitlines(), ["id,name", "1,AC/DC", "2,Accept"])
    text = table("artists").select("name").eq("id", 5).csv().execute()
    eq(text.data.splitlines(), ["name", '"Crosby, Stills and Nash"'])


@test
def composite_key_table():
    r = table("playlist_items").select("*").eq("playlist_id", 1).order("track_id").execute()
    eq(r.data, [{"playlist_id": 1, "track_id": 1}, {"playlist_id": 1, "track_id": 3}, {"playlist_id": 1, "track_id": 7}])


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


@test
def error_unknown_column():
    expect_api_error(
        lambda: table("artists").select("id, nope").execute(),
        "unknown_column",
        "column 'nope' does not exist in 'artists'",
    )


@test
def error_unknown_filter_column():
    expect_api_error(
        lambda: table("artists").select("id").eq("nope", 1).execute(),
        "unknown_column",
        "column 'nope' does not exist in 'artists'",
    )


@test
def error_invalid_value():
    e = expect_api_error(
        lambda: table("artists").select("id").eq("id", "abc").execute(),
        "invalid_value",
        "invalid value for column 'id'",
    )
    eq(e.details, "'abc' is not an integer", "details")


@test
def error_unique_violation():
    e = expect_api_error(
        lambda: table("artists").insert({"name": "AC/DC"}).execute(),
        "unique_violation",
        'duplicate key value violates unique constraint "artists_name_key"',
    )
    if "23505" not in str(e.details):
        raise AssertionError("details should carry SQLSTATE 23505: %r" % e.details)


@test
def error_validation():
    e = expect_api_error(lambda: table("tracks").insert({"name": 5, "nope": 1}).execute(), "validation_failed")
    paths = sorted(d["path"] for d in e.details)
    eq(paths, ["/album_id", "/name", "/nope"], "details paths")


@test
def error_foreign_key_violation():
    # The message's wording is the backend's (SQLite cannot name the constraint).
    e = expect_api_error(lambda: table("artists").delete().eq("id", 1).execute(), "foreign_key_violation")
    for part in ('"artists"', "foreign key"):
        if part not in (e.message or ""):
            raise AssertionError("message should mention %s: %r" % (part, e.message))
    if "23503" not in str(e.details) or "albums_artist_id_fkey" not in str(e.details):
        raise AssertionError("details should name albums_artist_id_fkey and SQLSTATE 23503: %r" % e.details)
    eq(ids(table("artists").select("id").eq("id", 1).execute()), [1])


@test
def error_unknown_table():
    expect_api_error(lambda: table("nope").select("*").execute(), "not_found")


# ---------------------------------------------------------------------------------------
# Writes (each on rows it names itself)
# ---------------------------------------------------------------------------------------


@test
def insert_object():
    r = table("artists").insert({"name": "Deep Purple"}).execute()
    eq(len(r.data), 1, "rows returned")
    row = r.data[0]
    eq(row["name"], "Deep Purple", "name")
    if not isinstance(row["id"], int) or row["id"] <= 5:
        raise AssertionError("new id should be > 5: %r" % row)
    got = table("artists").select("id, name").eq("id", row["id"]).single().execute()
    eq(got.data, row, "read back")


@test
def insert_minimal():
    r = table("artists").insert({"name": "Black Sabbath"}, returning="minimal").execute()
    eq(r.data, [], "data")
    eq(len(table("artists").select("id").eq("name", "Black Sabbath").execute().data), 1, "rows")


@test
def insert_list():
    rows = [
        {"name": "Intro", "album_id": 7, "milliseconds": 1000},
        {"name": "Outro", "album_id": 7},
    ]
    r = table("tracks").insert(rows).execute()
    eq([t["name"] for t in r.data], ["Intro", "Outro"], "names")
    eq([t["milliseconds"] for t in r.data], [1000, None], "milliseconds (a missing key is NULL)")
    eq([float(t["unit_price"]) for t in r.data], [0.99, 0.99], "unit_price (not in columns: default)")
    got = table("tracks").select("name").eq("album_id", 7).order("id").execute()
    eq([t["name"] for t in got.data], ["Intro", "Outro"], "read back")


@test
def insert_list_missing_default():
    rows = [{"name": "A", "album_id": 5, "unit_price": 2.5}, {"name": "B", "album_id": 5}]
    r = table("tracks").insert(rows, default_to_null=False).execute()
    eq([float(t["unit_price"]) for t in r.data], [2.5, 0.99], "unit_price (missing=default)")


@test
def insert_count():
    r = table("playlists").insert([{"name": "c1"}, {"name": "c2"}], count="exact").execute()
    eq(len(r.data), 2, "rows")
    eq(r.count, 2, "count")


@test
def upsert_merge_primary_key():
    r = table("playlists").upsert([{"id": 1, "name": "Music (renamed)"}, {"id": 20, "name": "New"}]).execute()
    eq(sorted((p["id"], p["name"]) for p in r.data), [(1, "Music (renamed)"), (20, "New")])
    got = table("playlists").select("id, name").in_("id", [1, 20]).order("id").execute()
    eq(got.data, [{"id": 1, "name": "Music (renamed)"}, {"id": 20, "name": "New"}], "read back")


@test
def upsert_on_conflict_merge():
    # name is UNIQUE: the row of "Accept" (id 2) is updated, not a new one inserted
    r = table("artists").upsert({"name": "Accept"}, on_conflict="name").execute()
    eq(len(r.data), 1, "rows")
    eq(r.data[0]["id"], 2, "id")
    eq(len(table("artists").select("id").eq("name", "Accept").execute().data), 1, "rows named Accept")


@test
def upsert_ignore_duplicates():
    r = table("artists").upsert([{"name": "AC/DC"}, {"name": "Motörhead"}], on_conflict="name", ignore_duplicates=True).execute()
    eq([a["name"] for a in r.data], ["Motörhead"], "only the inserted row is returned")
    eq(ids(table("artists").select("id").eq("name", "AC/DC").execute()), [1], "AC/DC unchanged")


@test
def update_with_filter():
    r = table("tracks").update({"genre": "Hard Rock"}).eq("album_id", 1).execute()
    eq(sorted(ids(r)), [1, 2], "updated ids")
    eq({t["genre"] for t in r.data}, {"Hard Rock"}, "genre")
    got = table("tracks").select("id").eq("genre", "Hard Rock").order("id").execute()
    eq(ids(got), [1, 2], "read back")
    eq(ids(table("tracks").select("id").eq("genre", "Rock").execute()), [3], "others untouched")


@test
def update_nothing_matches():
    r = table("tracks").update({"genre": "X"}).eq("id", 999).execute()
    eq(r.data, [])


@test
def update_max_affected():
    expect_api_error(
        lambda: table("tracks").update({"genre": "X"}).in_("id", [7, 8]).max_affected(1).execute(),
        "max_affected_exceeded",
    )
    eq(ids(table("tracks").select("id").eq("genre", "X").execute()), [], "nothing changed")


@test
def update_unfiltered_refused():
    # SPEC 4.3: an unfiltered PATCH is refused (PostgREST would update every row)
    expect_api_error(lambda: table("playlists").update({"name": "x"}).execute(), "unfiltered_write")


@test
def delete_with_filter():
    table("artists").insert([{"name": "Temp 1"}, {"name": "Temp 2"}, {"name": "Keep"}]).execute()
    r = table("artists").delete().like("name", "Temp*").execute()
    eq(sorted(a["name"] for a in r.data), ["Temp 1", "Temp 2"], "deleted rows")
    eq(table("artists").select("id").like("name", "Temp*").execute().data, [], "gone")
    eq(len(table("artists").select("id").eq("name", "Keep").execute().data), 1, "others kept")


@test
def delete_composite_key():
    r = table("playlist_items").delete().match({"playlist_id": 2, "track_id": 5}).execute()
    eq(r.data, [{"playlist_id": 2, "track_id": 5}])
    got = table("playlist_items").select("track_id").eq("playlist_id", 2).execute()
    eq(got.data, [{"track_id": 4}], "read back")


@test
def delete_unfiltered_refused():
    # SPEC 4.3: an unfiltered DELETE is refused (PostgREST would delete every row)
    expect_api_error(lambda: table("playlist_items").delete().execute(), "unfiltered_write")
    eq(len(table("playlist_items").select("*").execute().data) > 0, True, "rows kept")


# -----------------------------------------------------------------------------------------
# Containment (issue 20 item 4): contains / contained_by / overlaps on JSON columns on every
# backend (tests/fixtures/docs.*.sql), on PostgreSQL also on array columns. postgrest-py
# sends a list as `cs.{a,b}`, a dict as JSON text and a string as it is.


def doc_ids(query):
    return ids(query.order("id").execute())


@test
def contains_json():
    eq(doc_ids(table("docs").select("id").contains("tags", ["rock"])), [1, 3])
    eq(doc_ids(table("docs").select("id").contains("data", {"a": 1})), [1, 3])
    eq(doc_ids(table("docs").select("id").contains("tags", '"rock"')), [1, 3, 6])


@test
def contained_by_json():
    eq(doc_ids(table("docs").select("id").contained_by("tags", ["rock", "pop", "jazz"])), [1, 2, 4, 6])
    eq(doc_ids(table("docs").select("id").contained_by("data", {"a": 1, "b": {"c": [1, 2, 3]}})), [1])


@test
def overlaps_json():
    eq(doc_ids(table("docs").select("id").overlaps("tags", ["jazz", "pop"])), [1, 2])


@test
def contains_postgres_arrays():
    if BACKEND != "postgres":
        return
    eq(ids(table("items").select("id").contains("tags", ["rock"]).execute()), [1])
    eq(ids(table("items").select("id").contained_by("nums", [1, 2, 3, 4]).order("id").execute()), [1, 3])
    eq(ids(table("items").select("id").overlaps("tags", ["jazz", "pop"]).order("id").execute()), [1, 2])
    eq(table("items").select("tags, span").eq("id", 1).execute().data, [{"tags": ["rock", "pop"], "span": "[1,10)"}])


def main() -> int:
    passed = failed = 0
    for fn in TESTS:
        LAST.clear()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every kind of failure
            failed += 1
            print("FAIL python/%s %s: %s: %s" % (BACKEND, fn.__name__, type(e).__name__, e))
            if not isinstance(e, (AssertionError, APIError)):
                print("    " + "".join(traceback.format_exception(e)).replace("\n", "\n    ").rstrip())
            if LAST:
                print("    last request: " + LAST.get("request", "?"))
                print("    answer: " + LAST.get("response", "?"))
        else:
            passed += 1
            print("ok %s" % fn.__name__)
        sys.stdout.flush()
    print("RESULT %d %d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
