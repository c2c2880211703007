#!/usr/bin/env bash
# Set up and run the whole test suite (unit, golden, integration with a real broker and model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,export,int8
bash scripts/install-kafka.sh
bash scripts/install-int8.sh
bash scripts/install-schema-registry.sh
bash scripts/install-chromium.sh
bash scripts/install-postgres.sh
.venv/bin/ruff check .
exec .venv/bin/pytest -q --durations=15 "$@"
