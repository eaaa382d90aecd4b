#!/usr/bin/env bash
# The newest versions that the ranges in pyproject.toml allow, in a fresh virtual
# environment: install (building the wheel with the newest build backend too), then
# tests/installed_smoke.py. It tells the day a new release of a dependency would break
# a fresh install, while the lock keeps the README's commands working.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager .
echo "newest versions the ranges allow:"
"$venv/bin/python" -m pip freeze --disable-pip-version-check --exclude fieldkit | sed 's/^/  /'
python3 -m tests.installed_smoke "$venv/bin/fieldkit"
