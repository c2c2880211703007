"""``python -m pipeline.devtools.schema_registry``: build the Apicurio Registry jar now (setup
scripts, CI), and record its class-data archive (one start and stop) so that the first test start
is fast too.

Prints the jar's path on stdout; progress on stderr. Exits 2 with one line naming what is
missing (java, mvn, Maven Central) when the registry cannot be prepared here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.devtools.maven import Progress, prepare_main
from pipeline.devtools.schema_registry.artifacts import SchemaRegistryUnavailableError, build_jar, java_for_registry
from pipeline.devtools.schema_registry.server import class_archive


def _prepare(progress: Progress) -> Path:
    java_for_registry()
    jar = build_jar(progress=progress)
    class_archive(jar, progress=progress)
    return jar


if __name__ == "__main__":
    sys.exit(prepare_main("Apicurio Registry jar", _prepare, SchemaRegistryUnavailableError))
