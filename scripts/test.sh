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
.venv/bin/python -m pytest "$@"
