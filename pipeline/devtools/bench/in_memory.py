"""The worker's ``BatchProcessor`` on in-memory records, no broker: the stage-compute passes of
``bench kafka`` (its main figure and the records case)."""

from __future__ import annotations

import time


class InMemoryRecord:
    """The parts of a confluent_kafka.Message the BatchProcessor reads."""

    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, offset: int, key: bytes, value: bytes) -> None:
        self._offset, self._key, self._value = offset, key, value

    def topic(self) -> str:
        return "bench-input"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self):
        return None


def processor_seconds(processor, docs: list[tuple[bytes, bytes]], batch: int) -> float:
    """Seconds ``processor`` takes over the (key, value) ``docs`` in batches of ``batch``."""
    records = [InMemoryRecord(i, k, v) for i, (k, v) in enumerate(docs)]
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        outputs = processor.run(processor.prepare(records[i : i + batch]))
        assert all(o.kind != "dead_letter" for o in outputs), "a benchmark record was dead-lettered"
    return time.perf_counter() - started
