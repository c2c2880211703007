"""In-memory stand-ins for confluent-kafka's Message, Consumer and Producer (unit tests only).

They implement just the calls the worker makes, and record what it did (commits, pauses,
seeks, produced records) so tests can assert the order of effects without a broker. Workers
get them through :func:`fake_clients` (the real wrappers of ``pipeline.kafka.clients`` around
these fakes), so the KafkaException -> typed error mapping is exercised too; reach the fakes
with ``worker.consumer.raw`` / ``worker.producer.raw``.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from pipeline.kafka.clients import Clients


class FakeMsg:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None, key: bytes | None = None,
                 headers: list | None = None, timestamp: int = 1_700_000_000_000) -> None:
        self._t, self._p, self._o, self._v, self._k, self._h, self._ts = (topic, partition, offset, value, key,
                                                                          headers, timestamp)

    def topic(self): return self._t
    def partition(self): return self._p
    def offset(self): return self._o
    def value(self): return self._v
    def key(self): return self._k
    def headers(self): return self._h
    def timestamp(self): return (1, self._ts)
    def error(self): return None


def doc_msgs(topic: str, texts: list[str], partition: int = 0, start: int = 0) -> list[FakeMsg]:
    return [FakeMsg(topic, partition, start + i, json.dumps({"id": f"{partition}-{start + i}", "text": t}).encode(),
                    key=f"k{start + i}".encode(), headers=[("h", b"v")]) for i, t in enumerate(texts)]


class FakeConsumer:
    """``feed`` queues records; ``consume`` hands them out (skipping paused partitions)."""

    def __init__(self, conf: dict) -> None:
        self.conf = conf
        self.queue: list[FakeMsg] = []
        self.commits: list[list[tuple[str, int, int]]] = []
        self.paused: set[tuple[str, int]] = set()
        self.pause_calls = 0
        self.resume_calls = 0
        self.seeks: list[tuple[str, int, int]] = []
        self.callbacks: dict = {}
        self.closed = False
        self.on_consume = None  # hook: called at each consume() (e.g. to trigger a rebalance)
        self.events: list[str] = []
        self.refuse: dict[tuple[str, int], int] = {}  # partition -> KafkaError code its commit gets

    def subscribe(self, topics, on_assign=None, on_revoke=None, on_lost=None):
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def assign_now(self, partitions: list[tuple[str, int]]) -> None:
        self.callbacks["assign"](self, [TopicPartition(t, p) for t, p in partitions])

    def revoke_now(self, partitions: list[tuple[str, int]]) -> None:
        self.callbacks["revoke"](self, [TopicPartition(t, p) for t, p in partitions])

    def feed(self, msgs: list[FakeMsg]) -> None:
        self.queue.extend(msgs)

    def consume(self, num_messages: int = 1, timeout: float = -1):
        if self.on_consume is not None:
            self.on_consume(self)
        out, rest = [], []
        for msg in self.queue:
            if len(out) < num_messages and (msg.topic(), msg.partition()) not in self.paused:
                out.append(msg)
            else:
                rest.append(msg)
        self.queue = rest
        return out

    def commit(self, offsets=None, asynchronous=True):
        """Like librdkafka's synchronous commit: the partitions, each with its own ``error``;
        partitions in ``refuse`` (-> KafkaError code) are refused and not recorded."""
        result = []
        for tp in offsets:
            code = self.refuse.get((tp.topic, tp.partition))
            result.append(SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=tp.offset,
                                          error=None if code is None else KafkaError(code)))
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets
                             if (tp.topic, tp.partition) not in self.refuse])
        self.events.append("commit")
        return result

    def pause(self, partitions):
        self.pause_calls += 1
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions):
        self.resume_calls += 1
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def seek(self, tp):
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def position(self, partitions):
        return [TopicPartition(tp.topic, tp.partition, 0) for tp in partitions]

    def get_watermark_offsets(self, tp, timeout=None, cached=False):
        return (0, 5)

    def list_topics(self, topic=None, timeout=-1):  # every topic readable: the start-up check passes
        meta = SimpleNamespace(error=None, partitions={0: None})
        return SimpleNamespace(topics={topic: meta} if topic else {}, brokers={1: None})

    def committed(self, partitions, timeout=None):
        return partitions

    def consumer_group_metadata(self):
        return "group-metadata"

    def close(self):
        self.closed = True


class FakeProducer:
    """Records produced outputs; ``flush`` acknowledges them through the ``on_delivery`` callback."""

    def __init__(self, conf: dict) -> None:
        self.conf = conf
        self.produced: list[dict] = []
        self.unacked: list[dict] = []
        self.fail_topic: str | None = None
        self.fail_code = KafkaError._MSG_TIMED_OUT  # the delivery error of fail_topic's records
        self.fail_flushes = 0  # this many flushes report every record as failed
        self.max_bytes: int | None = None  # like message.max.bytes: larger values are refused at produce()
        self.broker_max_bytes: int | None = None  # like a topic's max.message.bytes: refused at delivery
        self.txn_delivery_failed = False  # a delivery failed in the open transaction
        self.fail_commit_transactions = 0
        self.events: list[str] = []
        self.transactions: list[str] = []

    def produce(self, topic, value=None, key=None, partition=-1, headers=None, on_delivery=None):
        if self.max_bytes is not None and value is not None and len(value) > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        record = {"topic": topic, "value": value, "key": key, "partition": partition, "headers": headers,
                  "on_delivery": on_delivery}
        self.produced.append(record)
        self.unacked.append(record)

    def poll(self, timeout=0):
        return 0

    def close(self):
        self.events.append("close")
        return True

    def flush(self, timeout=None):
        fail_all = self.fail_flushes > 0
        self.fail_flushes -= fail_all
        failed_any = False
        for record in self.unacked:
            callback = record["on_delivery"] or self.conf["on_delivery"]
            error = None
            if fail_all or record["topic"] == self.fail_topic:
                error = KafkaError(self.fail_code if not fail_all else KafkaError._MSG_TIMED_OUT)
            elif self.broker_max_bytes is not None and len(record["value"] or b"") > self.broker_max_bytes:
                error = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "RecordTooLarge")  # the topic's limit
            failed_any |= error is not None
            callback(error, _Delivered(record["topic"]))
        self.unacked = []
        self.events.append("flush")
        self.txn_delivery_failed |= failed_any
        return 0

    def list_topics(self, topic=None, timeout=-1):
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    # transactions
    def init_transactions(self, timeout=None):
        self.transactions.append("init")

    def begin_transaction(self):
        self.txn_delivery_failed = False
        self.transactions.append("begin")

    def send_offsets_to_transaction(self, offsets, metadata, timeout=None):
        self.transactions.append(f"offsets:{[(tp.partition, tp.offset) for tp in offsets]}")

    def commit_transaction(self, timeout=None):
        if self.fail_commit_transactions:
            self.fail_commit_transactions -= 1
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit timed out", txn_requires_abort=True))
        self.flush()
        if self.txn_delivery_failed:  # like librdkafka: a failed delivery makes the commit abortable
            raise KafkaException(KafkaError(KafkaError._INCONSISTENT, "delivery failed", txn_requires_abort=True))
        self.transactions.append("commit")

    def abort_transaction(self, timeout=None):
        self.unacked = []
        self.transactions.append("abort")


class _Delivered:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self):
        return self._topic


def fake_clients() -> Clients:
    return Clients(FakeConsumer, FakeProducer)
