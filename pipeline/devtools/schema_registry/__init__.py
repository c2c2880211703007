"""A real Schema Registry for the tests and local use: Apicurio Registry, Confluent-compatible API.

- :mod:`.artifacts` builds one runnable jar from Maven Central artifacts (the Quarkus project in
  ``apicurio/``) into a cache directory on first use;
- :mod:`.server` starts it on a free port and waits until ``/apis/ccompat/v7`` answers.

``python -m pipeline.devtools.schema_registry`` builds the jar now (``scripts/install-schema-registry.sh``).

Errors::

    KafkaStageError (pipeline.kafka.errors)
    ├── SchemaRegistryUnavailableError   no Java 17+, no Maven and no cached jar, or the build failed
    └── SchemaRegistryStartError         the registry exited while starting or did not answer
"""

from pipeline.devtools.schema_registry.artifacts import (
    APICURIO_VERSION,
    SchemaRegistryUnavailableError,
    build_jar,
    cached_jar,
    registry_available,
)
from pipeline.devtools.schema_registry.server import (
    CCOMPAT_PATH,
    SchemaRegistry,
    SchemaRegistryStartError,
    launch_schema_registry,
    start_schema_registry,
)

__all__ = [
    "APICURIO_VERSION",
    "CCOMPAT_PATH",
    "SchemaRegistry",
    "SchemaRegistryStartError",
    "SchemaRegistryUnavailableError",
    "build_jar",
    "cached_jar",
    "launch_schema_registry",
    "registry_available",
    "start_schema_registry",
]
