"""Producing output records: the partition each goes to, and hearing their acknowledgements.

Every output (entities, redacted, dead letters) leaves through :meth:`OutputSender.produce`,
so partition pinning is decided in one place; :class:`DeliveryTracker` is the producer's
default ``on_delivery``. Which input is to blame for a refused output is ``refusals.py``'s
business, not this module's (docs/ARCHITECTURE.md, "Kafka stage").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

from pipeline.kafka.clients import ProducerClient
from pipeline.kafka.errors import DeliveryError
from pipeline.kafka.records import Output

FLUSH_TIMEOUT_S = 60.0

OnDelivery = Callable[[KafkaError | None, Any], None]


class DeliveryTracker:
    """Counts acknowledgements and remembers failures (the producer's ``on_delivery``);
    ``denied``: outputs refused for a missing ACL, a stage error (``access.denied_output``)."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.denied: list[tuple[str, str]] = []  # (topic, error name): an ACL missing, not a bad record
        self.acked = 0

    def __call__(self, err: KafkaError | None, msg) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failures.append(f"{msg.topic()}: {err.str()}")
            if err.name().endswith("_AUTHORIZATION_FAILED"):
                self.denied.append((msg.topic(), err.name()))

    def reset(self) -> None:
        self.failures.clear()
        self.denied.clear()
        self.acked = 0


def flush(producer: ProducerClient) -> None:
    """Wait until every queued record is acknowledged or failed (:class:`DeliveryError` if not)."""
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        raise DeliveryError(f"{remaining} output records not acknowledged after {FLUSH_TIMEOUT_S:.0f}s")


class OutputSender:
    """Produces output records: a record with no key goes to output partition ``input partition
    % partitions`` (librdkafka would scatter it), a record with a key follows the key, except
    in-place output (``pinned``), which always keeps the input's partition number."""

    def __init__(self, producer: ProducerClient) -> None:
        self.producer = producer
        self._partitions: dict[str, int | None] = {}

    def produce(self, out: Output, on_delivery: OnDelivery | None = None) -> None:
        """Queue one record (librdkafka sends it in the background); :class:`ProduceTooLargeError`
        when it is over the producer's ``message.max.bytes``."""
        partition = -1 if out.key is not None and not out.pinned else self._pin(out.topic, out.partition)
        self.producer.produce(out.topic, out.value, out.key, partition=partition, headers=out.headers,
                              on_delivery=on_delivery)

    def flush(self) -> None:
        flush(self.producer)

    def poll(self) -> None:
        self.producer.poll(0)

    def _pin(self, topic: str, partition: int) -> int:
        """Output partition for a null-key record: the input partition modulo the topic's count."""
        if topic not in self._partitions:
            self._partitions[topic] = self.producer.partitions(topic)
        count = self._partitions[topic]
        return -1 if not count else partition % count
