#!/usr/bin/env bash
# Refresh the locks in requirements/ from the ranges in pyproject.toml (docs/dependencies.md).
# uv resolves once for every platform (a Raspberry Pi's aarch64 as well as x86_64) and
# records the hash of every file, so pip can install the lock in hash-checking mode.
# Pass uv's options through, for example --upgrade-package babel.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet 'uv==0.13.*'
compile() {
    "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command 'bash scripts/lock.sh' "$@"
}
compile pyproject.toml requirements/build.in -o requirements/runtime.lock "${@}"
compile pyproject.toml requirements/build.in --extra test --extra bench -o requirements/test.lock "${@}"
echo "wrote requirements/runtime.lock and requirements/test.lock"
