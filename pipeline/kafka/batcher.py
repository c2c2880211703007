"""Micro-batching by document count, token budget and max wait (pure; no Kafka, no clock).

A batch closes when it holds ``max_records`` documents, when adding the next document would
exceed ``max_tokens`` (a single document larger than the budget forms a batch of its own: it
is windowed by NerService, never truncated), or when its oldest item has waited ``max_wait_s``.
Items leave in arrival order, so per-partition output order equals input order.

Items are opaque; each comes with a token count in padded tokens (``NerService.cost``, the
same cost function the HTTP batcher and ``NerService.infer`` budget with). Records that need
no inference (poison records on their way to the dead-letter topic) count as zero tokens but
keep their place, so offsets are committed in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_records: int = 64
    max_tokens: int = 16384
    max_wait_s: float = 0.05


class MicroBatcher(Generic[T]):
    """FIFO of ``(item, tokens, arrived_at)``; ``take`` cuts the next batch."""

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self._items: deque[tuple[T, int, float]] = deque()
        self._tokens = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def tokens(self) -> int:
        return self._tokens

    def add(self, item: T, tokens: int, now: float) -> None:
        self._items.append((item, tokens, now))
        self._tokens += tokens

    def ready(self, now: float) -> bool:
        """A full batch is waiting, or the oldest item has waited long enough."""
        if not self._items:
            return False
        limits = self.limits
        return (
            len(self._items) >= limits.max_records
            or self._tokens >= limits.max_tokens
            or now - self._items[0][2] >= limits.max_wait_s
        )

    def wait_s(self, now: float) -> float:
        """Seconds until the oldest item's deadline (0 when ready; max wait when empty)."""
        if not self._items:
            return self.limits.max_wait_s
        return max(0.0, self.limits.max_wait_s - (now - self._items[0][2]))

    def take(self) -> tuple[list[T], int]:
        """The next batch (possibly short) and its token count; never splits a document."""
        batch: list[T] = []
        tokens = 0
        limits = self.limits
        while self._items and len(batch) < limits.max_records:
            item, cost, _ = self._items[0]
            if batch and tokens + cost > limits.max_tokens:
                break
            self._items.popleft()
            batch.append(item)
            tokens += cost
        self._tokens -= tokens
        return batch, tokens

    def drop(self, keep) -> list[T]:
        """Remove items for which ``keep(item)`` is false (revoked partitions); return them."""
        kept: deque[tuple[T, int, float]] = deque()
        dropped = []
        for entry in self._items:
            if keep(entry[0]):
                kept.append(entry)
            else:
                dropped.append(entry[0])
        self._items = kept
        self._tokens = sum(cost for _, cost, _ in kept)
        return dropped
