"""Dead letters: the original record, byte for byte, plus headers saying what went wrong.

Key, value and headers are copied unchanged, so the record can be replayed to the input
topic after a fix. The error headers (all UTF-8 strings) are::

    ner.error.class       exception class name, e.g. InvalidUtf8Error
    ner.error.message     what was wrong (never document text; at most 1000 characters)
    ner.error.timestamp   when it was dead-lettered, ISO 8601 UTC
    ner.source.topic      where the record was read from
    ner.source.partition
    ner.source.offset
    ner.source.timestamp  the input record's timestamp in ms since the epoch ('' if none)

No envelope schema is needed: the record itself is the original, and headers carry the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.kafka.documents import Source

MAX_MESSAGE = 1000
HEADER_PREFIX = "ner."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def error_headers(error: BaseException, source: Source, source_timestamp_ms: int | None) -> list[tuple[str, bytes]]:
    message = str(error) or type(error).__name__
    pairs = {
        "ner.error.class": type(error).__name__,
        "ner.error.message": message[:MAX_MESSAGE],
        "ner.error.timestamp": datetime.now(UTC).isoformat(),
        "ner.source.topic": source.topic,
        "ner.source.partition": str(source.partition),
        "ner.source.offset": str(source.offset),
        "ner.source.timestamp": "" if source_timestamp_ms is None else str(source_timestamp_ms),
    }
    return [(k, v.encode("utf-8", "backslashreplace")) for k, v in pairs.items()]


def dead_letter(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None,
                error: BaseException, source: Source, source_timestamp_ms: int | None = None) -> DeadLetter:
    """The dead-letter record for one input record (input headers first, then ours)."""
    original = [(k, v) for k, v in (headers or []) if not k.startswith(HEADER_PREFIX + "error.")]
    return DeadLetter(key, value, original + error_headers(error, source, source_timestamp_ms))


def read_error_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """The ``ner.*`` headers of a dead letter as a dict (for consumers and tests)."""
    return {k: (v or b"").decode("utf-8") for k, v in (headers or []) if k.startswith(HEADER_PREFIX)}
