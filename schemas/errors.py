"""Codec errors, under the project root ``NerStageError``.

    NerStageError
    └── CodecError                 a Kafka record cannot be turned into a dict or back
        ├── RecordError            THIS record is bad (poison): dead-letter it, keep going
        │   ├── MalformedRecordError   not JSON / not Avro / no Schema Registry framing
        │   ├── InvalidUtf8Error       text that is not valid UTF-8
        │   └── SchemaMismatchError    decodes, but not to the contract's shape
        └── RegistryError          the Schema Registry failed: not the record's fault, retry later

The split matters to the worker: a ``RecordError`` goes to the dead-letter topic, anything
else stops the batch (and is retried) because every record would fail the same way.
"""

from __future__ import annotations

from engines.errors import NerStageError


class CodecError(NerStageError):
    """A record cannot be decoded or encoded."""


class RecordError(CodecError):
    """This record cannot be decoded; other records may be fine."""


class MalformedRecordError(RecordError):
    """The bytes are not in the configured format at all."""


class InvalidUtf8Error(RecordError):
    """A string in the record is not valid UTF-8."""


class SchemaMismatchError(RecordError):
    """The record decodes but does not have the contract's fields and types."""


class RegistryError(CodecError):
    """The Schema Registry cannot be reached or refused a request."""
