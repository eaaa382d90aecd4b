#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: scripts/test.sh starts one before pytest and
# stops it when it exits; tests reach it through FIELDKIT_TEST_POSTGRES (tests/postgres.py).
#
#   scripts/postgres.sh start DIR   make a cluster in the empty folder DIR, start it, print its URL
#   scripts/postgres.sh stop DIR    stop that server and delete DIR (only a folder start made)
#
# The server listens on a unix socket in DIR and on 127.0.0.1 on a free port. Over the socket
# the account that ran this script connects as the database superuser of its own name with no
# password (peer authentication); over TCP it needs the random password kept, with the whole
# URL, in DIR/tcp.url. The printed URL is the socket one, so no password ever reaches a log.
# initdb refuses to run as root: as root (CI) the cluster belongs to the "postgres" account
# that Debian's package creates (or "nobody"), and only its files and processes do.
# Durability is switched off (fsync=off; FIELDKIT_POSTGRES_DURABLE=1 keeps it on, for the
# benchmarks): the cluster is thrown away, and a test kills
# clients, never this server. Uses Debian's server binaries, wherever they are.
set -euo pipefail

usage() {
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
dir=$2

# The folder of initdb, pg_ctl and postgres: $FIELDKIT_POSTGRES_BIN, else initdb on PATH,
# else the newest of Debian's /usr/lib/postgresql/<version>/bin (not on PATH there).
find_bindir() {
    local initdb
    if [ -n "${FIELDKIT_POSTGRES_BIN:-}" ]; then
        initdb="$FIELDKIT_POSTGRES_BIN/initdb"
    elif command -v initdb >/dev/null 2>&1; then
        initdb=$(command -v initdb)
    else
        initdb=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
            | sort -V | tail -n 1)
    fi
    if [ -z "$initdb" ] || [ ! -x "$initdb" ]; then
        echo "PostgreSQL's server programs (initdb) are not installed" \
            "(scripts/install-system-packages.sh installs Debian's postgresql)" >&2
        exit 1
    fi
    dirname "$(readlink -f "$initdb")"
}

# Runs a server program as the account that owns the cluster.
# From inside the cluster's folder: the owner may not be allowed into the current one.
as_owner() {
    (
        cd "$dir"
        if [ "$owner" = "$(id -un)" ]; then
            "$@"
        elif command -v runuser >/dev/null 2>&1; then
            runuser -u "$owner" -- "$@"
        else
            su -s /bin/sh "$owner" -c "$(printf '%q ' "$@")"
        fi
    )
}

owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi

case "$action" in
start)
    bindir=$(find_bindir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -n "$(ls -A "$dir")" ]; then
        echo "$dir is not empty: give start a new, empty folder" >&2
        exit 2
    fi
    chmod 700 "$dir"
    touch "$dir/.fieldkit-test-postgres"  # stop deletes only a folder that start made
    [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir"
    superuser=$(id -un)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    (umask 077 && printf '%s\n' "$password" >"$dir/password")
    [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir/password"
    as_owner "$bindir/initdb" --pgdata "$dir/data" --username "$superuser" --pwfile "$dir/password" \
        --auth-local peer --auth-host scram-sha-256 --encoding UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/password"
    # FIELDKIT_POSTGRES_DURABLE=1 (the benchmarks) keeps PostgreSQL's own defaults, so its
    # figures are those of a server that fsyncs every commit, as a real hub's does.
    durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${FIELDKIT_POSTGRES_DURABLE:-}" = 1 ] && durability="-c fsync=on"
    # A free port, asked of the kernel; another program may take it first, so try a few.
    for _ in 1 2 3 4 5; do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if as_owner "$bindir/pg_ctl" --pgdata "$dir/data" --log "$dir/server.log" --wait --timeout 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
            -o "$durability" \
            start >/dev/null; then
            break
        fi
        port=""
    done
    if [ -z "$port" ]; then
        cat "$dir/server.log" >&2 || true
        echo "the test PostgreSQL server did not start (log above)" >&2
        exit 1
    fi
    (umask 077 && printf 'postgresql://%s:%s@127.0.0.1:%s/postgres\n' "$superuser" "$password" "$port" \
        >"$dir/tcp.url")
    printf 'postgresql://%s@/postgres?host=%s&port=%s\n' "$superuser" "$dir" "$port"
    ;;
stop)
    [ -d "$dir" ] || exit 0
    if [ ! -f "$dir/.fieldkit-test-postgres" ]; then
        echo "$dir was not made by scripts/postgres.sh start: not touching it" >&2
        exit 2
    fi
    if [ -f "$dir/data/postmaster.pid" ]; then
        bindir=$(find_bindir)
        as_owner "$bindir/pg_ctl" --pgdata "$dir/data" --mode fast --wait stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    usage
    ;;
esac
