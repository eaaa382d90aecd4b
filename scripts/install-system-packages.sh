#!/usr/bin/env bash
# Debian packages the test suite uses as real peers: the age CLI (interop) and
# Chromium with its version-matched driver (browser tests). Installs only what
# is missing; needs root or sudo on a Debian-like system. strace injects disk
# faults (a failing fsync) into real commands in the fault tests. poppler-utils
# (pdftoppm) renders the report's PDF pages so a test can check their margins are blank.
# systemd (systemd-analyze) verifies the unit 'fieldkit service install' writes.
# postgresql: the server programs scripts/postgres.sh runs a throwaway test server with
# (Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/<version>/bin).
set -euo pipefail

missing=()
command -v age >/dev/null 2>&1 || missing+=(age)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ -z "${FIELDKIT_POSTGRES_BIN:-}" ] && ! command -v initdb >/dev/null 2>&1 \
    && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Please install: ${missing[*]} (no apt-get here; tests that need them will be skipped)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "Please install as root: apt-get install ${missing[*]}" >&2
        exit 0
    fi
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
