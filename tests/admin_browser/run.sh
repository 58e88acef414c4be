#!/usr/bin/env bash
# Browser test of the admin page (issue 18): headless Chromium, driven by Selenium, walks the
# music example (schema.sql) through /_admin/ on SQLite, and on PostgreSQL and MariaDB when
# RESTABLE_TEST_POSTGRES_URL / RESTABLE_TEST_MYSQL_URL are set, checking every step against
# the database through the API. Screenshots go to target/admin-screenshots/.
#
# Installs what it needs itself: Debian's chromium and chromium-driver (apt) when missing,
# and Selenium (PyPI, pinned) in a venv at target/admin-browser-venv. Selenium is pointed at
# /usr/bin/chromedriver, so Selenium Manager never downloads anything.
# Ends with `N passed, M failed`; exits non-zero when anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
SELENIUM_VERSION=4.27.1
VENV=$ROOT/target/admin-browser-venv

if ! command -v chromium >/dev/null || ! [[ -x /usr/bin/chromedriver ]]; then
    echo "==> installing chromium and chromium-driver (apt)"
    SUDO=
    if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version

if ! "$VENV/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" 2>/dev/null; then
    echo "==> selenium $SELENIUM_VERSION in $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "selenium==$SELENIUM_VERSION"
fi

echo "==> building restable (debug)"
cargo build --quiet --bin restable

# No Selenium Manager, ever: the driver path is given explicitly, and this makes sure.
export SE_OFFLINE=true
exec "$VENV/bin/python" "$ROOT/tests/admin_browser/test_admin.py" \
    --bin "$ROOT/target/debug/restable" --schema "$ROOT/schema.sql" \
    --out "$ROOT/target/admin-screenshots"
