"""Avro records in the producer's own schema: decode, let the caller rewrite strings, re-encode.

In-place redaction gives a team its own records back, so the stage must read them with the
schema they were *written* with -- never resolved against our ``document`` contract -- and
write them back with that same schema, under the same registry id, so downstream consumers
change nothing. The interface (used by the record view of ``--redacted-mode in-place``)::

    record, writer_schema, schema_id = decode_with_writer_schema(value, codec)   # avro-registry
    ... rewrite strings in record (a plain dict/list/str tree, as fastavro reads it) ...
    value = encode_with_schema(record, writer_schema, schema_id)                  # same id, same framing

    writer_schema = load_input_schema("orders.avsc")                              # schemaless avro
    record = decode_schemaless(value, writer_schema)
    value = encode_with_schema(record, writer_schema, None)                       # no framing

``codec`` is the :class:`~schemas.registry.RegistryAvroCodec` of the worker: its client and its
schema cache by id are shared, so each writer schema is fetched once per process. Errors:

- :class:`~schemas.errors.MalformedRecordError` -- no value, or no ``0x00`` + schema id framing;
- :class:`~schemas.errors.SchemaMismatchError` -- an id the registry does not know, a schema that
  is not Avro, bytes that do not decode with the writer schema (or leave bytes over), a rewritten
  record that no longer fits it (the message names fields, never values);
- :class:`~schemas.errors.InvalidUtf8Error` -- an Avro string that is not UTF-8;
- :class:`~schemas.errors.RegistryError` -- the registry is down or failed: not the record's
  fault, the batch is retried (a stage error, never a dead letter);
- :class:`~schemas.errors.CodecError` -- ``--input-schema`` cannot be read or is not Avro (start-up).

The first three are :class:`~schemas.errors.RecordError`: dead-letter the record, keep going.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro

from schemas.contracts import read_avro, write_avro
from schemas.errors import CodecError, MalformedRecordError
from schemas.registry import RegistryAvroCodec, frame, unframe


def decode_with_writer_schema(value: bytes | None, codec: RegistryAvroCodec) -> tuple[dict[str, Any], dict, int]:
    """A Confluent-framed Avro value -> ``(record, writer_schema, schema_id)``.

    ``writer_schema`` is fastavro's parsed schema fetched by ``schema_id`` (cached by id in
    ``codec``); ``record`` is read with it alone, so every field the producer wrote is kept.
    """
    if value is None:
        raise MalformedRecordError("record has no value (tombstone)")
    schema_id, body = unframe(value)
    writer_schema = codec.writer_schema(schema_id)
    return read_avro(body, writer_schema), writer_schema, schema_id


def encode_with_schema(record: dict[str, Any], writer_schema: dict, schema_id: int | None) -> bytes:
    """``record`` written with ``writer_schema``: Confluent-framed under ``schema_id``, or bare when None.

    Nothing is registered: the schema is already the registry's ``schema_id``, so the output
    carries the input's id and any consumer of the input topic reads it unchanged.
    """
    body = write_avro(record, writer_schema, f"record of schema {writer_schema.get('name', 'the input')}")
    return body if schema_id is None else frame(schema_id, body)


def load_input_schema(path: str | Path) -> dict:
    """The producer's ``.avsc`` for schemaless ``avro`` (``--input-schema``), parsed by fastavro.

    A file that cannot be read or is not an Avro record schema is a start-up error naming the file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CodecError(f"cannot read the input schema {path}: {exc}") from exc
    try:
        schema = fastavro.parse_schema(json.loads(text))
    except Exception as exc:  # JSONDecodeError, fastavro's SchemaParseError/UnknownType, KeyError...
        raise CodecError(f"{path} is not an Avro schema: {type(exc).__name__}: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise CodecError(f"{path} must be an Avro record schema (its top-level type is not 'record')")
    return schema


def decode_schemaless(value: bytes | None, writer_schema: dict) -> dict[str, Any]:
    """A schemaless Avro value written with ``writer_schema`` (see :func:`load_input_schema`)."""
    if value is None:
        raise MalformedRecordError("record has no value (tombstone)")
    if not value:  # as in every format (schemas.codec): zero bytes are not a record
        raise MalformedRecordError("record value is empty")
    return read_avro(value, writer_schema)
