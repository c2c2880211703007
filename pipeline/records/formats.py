"""Record formats: the user's bytes <-> a record tree, and back in the input's OWN format.

The record view works on a decoded *tree* (dicts, lists, strings, numbers, as ``json`` and
fastavro produce them) and never on bytes, so a format needs only two things::

    decode(value: bytes | None) -> Decoded      # the tree, plus how to write it back
    Decoded.encode(tree) -> bytes               # same format, same writer schema, same schema id

That is the whole contract (:class:`RecordFormat`). JSON and plain text are here. Avro plugs
in through :class:`WriterSchemaFormat`, which takes exactly two functions:

    decode_with_writer_schema(value) -> (record, writer_schema, schema_id | None)
    encode_with_schema(record, writer_schema, schema_id | None) -> bytes

(schemaless Avro with ``--input-schema``: :func:`avro_file_format`; Confluent framing with a
Schema Registry: :func:`registry_format` builds them on ``schemas.registry``). No resolution
against our document contract: the producer's writer schema is the schema of the output.

Errors are the codecs' own (``schemas.errors.RecordError`` subclasses: dead-letter the record).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from pipeline.errors import ConfigError
from schemas.codec import JsonCodec, read_avro, write_avro
from schemas.errors import InvalidUtf8Error, MalformedRecordError, SchemaMismatchError

TEXT_FIELD = "@value"  # the one "field" of --format text


@dataclass(slots=True)
class Decoded:
    """A decoded record: ``tree`` to read and rewrite, ``encode`` to write it back as it came."""

    tree: Any
    encode: Callable[[Any], bytes]
    schema: dict | None = None  # the writer schema (Avro), for field-policy checks
    schema_id: int | None = None


class RecordFormat(Protocol):
    name: str

    def decode(self, value: bytes | None) -> Decoded: ...


def _json_encode(tree: Any) -> bytes:
    try:
        return orjson.dumps(tree)
    except TypeError as exc:  # orjson.JSONEncodeError, e.g. an integer past 64 bits
        raise SchemaMismatchError(f"the record cannot be written back as JSON: {type(exc).__name__}") from exc


class JsonFormat:
    """Any JSON object (strict UTF-8; lone-surrogate escapes become U+FFFD as on every front
    door). Written back with orjson: key order and every value kept."""

    name = "json"

    def __init__(self) -> None:
        self._codec = JsonCodec()

    def decode(self, value: bytes | None) -> Decoded:
        return Decoded(self._codec.decode(value, "document", ""), _json_encode)


class TextFormat:
    """``--format text``: the whole value is one UTF-8 text (log lines, plain messages)."""

    name = "text"

    def decode(self, value: bytes | None) -> Decoded:
        if value is None:
            raise MalformedRecordError("record has no value (tombstone)")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidUtf8Error(f"value is not valid UTF-8 at byte {exc.start}") from exc
        return Decoded({TEXT_FIELD: text}, lambda tree: tree[TEXT_FIELD].encode("utf-8"))


DecodeWithWriterSchema = Callable[[bytes], tuple[dict, dict, "int | None"]]
EncodeWithSchema = Callable[[dict, dict, "int | None"], bytes]


class WriterSchemaFormat:
    """Avro with the producer's own writer schema, from the two codec functions (module docstring)."""

    def __init__(self, name: str, decode: DecodeWithWriterSchema, encode: EncodeWithSchema,
                 schema: dict | None = None) -> None:
        self.name = name
        self._decode = decode
        self._encode = encode
        self.schema = schema  # known at start (schemaless Avro), else None (one per schema id)

    def decode(self, value: bytes | None) -> Decoded:
        if value is None:
            raise MalformedRecordError("record has no value (tombstone)")
        record, writer, schema_id = self._decode(value)
        encode = self._encode
        return Decoded(record, lambda tree: encode(tree, writer, schema_id), writer, schema_id)


def load_avro_schema(path: str) -> dict:
    """A ``.avsc`` file parsed by fastavro (a start-up error names the file, not a traceback)."""
    import fastavro

    try:
        return fastavro.parse_schema(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--input-schema {path}: cannot read an Avro schema: {exc}") from exc
    except Exception as exc:  # fastavro's SchemaParseException and friends
        raise ConfigError(f"--input-schema {path}: not a valid Avro schema: {exc}") from exc


def avro_file_format(path: str) -> WriterSchemaFormat:
    """Schemaless Avro whose writer schema is the ``--input-schema`` file."""
    schema = load_avro_schema(path)
    return WriterSchemaFormat("avro", lambda value: (read_avro(value, schema), schema, None),
                              lambda record, writer, _id: write_avro(record, writer, "record"), schema)


def registry_format(codec: Any) -> WriterSchemaFormat:
    """Confluent framing: the writer schema fetched by the value's schema id, written back under
    the same id. ``codec`` is a ``schemas.registry.RegistryAvroCodec`` (its client and cache)."""
    from schemas.registry import frame, unframe

    def decode(value: bytes) -> tuple[dict, dict, int | None]:
        schema_id, body = unframe(value)
        writer = codec._writer_schema(schema_id)
        return read_avro(body, writer), writer, schema_id

    def encode(record: dict, writer: dict, schema_id: int | None) -> bytes:
        return frame(schema_id, write_avro(record, writer, "record"))

    return WriterSchemaFormat("avro-registry", decode, encode)
