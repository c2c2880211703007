"""``python -m pipeline.devtools.schema_registry``: build the Apicurio Registry jar now (setup scripts, CI),
and record its class-data archive (one start and stop) so that the first test start is fast too.

Prints the jar's path on stdout; progress on stderr. Exits 2 with one line naming what is
missing (java, mvn, Maven Central) when the registry cannot be prepared here.
"""

from __future__ import annotations

import sys
import time

from pipeline.devtools.schema_registry.artifacts import SchemaRegistryUnavailableError, build_jar, java_for_registry
from pipeline.devtools.schema_registry.server import class_archive


def main() -> int:
    started = time.monotonic()
    try:
        java_for_registry()
        progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        jar = build_jar(progress=progress)
        class_archive(jar, progress=progress)
    except SchemaRegistryUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Apicurio Registry jar ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(jar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
