"""``python -m pipeline.devtools.brokers.apache``: resolve the Apache Kafka jars now (setup scripts, CI).

Prints the jar directory on stdout; progress on stderr. Exits 2 with one line naming what is
missing (java, mvn, Maven Central) when Apache Kafka cannot be prepared here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.devtools.brokers.apache.artifacts import ApacheKafkaUnavailableError, java_executable, resolve_classpath
from pipeline.devtools.maven import Progress, prepare_main


def _prepare(progress: Progress) -> Path:
    java_executable()
    return resolve_classpath(progress=progress)


if __name__ == "__main__":
    sys.exit(prepare_main("Apache Kafka jars", _prepare, ApacheKafkaUnavailableError))
