#!/usr/bin/env bash
# Install fieldkit into .venv and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/fieldkit demo "$@"
