"""The one edge to confluent-kafka: thin wrappers that map ``KafkaException`` to our errors.

Everything the worker asks of librdkafka goes through :class:`ConsumerClient` and
:class:`ProducerClient`, and every ``KafkaException`` is turned into a typed
:class:`~pipeline.kafka.errors.BrokerError` here, once (httpx's ``map_exceptions`` idea):

    KafkaException(err)                     -> raised here as
    err.fatal()                                FatalBrokerError
    err.txn_requires_abort(), or any non-fatal
      error of a transaction call, or _STATE
      from produce() inside a transaction      AbortableError
    MSG_SIZE_TOO_LARGE from produce()          ProduceTooLargeError
    anything else                              BrokerError (CommitError for commits)

``BufferError`` (the producer's local queue is full) never leaves :meth:`ProducerClient.produce`:
it serves delivery callbacks and tries again. A synchronous commit's per-partition errors are
returned, not ignored (:meth:`ConsumerClient.commit`).

:class:`Clients` builds the wrapped clients from librdkafka dicts; tests pass in-memory
consumer and producer classes with the same methods (``tests/unit/kafka/fakes.py``) instead
of patching module globals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from engines.errors import NerStageError
from pipeline.kafka.errors import (
    AbortableError,
    BrokerError,
    CommitError,
    FatalBrokerError,
    ProduceTooLargeError,
)

#: Kafka's default ``max.message.bytes`` for a topic (used when a topic's own cannot be read).
BROKER_DEFAULT_MAX_BYTES = 1_048_588
#: librdkafka's default ``message.max.bytes``.
PRODUCER_DEFAULT_MAX_BYTES = 1_000_000


def kafka_error(exc: BaseException) -> KafkaError | None:
    arg = exc.args[0] if getattr(exc, "args", None) else None
    return arg if isinstance(arg, KafkaError) else None


def typed(exc: KafkaException, action: str, *, abortable: bool = False, kind: type[BrokerError] = BrokerError
          ) -> BrokerError:
    """The typed error for a ``KafkaException`` raised while doing ``action``."""
    error = kafka_error(exc)
    if error is None:
        return kind(f"{action} failed: {exc}")
    text, name = f"{action} failed: {error.str()}", error.name()
    if error.fatal():
        return FatalBrokerError(text, code=name)
    if error.txn_requires_abort() or abortable:
        return AbortableError(text, code=name)
    if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return ProduceTooLargeError(text, code=name)
    return kind(text, code=name)


@contextlib.contextmanager
def mapped(action: str, *, abortable: bool = False, kind: type[BrokerError] = BrokerError) -> Iterator[None]:
    """``KafkaException`` -> our typed error. An exception raised inside a librdkafka callback
    (a rebalance callback that commits) or set by the extension while it returns a result
    surfaces as ``SystemError: ... returned a result with an exception set``, with the real
    one as its cause: that cause is raised instead (typed, if it is a ``KafkaException``)."""
    try:
        yield
    except KafkaException as exc:
        raise typed(exc, action, abortable=abortable, kind=kind) from exc
    except SystemError as exc:
        cause = exc.__cause__
        if isinstance(cause, KafkaException):
            raise typed(cause, action, abortable=abortable, kind=kind) from exc
        if isinstance(cause, NerStageError):
            raise cause from cause.__cause__
        raise


class ConsumerClient:
    """A consumer in a group with manual commits; ``raw`` is the library's (or a fake) consumer."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def subscribe(self, topics: list[str], **callbacks: Callable) -> None:
        with mapped("subscribe"):
            self.raw.subscribe(topics, **callbacks)

    def consume(self, count: int, timeout: float) -> list:
        with mapped("consume"):
            return self.raw.consume(count, timeout)

    def commit(self, offsets: list[TopicPartition]) -> list[tuple[TopicPartition, KafkaError]]:
        """Commit synchronously; returns the partitions the broker refused, with their errors
        (a refusal of the whole request raises :class:`CommitError` with its code)."""
        with mapped("offset commit", kind=CommitError):
            result = self.raw.commit(offsets=offsets, asynchronous=False)
        return [(tp, tp.error) for tp in (result or []) if getattr(tp, "error", None) is not None]

    def seek(self, tp: TopicPartition) -> None:
        with mapped(f"seek {tp.topic}[{tp.partition}] to {tp.offset}"):
            self.raw.seek(tp)

    def pause(self, parts: list[TopicPartition]) -> None:
        with mapped("pause partitions"):
            self.raw.pause(parts)

    def resume(self, parts: list[TopicPartition]) -> None:
        with mapped("resume partitions"):
            self.raw.resume(parts)

    def lag(self, parts: list[TopicPartition]) -> list[tuple[TopicPartition, int]]:
        """(partition, high watermark - position) from cached watermarks: no broker round trip."""
        out = []
        with mapped("read consumer lag"):
            for tp in self.raw.position(parts) if parts else []:
                _, high = self.raw.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:
                    out.append((tp, max(0, high - tp.offset)))
        return out

    def topic_error(self, topic: str, timeout: float) -> str | None:
        """The error name the brokers give for ``topic``'s metadata (None: readable, or absent and
        left to auto-creation); raises :class:`BrokerError` when no broker answers."""
        with mapped(f"read metadata of topic {topic}"):
            meta = self.raw.list_topics(topic, timeout=timeout).topics.get(topic)
        return None if meta is None or meta.error is None else meta.error.name()

    def committed(self, parts: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        """The group's committed offsets of ``parts`` (needs DESCRIBE/READ on the group)."""
        with mapped("read the group's committed offsets"):
            return self.raw.committed(parts, timeout=timeout)

    def assign_at_end(self, topics: list[str], timeout: float) -> None:
        """Read every partition of ``topics`` from its end offset now, outside the group's
        assignment: a reader of what is produced next (``ner-stage run``)."""
        with mapped("assign partitions at their end offsets"):
            parts = []
            for topic in topics:
                for p in self.raw.list_topics(topic, timeout=timeout).topics[topic].partitions:
                    _, high = self.raw.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                    parts.append(TopicPartition(topic, p, high))
            self.raw.assign(parts)

    def group_metadata(self) -> Any:
        with mapped("read consumer group metadata"):
            return self.raw.consumer_group_metadata()

    def close(self) -> None:
        with mapped("close the consumer"):
            self.raw.close()


class ProducerClient:
    """An idempotent (optionally transactional) producer."""

    def __init__(self, raw: Any, *, transactional: bool, max_bytes: int = PRODUCER_DEFAULT_MAX_BYTES) -> None:
        self.raw = raw
        self.transactional = transactional
        self.max_bytes = max_bytes  # message.max.bytes: larger records are refused at produce()

    def produce(self, topic: str, value: bytes | None, key: bytes | None, *, partition: int = -1,
                headers: list | None = None, on_delivery: Callable | None = None) -> None:
        extra = {"on_delivery": on_delivery} if on_delivery is not None else {}
        while True:
            try:
                self.raw.produce(topic, value, key, partition=partition, headers=headers, **extra)
                return
            except BufferError:  # local queue full: serve delivery callbacks, then try again
                self.raw.poll(0.05)
            except KafkaException as exc:
                error = kafka_error(exc)
                state = self.transactional and error is not None and error.code() == KafkaError._STATE
                raise typed(exc, f"produce to {topic}", abortable=state) from exc

    def poll(self, timeout: float = 0) -> None:
        with mapped("poll the producer"):
            self.raw.poll(timeout)

    def flush(self, timeout: float) -> int:
        """Records still unacknowledged after ``timeout`` seconds."""
        with mapped("flush the producer"):
            return self.raw.flush(timeout)

    def partitions(self, topic: str) -> int | None:
        """The topic's partition count, or None when the metadata cannot be read."""
        try:
            meta = self.raw.list_topics(topic, timeout=5).topics.get(topic)
        except KafkaException:
            return None
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        return len(meta.partitions)

    # -- transactions -------------------------------------------------------------------

    def init_transactions(self, timeout: float) -> None:
        with mapped("initialise transactions"):
            self.raw.init_transactions(timeout)

    def begin_transaction(self) -> None:
        with mapped("begin a transaction"):
            self.raw.begin_transaction()

    def send_offsets(self, offsets: list[TopicPartition], metadata: Any, timeout: float) -> None:
        with mapped("send offsets to the transaction", abortable=True):
            self.raw.send_offsets_to_transaction(offsets, metadata, timeout)

    def commit_transaction(self, timeout: float) -> None:
        with mapped("commit the transaction", abortable=True):
            self.raw.commit_transaction(timeout)

    def abort_transaction(self, timeout: float) -> None:
        with mapped("abort the transaction"):
            self.raw.abort_transaction(timeout)

    def close(self) -> None:
        with mapped("close the producer"):
            self.raw.close()


class Clients:
    """Makes the wrapped clients; the defaults are confluent-kafka's, tests pass fakes."""

    def __init__(self, consumer: Callable[[dict], Any] | None = None, producer: Callable[[dict], Any] | None = None,
                 admin: Callable[[dict], Any] | None = None) -> None:
        if consumer is None or producer is None:
            from confluent_kafka import Consumer, Producer
            from confluent_kafka.admin import AdminClient

            consumer, producer, admin = consumer or Consumer, producer or Producer, admin or AdminClient
        self._consumer, self._producer, self._admin = consumer, producer, admin

    def consumer(self, conf: dict) -> ConsumerClient:
        with mapped("create the consumer"):
            return ConsumerClient(self._consumer(conf))

    def producer(self, conf: dict) -> ProducerClient:
        with mapped("create the producer"):
            raw = self._producer(conf)
        max_bytes = int(conf.get("message.max.bytes", PRODUCER_DEFAULT_MAX_BYTES))
        return ProducerClient(raw, transactional="transactional.id" in conf, max_bytes=max_bytes)

    def topic_max_bytes(self, conf: dict, topic: str, timeout_s: float = 10.0) -> int | None:
        """The topic's ``max.message.bytes`` (None when there is no admin client or the broker
        does not say; callers then assume Kafka's default)."""
        if self._admin is None:
            return None
        try:
            from confluent_kafka.admin import ConfigResource

            admin = self._admin({k: v for k, v in conf.items() if k in _ADMIN_KEYS})
            resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
            configs = admin.describe_configs([resource], request_timeout=timeout_s)[resource].result(timeout_s)
            entry = configs.get("max.message.bytes")
            return int(entry.value) if entry is not None and entry.value else None
        except Exception:  # any failure means "unknown": the caller falls back
            return None


_ADMIN_KEYS = {"bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
               "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password"}
