"""Record formats: the user's bytes <-> a record tree, and back in the input's OWN format.

The record view works on a decoded *tree* (dicts, lists, strings, numbers, as ``json`` and
fastavro produce them) and never on bytes, so a format needs only two things::

    decode(value: bytes | None) -> Decoded      # the tree, plus how to write it back
    Decoded.encode(tree) -> bytes               # same format, same writer schema, same schema id

That is the whole contract (:class:`RecordFormat`). JSON and plain text are here. Avro plugs
in through :class:`WriterSchemaFormat`, which takes exactly two functions:

    decode_with_writer_schema(value) -> (record, writer_schema, schema_id | None)
    encode_with_schema(record, writer_schema, schema_id | None) -> bytes

(``schemas/writer_schema.py``; schemaless Avro with ``--input-schema``: :func:`avro_file_format`;
Confluent framing with a Schema Registry: :func:`registry_format`). No resolution
against our document contract: the producer's writer schema is the schema of the output.

Errors are the codecs' own (``schemas.errors.RecordError`` subclasses: dead-letter the record).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from schemas.codec import JsonCodec
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


def _non_finite(tree: Any) -> bool:
    """Any NaN/Infinity (``json`` reads them; orjson would write them back as null)?"""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class JsonFormat:
    """Any JSON object (strict UTF-8; lone-surrogate escapes become U+FFFD as on every front
    door). Written back with orjson: key order and every value kept; a record it could not
    write back as it came (NaN, Infinity) is refused when read."""

    name = "json"

    def __init__(self) -> None:
        self._codec = JsonCodec()

    def decode(self, value: bytes | None) -> Decoded:
        tree = self._codec.decode(value, "document", "")
        if (b"NaN" in value or b"Infinity" in value) and _non_finite(tree):
            raise SchemaMismatchError("the record holds NaN or Infinity, which JSON cannot carry back out")
        return Decoded(tree, _json_encode)


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


def avro_file_format(path: str) -> WriterSchemaFormat:
    """Schemaless Avro whose writer schema is the ``--input-schema`` file."""
    from schemas.writer_schema import decode_schemaless, encode_with_schema, load_input_schema

    schema = load_input_schema(path)
    return WriterSchemaFormat("avro", lambda value: (decode_schemaless(value, schema), schema, None),
                              encode_with_schema, schema)


def registry_format(codec: Any) -> WriterSchemaFormat:
    """Confluent framing: the writer schema fetched by the value's schema id (cached in ``codec``,
    a ``schemas.registry.RegistryAvroCodec``), written back under the same id."""
    from schemas.writer_schema import decode_with_writer_schema, encode_with_schema

    return WriterSchemaFormat("avro-registry", lambda value: decode_with_writer_schema(value, codec),
                              encode_with_schema)
