#!/usr/bin/env bash
# Install fieldkit into .venv from a lock in requirements/: "runtime" (the demo) or "test"
# (the test suite and the benchmarks). Hash-checked, and skipped when .venv already holds
# exactly this lock and project, so that once installed the kit starts with no network.
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:?usage: scripts/install.sh runtime|test}
lock="requirements/$set_name.lock"
[ -f "$lock" ] || { echo "no lock $lock: use runtime or test" >&2; exit 2; }

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "fieldkit needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)" >&2
    exit 1
fi
stamp_file=.venv/.fieldkit-installed
stamp="$set_name $(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -x .venv/bin/fieldkit ] && grep -qxF "$stamp" "$stamp_file" 2>/dev/null; then
    exit 0  # already installed from this lock: nothing to fetch
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
echo "Installing fieldkit and the $set_name set from $lock into .venv ..."
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
# The build backend comes from the lock too (--no-build-isolation), so nothing is fetched here.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$stamp" >> "$stamp_file"
