"""``python -m pipeline.devtools.brokers.apache``: resolve the Apache Kafka jars now (setup scripts, CI).

Prints the jar directory on stdout; progress on stderr. Exits 2 with one line naming what is
missing (java, mvn, Maven Central) when Apache Kafka cannot be prepared here.
"""

from __future__ import annotations

import sys
import time

from pipeline.devtools.brokers.apache.artifacts import ApacheKafkaUnavailableError, java_executable, resolve_classpath


def main() -> int:
    started = time.monotonic()
    try:
        java_executable()
        directory = resolve_classpath(progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ApacheKafkaUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Apache Kafka jars ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
