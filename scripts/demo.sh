#!/usr/bin/env bash
# Install fieldkit into .venv from requirements/runtime.lock (only the first time) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh runtime
exec .venv/bin/fieldkit demo "$@"
