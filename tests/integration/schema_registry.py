"""The ``schema_registry`` fixture (session): a real Apicurio Registry, Confluent-compatible API.

Started from the jar ``scripts/install-schema-registry.sh`` built into ``.cache/`` (the first
use builds it, about a minute). Locally, where Java or Maven is missing, the tests using it
skip with the reason; under ``CI=true`` they fail (``requires.skip_or_fail``): never a silent
fallback to confluent-kafka's ``mock://`` client. Yields the running
:class:`~pipeline.devtools.schema_registry.SchemaRegistry` (``.url`` is the ``/apis/ccompat/v7`` base for
``--schema-registry-url``); its storage is in memory, so every test registers under its own
subjects (:func:`unique_subject`).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest

from pipeline.devtools.schema_registry import SchemaRegistry, SchemaRegistryUnavailableError, start_schema_registry
from tests.integration.requires import skip_or_fail


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory) -> Iterator[SchemaRegistry]:
    try:
        registry = start_schema_registry(log_dir=tmp_path_factory.mktemp("schema-registry"),
                                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    except SchemaRegistryUnavailableError as exc:
        skip_or_fail(str(exc))  # pytest caches it for the session
    with registry:
        yield registry


def unique_subject(stem: str) -> str:
    """A subject no other test (or earlier run against the same registry) uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}-value"
