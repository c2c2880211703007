"""From a consumed record to a validated document (the ``{"id", "text"}`` contract: the record
view's default, ``pipeline.records``), and from entities to output records.

Every check that can fail for one record lives in :func:`read_document`, so the worker can send
exactly that record to the dead-letter topic and go on with the batch. Output records follow
the contracts in ``schemas/avro``; the redacted record carries labels and offsets only, never
the original span text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.errors import TextTooLongError
from pipeline.kafka.errors import MissingTextError
from pipeline.records.view import Document, RecordRedaction, entity_items
from pipeline.spans import Entity
from schemas.codec import Codec
from schemas.contracts import check_shape
from schemas.errors import InvalidUtf8Error, SchemaMismatchError


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from; copied into outputs and dead-letter headers."""

    topic: str
    partition: int
    offset: int

    def to_dict(self) -> dict:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


def read_document(codec: Codec, value: bytes | None, topic: str, max_chars: int) -> Document:
    """Decode and validate one input record; raises a typed error naming what is wrong."""
    record = codec.decode(value, "document", topic)
    text = record.get("text")
    if text is None or text == "":
        raise MissingTextError("document has no text" if text is None else "document text is empty", field="text")
    check_shape(record, "document")
    if not isinstance(record["id"], str):  # pragma: no cover - check_shape guarantees it
        raise SchemaMismatchError("id must be a string")
    if len(text) > max_chars:
        raise TextTooLongError(f"text has {len(text)} characters; the limit is {max_chars}", field="text")
    for name in ("id", "text"):  # JSON escapes can carry lone surrogates, which no output can encode
        try:
            record[name].encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidUtf8Error(f"{name} contains a lone surrogate at character {exc.start}") from exc
    return Document(record["id"], text)


def entity_record(doc: Document, source: Source, redaction: RecordRedaction, model: tuple[str, str],
                  processed_at: datetime) -> dict:
    """Entities with ``field`` (the scanned string's path) and offsets into that string."""
    return {
        "id": doc.id,
        "source": source.to_dict(),
        "model": {"name": model[0], "revision": model[1]},
        "entities": entity_items(redaction),
        "processed_at": processed_at,
    }


def redacted_record(doc: Document, redacted_text: str, applied: Sequence[Entity]) -> dict:
    """Labels and offsets into the ORIGINAL text; never the original span text."""
    return {"id": doc.id, "text": redacted_text,
            "entities": [{"label": e.label, "start": e.start, "end": e.end} for e in applied]}
