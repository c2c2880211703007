"""Avro in Confluent Schema Registry framing: ``0x00`` + 4-byte schema id + schemaless Avro.

The registry client is confluent-kafka's ``SchemaRegistryClient``; the tests run it against a
real registry (Apicurio, :mod:`pipeline.devtools.schema_registry`). Framing and (de)serialization are done here with
fastavro so decode errors map onto the same typed errors as the other formats, and so the
writer schema can be *resolved* against the contract (producers may add optional fields).

Registry failures are :class:`RegistryError` (not the record's fault: the batch is retried),
except "schema id not found", which only this record can have: :class:`SchemaMismatchError`.

:func:`registry_client` is the one place a registry client is built (URL, timeout, and whatever
client settings the caller passes, e.g. authentication), for the codec and for anything else
that talks to the registry. :mod:`schemas.writer_schema` decodes and re-encodes records with
the producer's own writer schema (in-place redaction), through :meth:`RegistryAvroCodec.writer_schema`.
"""

from __future__ import annotations

import json
import struct

import fastavro

from schemas.contracts import Contract, parsed_schema, read_avro, schema_text, write_avro
from schemas.errors import CodecError, MalformedRecordError, RegistryError, SchemaMismatchError

MAGIC = 0
_HEADER = struct.Struct(">bI")
#: Seconds one registry request may take (confluent-kafka's default is to wait forever, which
#: would hang the worker on a registry that accepts connections but never answers).
DEFAULT_TIMEOUT_S = 10


def registry_client(url: str, config: dict | None = None):
    """confluent-kafka's ``SchemaRegistryClient`` for ``url`` (``mock://...``: its in-memory mock).

    ``config`` adds client settings (``basic.auth.user.info``, ``ssl.ca.location``, ``timeout``...);
    they override the defaults here. Raises :class:`CodecError` when the client is not installed
    or the settings are refused.
    """
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:
        raise CodecError(
            "format 'avro-registry' needs the schema registry client: pip install 'confluent-kafka[schemaregistry]'"
        ) from exc
    try:
        return SchemaRegistryClient.new_client({"url": url, "timeout": DEFAULT_TIMEOUT_S, **(config or {})})
    except (ValueError, TypeError) as exc:
        raise CodecError(f"invalid Schema Registry client settings: {exc}") from exc


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: bytes) -> tuple[int, bytes]:
    if len(data) < _HEADER.size or data[0] != MAGIC:
        raise MalformedRecordError("value does not start with the Schema Registry magic byte and schema id")
    _, schema_id = _HEADER.unpack_from(data)
    return schema_id, data[_HEADER.size :]


class RegistryAvroCodec:
    """Avro with Schema Registry framing; writer schemas cached by id, our ids by subject."""

    name = "avro-registry"

    def __init__(self, client) -> None:
        self.client = client
        self._writers: dict[int, dict] = {}
        self._ids: dict[str, int] = {}

    @classmethod
    def connect(cls, url: str, config: dict) -> RegistryAvroCodec:
        return cls(registry_client(url, config))

    def writer_schema(self, schema_id: int) -> dict:
        """The producer's schema registered under ``schema_id``, parsed by fastavro; fetched once per id.

        An id the registry does not know is this record's fault (:class:`SchemaMismatchError`);
        a registry that cannot be reached or fails is not (:class:`RegistryError`), and nothing is cached.
        """
        if schema_id not in self._writers:
            from confluent_kafka.schema_registry.error import SchemaRegistryError

            try:
                schema = self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise SchemaMismatchError(f"schema id {schema_id} is not in the registry") from exc
                raise RegistryError(f"schema registry lookup of id {schema_id} failed: {exc}") from exc
            except Exception as exc:
                raise RegistryError(f"schema registry lookup of id {schema_id} failed: {exc}") from exc
            if (schema.schema_type or "AVRO") != "AVRO":
                raise SchemaMismatchError(f"schema id {schema_id} is {schema.schema_type}, not Avro")
            try:
                self._writers[schema_id] = fastavro.parse_schema(json.loads(schema.schema_str))
            except Exception as exc:  # fastavro raises SchemaParseError, KeyError, ValueError...
                raise SchemaMismatchError(f"schema id {schema_id} is not a usable Avro schema: "
                                          f"{type(exc).__name__}") from exc
        return self._writers[schema_id]

    def decode(self, data: bytes | None, contract: Contract, topic: str) -> dict:
        if data is None:
            raise MalformedRecordError("record has no value (tombstone)")
        schema_id, body = unframe(data)
        return read_avro(body, self.writer_schema(schema_id), parsed_schema(contract))

    def schema_id(self, contract: Contract, topic: str) -> int:
        subject = f"{topic}-value"
        if subject not in self._ids:
            from confluent_kafka.schema_registry import Schema

            try:
                self._ids[subject] = self.client.register_schema(subject, Schema(schema_text(contract), "AVRO"))
            except Exception as exc:
                raise RegistryError(f"cannot register the {contract} schema under {subject}: {exc}") from exc
        return self._ids[subject]

    def encode(self, record: dict, contract: Contract, topic: str) -> bytes:
        return frame(self.schema_id(contract, topic), write_avro(record, parsed_schema(contract), contract))
