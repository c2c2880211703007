"""Dead letters: the one place that builds them (:class:`DeadLetters`), sized to fit.

A dead letter is the original record (key, value, headers minus incoming ``ner.*``, a namespace
that is ours in any case, so a producer cannot plant fake error headers) plus ``ner.error.*``
and ``ner.source.*`` headers, so it can be re-driven after a fix (docs/OPERATIONS.md). The
message is a fixed text per error class, never record content. A record over the dead-letter
limit is cut to a prefix and marked ``ner.original.*``; docs/KAFKA_CONTRACTS.md lists every header.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import structlog

from pipeline.errors import InputError, TextTooLongError
from pipeline.kafka.clients import BROKER_DEFAULT_MAX_BYTES, PRODUCER_DEFAULT_MAX_BYTES
from pipeline.kafka.documents import Source
from pipeline.kafka.errors import (
    DocumentError,
    MissingTextError,
    OutputRefusedError,
    OutputTooLargeError,
    RecordFailedError,
)
from pipeline.kafka.records import DEAD_LETTER, Output, Pending
from pipeline.records.errors import FieldPolicyError, FieldTypeError, FieldValueError, IdFieldError
from schemas.errors import InvalidUtf8Error, MalformedRecordError, RecordError, SchemaMismatchError

log = structlog.get_logger(__name__)
HEADER_PREFIX = "ner."
#: room kept for librdkafka's per-record overhead and our error headers
OVERHEAD_BYTES = 4096

#: ``ner.error.message`` by error class (most specific first): text we wrote, never the record's.
MESSAGES: dict[type[BaseException], str] = {
    InvalidUtf8Error: "the value (or a string in it) is not valid UTF-8",
    MalformedRecordError: "the value cannot be decoded in the configured format (empty, not JSON/Avro, "
                          "or nested too deeply)",
    SchemaMismatchError: "the record does not match its schema (the document contract schemas/avro/document.avsc, "
                         "or with --text-fields the writer schema), or cannot be written back",
    RecordError: "the record cannot be decoded",
    MissingTextError: "the document has no text, or an empty one",
    FieldTypeError: "a value at a --text-fields path is not a string",
    IdFieldError: "the record id (--id-field) is not a string or an integer, or the key is not UTF-8",
    FieldPolicyError: "a --field-policy operator does not fit the value's type",
    FieldValueError: "a value at a configured field path cannot be used",
    TextTooLongError: "the text is longer than max_text_chars",
    OutputRefusedError: "the broker refused an output record of this document",
    OutputTooLargeError: "an output record of this document is larger than the producer's message.max.bytes",
    RecordFailedError: "processing failed for this record alone",
    DocumentError: "the record is not a usable document",
    InputError: "the document cannot be processed as given",
}


def error_message(error: BaseException) -> str:
    """The fixed text for the error's class, plus details that cannot carry content (a field
    name of the contract, a configured field path made concrete, a broker error code, the class
    name of an original error)."""
    text = next((m for cls, m in MESSAGES.items() if isinstance(error, cls)), "processing failed for this record")
    details = []
    field = getattr(error, "field", None)
    if isinstance(error, FieldValueError):
        details.append(f"path {error.path}")
    elif field in ("id", "text", "metadata", "language"):
        details.append(f"field {field}")
    code = getattr(error, "code", None)
    if isinstance(code, str) and code.isidentifier():
        details.append(f"broker error {code}")
    cause = getattr(error, "cause", None)
    if isinstance(cause, str) and cause.isidentifier():
        details.append(f"original error {cause}")
    return f"{text} ({', '.join(details)})" if details else text


def error_headers(error: BaseException, source: Source, source_timestamp_ms: int | None) -> list[tuple[str, bytes]]:
    pairs = {
        "ner.error.class": type(error).__name__,
        "ner.error.message": error_message(error),
        "ner.error.timestamp": datetime.now(UTC).isoformat(),
        "ner.source.topic": source.topic,
        "ner.source.partition": str(source.partition),
        "ner.source.offset": str(source.offset),
        "ner.source.timestamp": "" if source_timestamp_ms is None else str(source_timestamp_ms),
    }
    return [(k, v.encode("utf-8", "backslashreplace")) for k, v in pairs.items()]


def is_ours(key: str) -> bool:
    """In the ``ner.`` namespace, in any case (``NER.error.class`` must not pass as a copy either)."""
    return key[: len(HEADER_PREFIX)].casefold() == HEADER_PREFIX


def without_ours(headers: list[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    """Input headers minus the ``ner.*`` namespace (used for every output copy)."""
    return [(k, v) for k, v in (headers or []) if not is_ours(k)]


def _size(headers: list[tuple[str, bytes]]) -> int:
    return sum(len(k) + len(v or b"") for k, v in headers)


class DeadLetters:
    """Builds the dead letter of a record whose ``error`` is set, sized to fit ``max_bytes`` (the
    worker sets it to the smaller of its producer's and the topic's limit)."""

    def __init__(self, topic: str | None, max_bytes: int = PRODUCER_DEFAULT_MAX_BYTES) -> None:
        self.topic = topic
        self.max_bytes = max_bytes

    def fit(self, producer_max: int, topic_max: int | None) -> None:
        """A dead letter must fit the producer's and the topic's limits (Kafka's default when the
        topic's cannot be read)."""
        if topic_max is None:
            log.warning("kafka.dlq_limit_unknown", topic=self.topic, assumed=BROKER_DEFAULT_MAX_BYTES)
        self.max_bytes = min(producer_max, topic_max or BROKER_DEFAULT_MAX_BYTES)

    def letter(self, item: Pending, published: set[str] | None = None) -> Output | None:
        """The dead-letter output, or None (logged) when no dead-letter topic is configured.
        ``published``: an output of the record failed; the kinds of its outputs that went out."""
        msg, error = item.msg, item.error
        assert error is not None, "only records with an error are dead-lettered"
        if not self.topic:
            log.warning("kafka.record_dropped", error=type(error).__name__, topic=item.source.topic,
                        partition=item.source.partition, offset=item.source.offset)
            return None
        kind, stamp = msg.timestamp()
        key, value = msg.key(), msg.value()
        original = without_ours(msg.headers())
        ours = error_headers(error, item.source, stamp if kind else None)
        if published is not None:
            ours.append(("ner.outputs.published", ",".join(sorted(published)).encode()))
        if key is not None and len(key) > self.max_bytes // 4:  # a key that alone nearly fills a record
            ours += [("ner.original.key_size", str(len(key)).encode()), ("ner.original.key_truncated", b"true")]
            key = key[: self.max_bytes // 4]
        room = self.max_bytes - OVERHEAD_BYTES - len(key or b"") - _size(ours)
        if value is not None and len(value) + _size(original) > room:
            digest = hashlib.sha256(value).hexdigest()
            marks = [("ner.original.size", str(len(value)).encode()), ("ner.original.sha256", digest.encode()),
                     ("ner.original.truncated", b"true")]
            if _size(original) > room // 2:  # the headers themselves are the bulk: drop them
                original = []
                marks.append(("ner.original.headers_dropped", b"true"))
            value = value[: max(0, room - _size(original) - _size(marks))]
            ours += marks
        elif _size(original) > room:  # no value (or a small one) but huge headers
            original = []
            ours.append(("ner.original.headers_dropped", b"true"))
        return Output(DEAD_LETTER, self.topic, key, value, original + ours, item.source.partition, item)


def read_error_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """The ``ner.*`` headers of a dead letter as a dict (for consumers and tests)."""
    return {k: (v or b"").decode("utf-8") for k, v in (headers or []) if is_ours(k)}
