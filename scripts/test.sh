#!/usr/bin/env bash
# Install everything from requirements/test.lock and run the whole test suite, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-packages.sh
bash scripts/install.sh test

.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache  # the one-way layers of docs/architecture.md
.venv/bin/mypy  # types: strict for core and protocol, default elsewhere (pyproject.toml)
.venv/bin/bandit --quiet --recursive fieldkit sync --severity-level high
bash scripts/audit-dependencies.sh
.venv/bin/fieldkit forms check
.venv/bin/fieldkit forms lint
.venv/bin/fieldkit translations check
# A throwaway PostgreSQL server for the tests that need one (tests/postgres.py gives each
# test its own database in it), stopped and deleted when this script exits, however it exits.
postgres_dir=$(mktemp -d -t fieldkit-postgres.XXXXXX)
trap 'bash scripts/postgres.sh stop "$postgres_dir"' EXIT
# Where it cannot start, CI fails here; elsewhere the tests that need it are skipped.
if FIELDKIT_TEST_POSTGRES=$(bash scripts/postgres.sh start "$postgres_dir"); then
    FIELDKIT_TEST_POSTGRES_TCP=$(cat "$postgres_dir/tcp.url")
    export FIELDKIT_TEST_POSTGRES FIELDKIT_TEST_POSTGRES_TCP
elif [ "${CI:-}" = true ]; then
    echo "CI needs the test PostgreSQL server (scripts/postgres.sh, above)" >&2
    exit 1
else
    echo "no test PostgreSQL server: the tests that need one are skipped" >&2
fi
# One worker per core, at most four (pytest-xdist): the suite's long proof tests are bounded by count
# and time, not by speed, so they hold with the other worker busy beside them.
# Tests go out one at a time (--maxschedchunk 1): in xdist's default chunks the first
# worker would get every slow test. FIELDKIT_TEST_WORKERS=0 runs everything in one process.
pytest_run() {
    .venv/bin/python -m pytest --numprocesses "${FIELDKIT_TEST_WORKERS:-auto}" --maxprocesses 4 --maxschedchunk 1 "$@"
}
pytest_run "$@"
# The hub's store tests again, with every hub on PostgreSQL (tests/hub_backend.py); the files
# are listed in tests/postgresql-pass.txt. Only for a whole run: arguments select tests of one pass.
if [ $# -eq 0 ] && [ -n "${FIELDKIT_TEST_POSTGRES:-}" ]; then
    echo "The hub's tests again, every hub on PostgreSQL:"
    mapfile -t hub_tests < <(grep -v '^#' tests/postgresql-pass.txt | grep .)
    FIELDKIT_TEST_HUB_BACKEND=postgresql pytest_run -m "not sqlite_only" -p no:cacheprovider "${hub_tests[@]}"
fi
