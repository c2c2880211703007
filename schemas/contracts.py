"""The record contracts (``schemas/avro/<kind>.avsc``) and Avro datums read and written with
typed errors: what every codec, the registry framing and the producer's own writer schema
share. Its own module so :mod:`schemas.codec` and :mod:`schemas.registry` import it, never each
other. See docs/ARCHITECTURE.md (Packages) and docs/KAFKA_CONTRACTS.md.
"""

from __future__ import annotations

import io
import json
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import fastavro
from fastavro.validation import validate

from schemas.errors import CodecError, InvalidUtf8Error, SchemaMismatchError

Contract = Literal["document", "entity_result", "redacted_document"]
CONTRACTS: tuple[Contract, ...] = ("document", "entity_result", "redacted_document")
_FIELD = re.compile(r"^(\S+) is <")
_AVRO_FIELD = re.compile(r" on field (\S+)$")


@cache
def schema_text(contract: Contract) -> str:
    """The ``.avsc`` source of a contract (what other languages' producers load)."""
    if contract not in CONTRACTS:
        raise CodecError(f"unknown record contract {contract!r}; known: {CONTRACTS}")
    return resources.files("schemas").joinpath("avro", f"{contract}.avsc").read_text(encoding="utf-8")


@cache
def parsed_schema(contract: Contract) -> dict:
    """fastavro's parsed schema, parsed once per process."""
    return fastavro.parse_schema(json.loads(schema_text(contract)))


def check_shape(record: Any, contract: Contract) -> dict:
    """Validate a decoded record against its contract; return it as a dict."""
    if not isinstance(record, dict):
        raise SchemaMismatchError(f"expected a JSON object for {contract}, got {type(record).__name__}")
    try:
        validate(record, parsed_schema(contract), raise_errors=True, strict=False)
    except fastavro.validation.ValidationError as exc:
        # fastavro's messages quote the offending value: keep only the field paths (no document text)
        fields = sorted({_FIELD.match(str(e)).group(1) if _FIELD.match(str(e)) else "record" for e in exc.errors})
        raise SchemaMismatchError(f"record does not match the {contract} schema: {'; '.join(fields)}") from exc
    return record


def read_avro(body: bytes, writer: dict, reader: dict | None = None) -> dict:
    """One schemaless Avro datum; every byte must be consumed."""
    buffer = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buffer, writer, reader)
    except UnicodeDecodeError as exc:
        raise InvalidUtf8Error("an Avro string is not valid UTF-8") from exc
    except (EOFError, ValueError, IndexError, KeyError, TypeError, OverflowError, MemoryError) as exc:
        raise SchemaMismatchError(f"value does not decode with the writer schema: {type(exc).__name__}") from exc
    except fastavro.read.SchemaResolutionError as exc:  # pragma: no cover - subclass of AvroException
        raise SchemaMismatchError(f"writer schema does not resolve to the contract: {exc}") from exc
    except Exception as exc:  # fastavro raises bare AvroException subclasses for resolution
        raise SchemaMismatchError(f"value does not decode with the writer schema: {exc}") from exc
    if buffer.tell() != len(body):
        raise SchemaMismatchError(f"{len(body) - buffer.tell()} bytes left after the record: wrong schema")
    if not isinstance(record, dict):
        raise SchemaMismatchError("Avro value is not a record")
    return record


def write_avro(record: dict, schema: dict, contract: str) -> bytes:
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, schema, record)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeEncodeError) as exc:
        # fastavro's messages may quote the value (a union or enum mismatch): keep the field name only
        where = _AVRO_FIELD.search(str(exc))
        raise SchemaMismatchError(f"cannot encode {contract} as Avro: {type(exc).__name__}"
                                  + (f" on field {where.group(1)}" if where else "")) from exc
    return buffer.getvalue()
