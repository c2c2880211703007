#!/usr/bin/env bash
# Set up and run the whole stage on embedded defaults: local Tansu broker, default model,
# worker + HTTP server + sample producer; prints the entity and redacted records read back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
exec .venv/bin/ner-stage run "$@"
