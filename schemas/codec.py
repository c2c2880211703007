"""Kafka record codecs by format name (``create_codec``): ``json`` (UTF-8 JSON validated against
the same Avro contract; lone surrogates escaped in text become U+FFFD, in an identifier they are
an error), ``avro`` (schemaless, the contract as writer schema) and ``avro-registry``
(:mod:`schemas.registry`, imported only when asked for). One contract per record kind
(:mod:`schemas.contracts`), so a producer may switch formats without the stage changing
meaning. Errors are typed (:mod:`schemas.errors`). See docs/KAFKA_CONTRACTS.md.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from schemas.contracts import Contract, parsed_schema, read_avro, write_avro
from schemas.errors import CodecError, InvalidUtf8Error, MalformedRecordError, SchemaMismatchError
from schemas.text import inspect, replace_lone_surrogates

Format = Literal["json", "avro", "avro-registry"]
#: Only a JSON escape can spell a surrogate in valid UTF-8 JSON (checked before walking a record).
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
#: Fields that identify a record, per contract: a lone surrogate there is never replaced.
IDENTIFIERS: dict[str, tuple[str, ...]] = {"document": ("id",)}


class Codec(Protocol):
    """Bytes <-> dict for one serialization format."""

    name: str

    def decode(self, data: bytes | None, contract: Contract, topic: str) -> dict: ...

    def encode(self, record: dict, contract: Contract, topic: str) -> bytes: ...


def _no_value(data: bytes | None) -> bytes:
    if data is None:
        raise MalformedRecordError("record has no value (tombstone)")
    if not data:  # no format encodes a record in zero bytes
        raise MalformedRecordError("record value is empty")
    return data


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class JsonCodec:
    """UTF-8 JSON objects, validated against the Avro contract."""

    name = "json"

    def decode(self, data: bytes | None, contract: Contract, topic: str) -> dict:
        raw = _no_value(data)
        try:
            text = raw.decode("utf-8")  # strict: invalid bytes are an error, not U+FFFD
        except UnicodeDecodeError as exc:
            raise InvalidUtf8Error(f"value is not valid UTF-8 at byte {exc.start}") from exc
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise MalformedRecordError(f"value is not JSON: {exc}") from exc
        except RecursionError as exc:  # e.g. 100,000 nested arrays: the record's fault, not ours
            raise MalformedRecordError("value is nested too deeply to decode") from exc
        if not isinstance(record, dict):
            raise SchemaMismatchError(f"expected a JSON object, got {type(record).__name__}")
        if _ESCAPED_SURROGATE.search(text):
            problem, lone = inspect(record, root="value", max_depth=8)
            if problem is not None:  # no contract nests this deep
                raise SchemaMismatchError("value is nested deeper than any record contract")
            if lone:
                for name in IDENTIFIERS.get(contract, ()):
                    value = record.get(name)
                    if isinstance(value, str) and not _encodable(value):
                        raise InvalidUtf8Error(f"{name} contains a lone surrogate (an identifier is never replaced)")
                record = replace_lone_surrogates(record)
        return record

    def encode(self, record: dict, contract: Contract, topic: str) -> bytes:
        try:
            return orjson.dumps(record, default=_json_default)
        except TypeError as exc:  # orjson.JSONEncodeError: e.g. lone surrogates in a string
            raise SchemaMismatchError(f"cannot encode {contract} as JSON: {exc}") from exc


class AvroCodec:
    """Schemaless Avro: writer and reader schema are both the contract."""

    name = "avro"

    def decode(self, data: bytes | None, contract: Contract, topic: str) -> dict:
        return read_avro(_no_value(data), parsed_schema(contract))

    def encode(self, record: dict, contract: Contract, topic: str) -> bytes:
        return write_avro(record, parsed_schema(contract), contract)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_codec(fmt: Format, *, registry_url: str | None = None, registry_config: dict | None = None) -> Codec:
    """The codec for a format name; the registry client is imported only when asked for."""
    if fmt == "json":
        return JsonCodec()
    if fmt == "avro":
        return AvroCodec()
    if fmt == "avro-registry":
        from schemas.registry import RegistryAvroCodec

        if not registry_url:
            raise CodecError("format 'avro-registry' needs a Schema Registry URL (--schema-registry-url)")
        return RegistryAvroCodec.connect(registry_url, registry_config or {})
    raise CodecError(f"unknown format {fmt!r}; use json, avro or avro-registry")
