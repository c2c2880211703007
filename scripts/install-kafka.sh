#!/usr/bin/env bash
# Apache Kafka for the integration tests (and `ner-stage broker`): resolves its jars from Maven
# Central into .cache/kafka-<version>/ once (python -m pipeline.devtools.brokers.apache; pom in
# pipeline/devtools/brokers/apache/). Does nothing when they are cached. Needs java 17+ and mvn: both are on
# the CI machines. Measured on a cold Maven repository: 10-16 s for 53 jars (45 MB) on the
# 2-core development VM. Under CI=true a failure stops the run (the tests must run on Apache
# Kafka there); elsewhere it warns and the tests fall back to the PyPI brokers (Tansu, noida-db).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
if command -v java >/dev/null && command -v mvn >/dev/null \
   && .venv/bin/python -m pipeline.devtools.brokers.apache >/dev/null; then
  echo "install-kafka: Apache Kafka jars ready ($((SECONDS - started)) s)" >&2
  exit 0
fi
echo "install-kafka: Apache Kafka could not be prepared (java 17+ and mvn on PATH, Maven Central reachable)" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
