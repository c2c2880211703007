"""The two records the Kafka stage passes around: a consumed record on its way (``Pending``)
and a record to produce (``Output``). No Kafka client here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.kafka.documents import Document, Source
from pipeline.service import NerService
from pipeline.tokenize import EncodedText

ENTITIES, REDACTED, DEAD_LETTER = "entities", "redacted", "dead_letter"


@dataclass(slots=True)
class Pending:
    """A consumed record on its way through the stage; ``error`` set means: dead-letter it."""

    msg: Any  # confluent_kafka.Message (or a test double with the same methods)
    source: Source
    doc: Document | None = None
    encoded: EncodedText | None = None
    error: BaseException | None = None

    @property
    def tokens(self) -> int:
        """Padded tokens (``NerService.cost``), the unit of every token budget."""
        return NerService.cost([self.encoded]) if self.encoded is not None else 0

    @property
    def key(self) -> tuple[str, int, int]:
        return self.source.topic, self.source.partition, self.source.offset


@dataclass(slots=True)
class Output:
    """One record to produce; ``partition`` is the input partition (for null-key pinning, and for
    every ``pinned`` record: in-place output keeps the input's partitioning whatever its key)."""

    kind: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    partition: int
    item: Pending | None = None
    pinned: bool = False
