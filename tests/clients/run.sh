#!/usr/bin/env bash
# Client-library compatibility tests: the official PostgREST clients drive a running
# restable over HTTP, on every backend this run has.
#
#   (a) Python: `postgrest` from PyPI, in a venv at target/clients-venv
#   (b) JavaScript: `@supabase/postgrest-js` from npm, in target/clients-node, run by the
#       machine's Node.js
#
# Backends: SQLite always; PostgreSQL when RESTABLE_TEST_POSTGRES_URL is set; MariaDB/MySQL
# when RESTABLE_TEST_MYSQL_URL is set. With RESTABLE_REQUIRE_BACKENDS=1 a missing URL is a
# failure. Each client gets its own fresh database loaded with tests/fixtures/music.*.sql
# (and docs.*.sql, json_docs.*.sql: tables of JSON documents) and its own server, so the
# two test files cannot disturb each other.
#
# Prints one line per client per backend, and closes with `N passed, M failed` (every check
# of every client on every backend). Exits non-zero when anything failed.
# CLIENTS_VERBOSE=1 also prints each passing check.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
HERE=$ROOT/tests/clients

# Pinned client versions, checked against restable.
PY_CLIENT_VERSION=2.34.1   # postgrest (PyPI), the Python client supabase-py uses; its
                           # dependencies are pinned in tests/clients/requirements.txt
JS_CLIENT_VERSION=2.109.0  # @supabase/postgrest-js (npm); the last line with engines node>=20

VENV=$ROOT/target/clients-venv
NODE_PREFIX=$ROOT/target/clients-node
WORK=$(mktemp -d "${TMPDIR:-/tmp}/restable-clients.XXXXXX")

TOTAL_PASSED=0
TOTAL_FAILED=0
SERVER_PID=
DROP_CMD=()

log() { printf '%s\n' "$*"; }
err() { printf 'error: %s\n' "$*" >&2; }

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

drop_database() {
    if ((${#DROP_CMD[@]})); then
        "${DROP_CMD[@]}" >/dev/null 2>&1 || true
        DROP_CMD=()
    fi
}

cleanup() {
    stop_server
    drop_database
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------

log "==> building restable (debug)"
if ! cargo build --quiet --bin restable; then
    err "cargo build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
BIN=$ROOT/target/debug/restable

setup_python() {
    local py=$VENV/bin/python req=$HERE/requirements.txt
    # Reuse the venv when it was made from this very requirements file and still works.
    if [[ -x $py ]] && cmp -s "$req" "$VENV/requirements.installed" &&
        [[ $("$py" -c 'import importlib.metadata as m; print(m.version("postgrest"))' 2>/dev/null) == "$PY_CLIENT_VERSION" ]]; then
        return 0
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV" || return 1
    "$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" || return 1
    cp "$req" "$VENV/requirements.installed"
}

# schemathesis (OpenAPI-driven fuzzing, issue "Operate it") in a venv of its own.
ST_VENV=$ROOT/target/schemathesis-venv
ST_VERSION=4.32.5
setup_schemathesis() {
    if [[ -x $ST_VENV/bin/schemathesis ]] &&
        [[ $("$ST_VENV/bin/schemathesis" --version 2>/dev/null) == *"$ST_VERSION"* ]]; then
        return 0
    fi
    rm -rf "$ST_VENV"
    python3 -m venv "$ST_VENV" || return 1
    "$ST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "schemathesis==$ST_VERSION" || return 1
}

setup_node() {
    local pkg=$NODE_PREFIX/node_modules/@supabase/postgrest-js/package.json
    if [[ -f $pkg ]] &&
        [[ $(node -p "require('$pkg').version" 2>/dev/null) == "$JS_CLIENT_VERSION" ]]; then
        return 0
    fi
    rm -rf "$NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    printf '{"private":true}\n' >"$NODE_PREFIX/package.json"
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-progress --save-exact \
        --loglevel=error "@supabase/postgrest-js@$JS_CLIENT_VERSION"
}

HAVE_PY=1
HAVE_JS=1
log "==> python client: postgrest==$PY_CLIENT_VERSION ($(python3 --version 2>&1))"
if ! setup_python; then
    err "could not set up the Python client in $VENV"
    HAVE_PY=0
fi
log "==> javascript client: @supabase/postgrest-js@$JS_CLIENT_VERSION (node $(node --version 2>&1 || echo missing))"
if ! command -v node >/dev/null || ! setup_node; then
    err "could not set up the JavaScript client in $NODE_PREFIX"
    HAVE_JS=0
fi
HAVE_ST=1
log "==> schemathesis $ST_VERSION"
if ! setup_schemathesis; then
    err "could not set up schemathesis in $ST_VENV"
    HAVE_ST=0
fi

# ---------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------

# url_with_db URL NAME: URL with its database (path) replaced by NAME, query kept.
url_with_db() {
    python3 - "$1" "$2" <<'EOF'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, "")))
EOF
}

# mysql_args URL: mariadb CLI arguments (one a line) for URL; the password goes to MYSQL_PWD.
mysql_args() {
    python3 - "$1" <<'EOF'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print("--protocol=tcp")
print("-h" + (p.hostname or "127.0.0.1"))
print("-P" + str(p.port or 3306))
print("-u" + u.unquote(p.username or "root"))
EOF
}

mysql_password() {
    python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).password or ""))' "$1"
}

DB_SEQ=0

# make_database BACKEND: a fresh database with the music fixture and the docs fixture (JSON
# documents; on PostgreSQL also arrays and ranges); sets DB_URL and DROP_CMD.
make_database() {
    local backend=$1
    DB_SEQ=$((DB_SEQ + 1))
    local name="restable_clients_$$_${DB_SEQ}"
    case $backend in
    sqlite)
        local path=$WORK/$name.db
        DROP_CMD=(rm -f "$path" "$path-wal" "$path-shm")
        python3 - "$path" "$ROOT/tests/fixtures/music.sqlite.sql" \
            "$ROOT/tests/fixtures/docs.sqlite.sql" \
            "$ROOT/tests/fixtures/json_docs.sqlite.sql" <<'EOF' || return 1
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for script in sys.argv[2:]:
    with open(script, encoding="utf-8") as f:
        con.executescript(f.read())
con.commit()
con.close()
EOF
        DB_URL="sqlite://$path"
        ;;
    postgres)
        local admin=$RESTABLE_TEST_POSTGRES_URL
        export PGOPTIONS="-c client_min_messages=warning"
        psql "$admin" -v ON_ERROR_STOP=1 -qX -c "DROP DATABASE IF EXISTS $name" \
            -c "CREATE DATABASE $name" >/dev/null || return 1
        DROP_CMD=(psql "$admin" -qX -c "DROP DATABASE IF EXISTS $name WITH (FORCE)")
        DB_URL=$(url_with_db "$admin" "$name") || return 1
        psql "$DB_URL" -v ON_ERROR_STOP=1 -qX \
            -f "$ROOT/tests/fixtures/music.postgres.sql" \
            -f "$ROOT/tests/fixtures/docs.postgres.sql" \
            -f "$ROOT/tests/fixtures/json_docs.postgres.sql" >/dev/null || return 1
        ;;
    mysql)
        local admin=$RESTABLE_TEST_MYSQL_URL
        local -a args
        mapfile -t args < <(mysql_args "$admin")
        ((${#args[@]})) || return 1
        MYSQL_PWD=$(mysql_password "$admin") || return 1
        export MYSQL_PWD
        mariadb "${args[@]}" -e "DROP DATABASE IF EXISTS $name;
            CREATE DATABASE $name CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" || return 1
        DROP_CMD=(mariadb "${args[@]}" -e "DROP DATABASE IF EXISTS $name")
        DB_URL=$(url_with_db "$admin" "$name") || return 1
        mariadb "${args[@]}" "$name" <"$ROOT/tests/fixtures/music.mysql.sql" || return 1
        mariadb "${args[@]}" "$name" <"$ROOT/tests/fixtures/docs.mysql.sql" || return 1
        mariadb "${args[@]}" "$name" <"$ROOT/tests/fixtures/json_docs.mysql.sql" || return 1
        ;;
    esac
}

healthy() {
    python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server BACKEND LABEL: a restable on DB_URL; sets BASE_URL. Returns 1 if it never
# became healthy (its log is printed).
start_server() {
    local label=$2
    local dir=$WORK/$label
    mkdir -p "$dir"
    cat >"$dir/services.toml" <<EOF
[server]
max_rows = 1000
aggregates = true

[database]
url = "$DB_URL"
pool_size = 4

[services.artists]
[services.albums]
[services.tracks]
[services.playlists]
[services.playlist_items]
table = "playlist_tracks"
[services.docs]
[services.json_docs]
EOF
    if [[ $1 == postgres ]]; then
        printf '[services.items]\n[services.item_notes]\n' >>"$dir/services.toml"
    fi
    local port attempt i
    # A free port can be taken between free_port and the bind: then try another one.
    for ((attempt = 1; attempt <= 3; attempt++)); do
        port=$(free_port)
        BASE_URL="http://127.0.0.1:$port"
        "$BIN" --config "$dir/services.toml" --bind "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        for ((i = 0; i < 150; i++)); do # 30 s
            kill -0 "$SERVER_PID" 2>/dev/null || break
            if healthy "$BASE_URL/_health"; then
                return 0
            fi
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null ||
            ! grep -qiE 'address (already )?in use' "$dir/server.log"; then
            break
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    done
    err "$label: restable did not become healthy on $BASE_URL; its log:"
    sed 's/^/    /' "$dir/server.log" >&2 || true
    stop_server
    return 1
}

# run_client CLIENT BACKEND: one client's test file against a fresh database and server.
run_client() {
    local client=$1 backend=$2
    local label="$client/$backend"
    local out=$WORK/${client}_$backend.out
    local passed=0 failed=0 status=0

    if [[ $client == python && $HAVE_PY == 0 ]] || [[ $client == js && $HAVE_JS == 0 ]] ||
        [[ $client == schemathesis && $HAVE_ST == 0 ]]; then
        log "FAIL $label: client not installed"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        return
    fi
    if ! make_database "$backend"; then
        log "FAIL $label: could not create the database"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        drop_database
        return
    fi
    if ! start_server "$backend" "${client}_$backend"; then
        log "FAIL $label: restable did not start"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        drop_database
        return
    fi

    set +e
    case $client in
    python)
        RESTABLE_URL=$BASE_URL RESTABLE_BACKEND=$backend \
            timeout 120 "$VENV/bin/python" "$HERE/test_python.py" >"$out" 2>&1
        ;;
    js)
        RESTABLE_URL=$BASE_URL RESTABLE_BACKEND=$backend RESTABLE_CLIENTS_NODE=$NODE_PREFIX \
            timeout 120 node "$HERE/test_js.mjs" >"$out" 2>&1
        ;;
    schemathesis)
        # Every operation of /openapi.json, a bounded number of generated requests each:
        # no 5xx, and status codes, content types and bodies as the document says.
        if timeout 300 "$ST_VENV/bin/schemathesis" run "$BASE_URL/openapi.json" \
            -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
            -n 10 --phases examples,fuzzing --seed 1 >"$out" 2>&1; then
            echo "RESULT 1 0" >>"$out"
        else
            grep -E "^_+ |ST[0-9]+|Test cases" "$out" | head -40 >"$out.short" || true
            mv "$out.short" "$out"
            echo "RESULT 0 1" >>"$out"
        fi
        ;;
    esac
    status=$?
    set -e

    stop_server
    drop_database

    local result
    result=$(grep -E '^RESULT [0-9]+ [0-9]+$' "$out" | tail -1 || true)
    if [[ -n $result ]]; then
        read -r _ passed failed <<<"$result"
    fi
    if [[ -z $result ]] || { ((status != 0)) && ((failed == 0)); }; then
        failed=$((failed + 1)) # the file itself crashed or timed out
    fi
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))

    if ((failed > 0)); then
        # The failing checks (with the request sent and the answer) and any crash output.
        grep -vE '^(ok |RESULT )' "$out" | sed 's/^/    /' || true
        log "FAIL $label: $passed passed, $failed failed (exit $status)"
    else
        if [[ ${CLIENTS_VERBOSE:-0} == 1 ]]; then sed 's/^/    /' "$out"; fi
        log "ok   $label: $passed passed, 0 failed"
    fi
}

BACKENDS=(sqlite)
require=${RESTABLE_REQUIRE_BACKENDS:-0}
for pair in postgres:RESTABLE_TEST_POSTGRES_URL mysql:RESTABLE_TEST_MYSQL_URL; do
    b=${pair%%:*} var=${pair#*:}
    if [[ -n ${!var:-} ]]; then
        BACKENDS+=("$b")
    elif [[ $require == 1 ]]; then
        log "FAIL $b: RESTABLE_REQUIRE_BACKENDS=1 but $var is not set"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
    else
        log "notice: $var not set, skipping $b client tests"
    fi
done

for backend in "${BACKENDS[@]}"; do
    for client in python js schemathesis; do
        run_client "$client" "$backend"
    done
done

echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
((TOTAL_FAILED == 0))
