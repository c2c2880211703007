"""A batch's compute on a helper thread while the worker thread keeps polling the consumer.

librdkafka expels a consumer that does not poll for ``max.poll.interval.ms``, and its batch is
then re-read again and again. So a compute that outlasts ``keepalive_s`` is polled through with
every partition paused (records that arrive meanwhile are held for after it), and partitions
revoked or lost meanwhile are forgotten: their records of the batch are never produced, so
their next owner reads them without a duplicate (docs/ARCHITECTURE.md, "Kafka stage").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar

import structlog

from pipeline.kafka.records import Output, Pending

log = structlog.get_logger(__name__)
T = TypeVar("T")
#: Longest gap between two polls while a batch computes (shorter if the interval is short).
KEEPALIVE_MAX_S = 1.0


def keepalive_s(consumer_config: dict) -> float:
    """A quarter of ``max.poll.interval.ms`` (librdkafka's default 300,000), at most a second."""
    interval_ms = float(consumer_config.get("max.poll.interval.ms", 300_000))
    return min(KEEPALIVE_MAX_S, interval_ms / 4000.0)


class InFlight:
    """Runs one batch's compute at a time; see the module docstring."""

    def __init__(self, keepalive: float, worker: int = 0) -> None:
        self.keepalive = keepalive
        self.worker = worker  # the worker's index, for log lines
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ner-batch")
        #: while polling during a compute: the partitions revoked or lost meanwhile
        self.gone: set[tuple[str, int]] = set()
        #: records consumed while a compute ran, for after it (in arrival order)
        self.held: list[Any] = []
        self.polling = False

    def run(self, compute: Callable[[], T], poll: Callable[[], list], pause: Callable[[bool], None]) -> T:
        """``compute()``'s result (or its exception). After ``keepalive`` seconds without one,
        ``pause(True)``, then ``poll()`` (its records are held) every ``keepalive`` seconds
        until it returns, then ``pause(False)``."""
        self.gone = set()
        future = self._pool.submit(compute)
        try:
            return future.result(timeout=self.keepalive)
        except FuturesTimeout:
            pass
        self.polling = True
        pause(True)
        try:
            while True:
                self.held.extend(poll())
                try:
                    return future.result(timeout=self.keepalive)
                except FuturesTimeout:
                    continue
        finally:
            self.polling = False
            pause(False)

    def forget(self, parts: set[tuple[str, int]]) -> None:
        """Partitions leaving while a batch computes: its records of them are not produced, and
        records held for after it are dropped (the next owner reads them all again)."""
        self.gone |= parts
        self.held = [m for m in self.held if (m.topic(), m.partition()) not in parts]

    def still_owned(self, batch: list[Pending], outputs: list[Output]) -> tuple[list[Pending], list[Output]]:
        """The batch and its outputs without the records of partitions that left meanwhile
        (never produced: their next owner reads them again, no duplicate)."""
        gone, self.gone = self.gone, set()
        if not gone:
            return batch, outputs
        kept = [item for item in batch if (item.source.topic, item.source.partition) not in gone]
        ids = {id(item) for item in kept}
        log.info("kafka.batch_trimmed", worker=self.worker, records=len(batch), kept=len(kept))
        return kept, [o for o in outputs if o.item is not None and id(o.item) in ids]

    def take_held(self) -> list[Any]:
        held, self.held = self.held, []
        return held

    def close(self) -> None:
        """Stop accepting work; a compute still running (the worker failed) is left to finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
