"""The Kafka worker: poll, micro-batch, infer, produce, commit; rebalance, backpressure, drain.

One thread runs the loop (librdkafka does the network I/O in its own threads, and one
engine call at a time already uses every core):

1. ``consume`` up to the queue's free room, waiting at most until the oldest queued record's
   ``batch_max_wait_ms`` runs out; :meth:`BatchProcessor.prepare` decodes the records and
   tokenizes their texts in one call; they join the :class:`MicroBatcher` in arrival order;
2. when a batch is ready (count, token budget or max wait), :meth:`Worker._process` runs it:
   ONE engine call, outputs produced with the input key and headers, then the delivery
   guarantee's commit (``delivery.py`` writes the order down: at-least-once flushes until
   every output is acknowledged, then commits; exactly-once commits a transaction holding
   the outputs and the offsets, or aborts it and rewinds the consumer);
3. backpressure: when ``queue_max_records`` records are queued, every assigned partition is
   paused (librdkafka stops fetching) until the queue is back to half.

Per-partition order: records leave the batcher in arrival order and are produced in that
order by an idempotent producer, so outputs of one input partition keep their order. Records
with no key go to output partition ``input partition % partitions`` (librdkafka would
scatter them at random), records with a key follow the key.

Rebalance: before revoked partitions are released, their queued records are processed and
committed (a failed transaction is aborted; the next owner re-reads from the committed
offset). Lost partitions (session expired) are dropped without committing.

Shutdown: :attr:`Worker.stop` (set by SIGTERM/SIGINT) ends polling; queued records are
processed and committed, then the consumer leaves the group and the producer is flushed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Sequence

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from pipeline.kafka.batcher import BatchLimits, MicroBatcher
from pipeline.kafka.delivery import FLUSH_TIMEOUT_S, AtLeastOnce, DeliveryTracker, ExactlyOnce
from pipeline.kafka.errors import BrokerError, DeliveryError, RecordFailedError, TransactionError
from pipeline.kafka.metrics import WorkerMetrics, worker_metrics
from pipeline.kafka.processor import DEAD_LETTER, BatchProcessor, Output, Pending
from pipeline.kafka.settings import KafkaSettings

log = structlog.get_logger(__name__)
POLL_S = 0.1  # longest consume() wait: how fast the loop notices ``stop``
CONSUME_MAX = 1000
LAG_EVERY_S = 1.0


class Worker:
    """One consumer in the group, with its own producer; ``run()`` until ``stop`` is set."""

    def __init__(self, settings: KafkaSettings, processor: BatchProcessor, *, index: int = 0,
                 stop: threading.Event | None = None, metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.processor = processor
        self.index = index
        self.stop = stop or threading.Event()
        self.metrics = metrics or worker_metrics()
        self.batcher: MicroBatcher[Pending] = MicroBatcher(BatchLimits(
            settings.batch_max_records, settings.batch_max_tokens, settings.batch_max_wait_ms / 1000.0))
        self.tracker = DeliveryTracker()
        self._fatal: str | None = None
        self.consumer = Consumer({**settings.consumer_config(index), "error_cb": self._on_error})
        self.producer = Producer({**settings.producer_config(index), "error_cb": self._on_error,
                                  "on_delivery": self.tracker})
        self.delivery = (ExactlyOnce(self.producer, self.consumer, self.tracker) if settings.exactly_once
                         else AtLeastOnce(self.producer, self.consumer, self.tracker))
        #: first offset not yet committed, per partition this worker has read from
        self._uncommitted: dict[tuple[str, int], int] = {}
        #: exactly-once, outputs the broker refused in an aborted transaction, by (input, output
        #: topic): refused in a shared record batch (send alone next time), refused alone (the
        #: input is dead-lettered until a transaction commits it) -> reason
        self._suspects: set[tuple[tuple[str, int, int], str]] = set()
        self._refused: dict[tuple[str, int, int], str] = {}
        self._alone: set[tuple[tuple[str, int, int], str]] = set()
        self._passed: set[tuple[tuple[str, int, int], str]] = set()
        self._assigned: set[tuple[str, int]] = set()
        self._paused = False
        self._partitions: dict[str, int | None] = {}
        self._lag_at = 0.0
        self._failed = False
        self.batches = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``stop``; then drain, commit and leave the group."""
        log.info("kafka.worker_started", worker=self.index, inputs=self.settings.input, group=self.settings.group,
                 delivery=self.settings.delivery)
        self.consumer.subscribe(self.settings.input, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        try:
            while not self.stop.is_set():
                self.step()
            self._drain()
        except BaseException:
            # a batch failed uncommitted: never commit anything after it (closing the consumer runs
            # the revoke callback, which would otherwise finish and commit later records)
            self._failed = True
            self.batcher.drop(lambda _item: False)
            raise
        finally:
            self._close()
        log.info("kafka.worker_stopped", worker=self.index, batches=self.batches)

    def step(self) -> None:
        """One turn: poll for records (or only for callbacks while paused), run one ready batch."""
        if self._fatal:
            raise BrokerError(f"fatal Kafka client error: {self._fatal}")
        batcher = self.batcher
        now = time.monotonic()
        room = self.settings.queue_max_records - len(batcher)
        timeout = 0.0 if batcher.ready(now) else (min(batcher.wait_s(now), POLL_S) if len(batcher) else POLL_S)
        # while paused, consume() still serves rebalance callbacks; stragglers already fetched are kept
        msgs = self.consumer.consume(CONSUME_MAX if self._paused else min(max(room, 1), CONSUME_MAX), timeout)
        if msgs:
            self._accept(msgs)
        # every turn, not only when records came: a full queue pauses before the engine call, and a
        # queue that a rebalance emptied (revoked work finished in _on_revoke) resumes the partitions
        # that would otherwise stay paused for good, with nothing left to trigger a resume
        self._backpressure()
        if batcher.ready(time.monotonic()):
            self._process(batcher.take()[0])
            self._backpressure()  # half empty: resume
        if time.monotonic() - self._lag_at > LAG_EVERY_S:
            self._report_lag()

    def _accept(self, msgs: Sequence) -> None:
        good = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.fatal():
                raise BrokerError(f"fatal consumer error: {err.str()}")
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("kafka.consume_error", error=err.name(), reason=err.str())
        if not good:
            return
        now = time.monotonic()
        uncommitted = self._uncommitted
        for item in self.processor.prepare(good):
            uncommitted.setdefault((item.source.topic, item.source.partition), item.source.offset)
            self.batcher.add(item, item.tokens, now)
        for topic, n in Counter(m.topic() for m in good).items():
            self.metrics.records_in.labels(topic).inc(n)

    def _drain(self) -> None:
        while len(self.batcher):
            self._process(self.batcher.take()[0])

    def _close(self) -> None:
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka.consumer_close_failed", reason=str(exc))
        remaining = self.producer.flush(10)
        if remaining:  # never committed, so re-read by the next owner; close() would block on them
            log.warning("kafka.producer_unflushed", records=remaining)
            return
        # close() ends librdkafka's threads now; otherwise the producer lives until interpreter
        # exit (error_cb holds a reference) and logs reconnect failures once the broker is gone.
        try:
            self.producer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("kafka.producer_close_failed", reason=str(exc))

    # -- one batch ------------------------------------------------------------------------

    def _process(self, batch: list[Pending], *, rewind: bool = True) -> bool:
        """Run, produce and commit one batch; False if its transaction was aborted."""
        if not batch:
            return True
        started = time.perf_counter()
        self._judge(batch)
        self.delivery.begin()
        try:
            outputs = self.processor.run(batch)
            self._produce(outputs)
            offsets = self._offsets(batch)
            self.delivery.complete(offsets, self._reroute)
        except TransactionError as exc:
            log.warning("kafka.batch_aborted", records=len(batch), reason=str(exc))
            self._remember_refusals()
            if rewind:
                self._rewind()
            return False
        except BaseException:
            self.delivery.abort()
            raise
        for tp in offsets:
            self._uncommitted[(tp.topic, tp.partition)] = tp.offset
        if self._refused or self._suspects:  # committed: these inputs are settled
            settled = {_source_key(item) for item in batch}
            self._suspects = {o for o in self._suspects if o[0] not in settled}
            for key in settled:
                self._refused.pop(key, None)
        self._count(batch, outputs, time.perf_counter() - started)
        self.batches += 1
        return True

    def _judge(self, batch: list[Pending]) -> None:
        """Exactly-once, before a batch: inputs refused alone become dead letters; outputs refused
        in a shared record batch are sent alone this time (see delivery.py)."""
        self._alone, self._passed = set(), set()
        if not (self._refused or self._suspects):
            return
        keys = {_source_key(item) for item in batch}
        for item in batch:
            reason = self._refused.get(_source_key(item))
            if reason is not None:
                item.error = RecordFailedError(reason)
        self._alone = {o for o in self._suspects if o[0] in keys}
        self._suspects -= self._alone

    def _remember_refusals(self) -> None:
        """After an aborted transaction: which outputs the broker refused, alone or not."""
        for out, reason in self.tracker.rejected:
            okey = (_source_key(out.item), out.topic)
            if okey in self._alone:
                self._refused[okey[0]] = reason
            else:
                self._suspects.add(okey)
        # sent alone and acknowledged: innocent; not judged yet (the transaction failed first): again
        self._suspects |= {o for o in self._alone - self._passed if o[0] not in self._refused}

    def _produce(self, outputs: list[Output]) -> None:
        """Queue every output (librdkafka sends them in the background; ``complete`` waits for acks).

        An output larger than the producer's ``message.max.bytes`` is the record's fault: the
        record goes to the dead-letter topic instead (outputs of it already queued stay)."""
        for out in outputs:
            if out.kind != DEAD_LETTER and out.item is not None and out.item.error is not None:
                continue  # this record was dead-lettered while producing its other output
            partition = -1 if out.key is not None else self._pin(out.topic, out.partition)
            if out.kind != DEAD_LETTER and out.item is not None and (_source_key(out.item), out.topic) in self._alone:
                self._send_alone(out, partition)
            else:  # per-record callback, so a record the broker refuses can be traced to its input
                self._produce_one(out, partition, self.tracker.for_output(out) if out.item else None)
        self.producer.poll(0)

    def _produce_one(self, out: Output, partition: int, on_delivery=None) -> None:
        extra = {"on_delivery": on_delivery} if on_delivery is not None and out.kind != DEAD_LETTER else {}
        while True:
            try:
                self.producer.produce(out.topic, out.value, out.key, partition=partition, headers=out.headers,
                                      **extra)
                return
            except BufferError:  # local queue full: let deliveries drain
                self.producer.poll(0.05)
            except KafkaException as exc:
                if self._too_large(out, exc):
                    return
                error = exc.args[0] if exc.args else None
                if (self.settings.exactly_once and isinstance(error, KafkaError) and not error.fatal()
                        and (error.code() == KafkaError._STATE or error.txn_requires_abort())):
                    # the open transaction is in an abortable state: abort, rewind, do it again
                    self.delivery.abort()
                    raise TransactionError(f"transaction aborted: {error.str()}") from exc
                raise BrokerError(f"cannot produce to {out.topic}: {exc}") from exc

    def _too_large(self, out: Output, exc: KafkaException) -> bool:
        error = exc.args[0] if exc.args else None
        if (out.kind == DEAD_LETTER or out.item is None or not isinstance(error, KafkaError)
                or error.code() != KafkaError.MSG_SIZE_TOO_LARGE):
            return False
        out.item.error = RecordFailedError(f"the {out.kind} record ({len(out.value or b'')} bytes) is larger than "
                                           "the producer's message.max.bytes")
        if self.processor.dlq_topic:
            letter = self.processor.dead_letter(out.item)
            self.producer.produce(letter.topic, letter.value, letter.key, headers=letter.headers)
            self.metrics.dead_lettered.labels(RecordFailedError.__name__).inc()
        return True

    def _send_alone(self, out: Output, partition: int = -1) -> None:
        """Produce one output in a record batch of its own (flush before and after), so the
        broker's verdict on it is about it alone. Exactly-once: a refusal aborts the
        transaction here (it could not commit anyway), and the worker then knows the culprit."""
        self._flush_all()
        self._produce_one(out, partition, self.tracker.for_output(out))
        self._flush_all()
        if self.settings.exactly_once and self.tracker.failures:
            self.delivery.abort()
            raise TransactionError(f"transaction aborted: {self.tracker.failures[0]}")
        if out.item is not None:
            self._passed.add((_source_key(out.item), out.topic))

    def _flush_all(self) -> None:
        remaining = self.producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise DeliveryError(f"{remaining} output records not acknowledged after {FLUSH_TIMEOUT_S:.0f}s")

    def _reroute(self, rejected: list[tuple[Output, str]]) -> None:
        """At-least-once, after outputs the broker refused: re-send each alone; dead-letter the
        inputs of those refused again (once each, original bytes) so the batch can commit."""
        condemned: dict[int, tuple[Pending, str]] = {}
        for out, reason in {id(out): (out, reason) for out, reason in rejected}.values():
            self.tracker.reset()
            self._send_alone(out, -1 if out.key is not None else self._pin(out.topic, out.partition))
            if self.tracker.failures and not self.tracker.all_rejected():
                raise DeliveryError(f"output record failed: {self.tracker.failures[0]}")
            if self.tracker.failures:
                condemned.setdefault(id(out.item), (out.item, reason))
        self.tracker.reset()
        for item, reason in condemned.values():
            item.error = RecordFailedError(reason)
            self.metrics.dead_lettered.labels(RecordFailedError.__name__).inc()
            if not self.processor.dlq_topic:
                log.warning("kafka.record_dropped", error="RecordFailedError", topic=item.source.topic,
                            partition=item.source.partition, offset=item.source.offset)
                continue
            letter = self.processor.dead_letter(item)
            self.producer.produce(letter.topic, letter.value, letter.key, headers=letter.headers)
        self.producer.poll(0)

    def _pin(self, topic: str, partition: int) -> int:
        """Output partition for a null-key record: the input partition modulo the topic's count."""
        if topic not in self._partitions:
            count = None
            try:
                meta = self.producer.list_topics(topic, timeout=5).topics.get(topic)
                if meta is not None and meta.error is None and meta.partitions:
                    count = len(meta.partitions)
            except KafkaException:
                count = None
            self._partitions[topic] = count
        count = self._partitions[topic]
        return -1 if not count else partition % count

    @staticmethod
    def _offsets(batch: list[Pending]) -> list[TopicPartition]:
        """Next offset to read per partition (``last + 1``; batches are in offset order)."""
        last: dict[tuple[str, int], int] = {}
        for item in batch:
            last[(item.source.topic, item.source.partition)] = item.source.offset
        return [TopicPartition(t, p, off + 1) for (t, p), off in last.items()]

    def _rewind(self) -> None:
        """After an aborted transaction: forget queued records, re-read from the last commit."""
        self.batcher.drop(lambda _item: False)
        for (topic, partition), offset in self._uncommitted.items():
            if (topic, partition) in self._assigned:
                try:
                    self.consumer.seek(TopicPartition(topic, partition, offset))
                except KafkaException as exc:
                    raise BrokerError(f"cannot rewind {topic}[{partition}] to {offset}: {exc}") from exc

    def _count(self, batch: list[Pending], outputs: list[Output], seconds: float) -> None:
        m = self.metrics
        m.batch_size.observe(len(batch))
        m.batch_tokens.observe(sum(item.tokens for item in batch))
        m.batch_latency.observe(seconds)
        kinds = Counter(out.kind for out in outputs)
        for kind, n in kinds.items():
            m.records_out.labels(kind).inc(n)
        if kinds.get(DEAD_LETTER):
            letters = Counter(type(o.item.error).__name__ for o in outputs if o.kind == DEAD_LETTER and o.item)
            for name, n in letters.items():
                m.dead_lettered.labels(name).inc(n)

    # -- backpressure and lag -------------------------------------------------------------

    def _backpressure(self) -> None:
        queued, limit = len(self.batcher), self.settings.queue_max_records
        if not self._paused and queued >= limit:
            self._set_paused(True)
        elif self._paused and queued <= limit // 2:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        parts = [TopicPartition(t, p) for t, p in self._assigned]
        try:
            if parts:
                (self.consumer.pause if paused else self.consumer.resume)(parts)
        except KafkaException as exc:
            raise BrokerError(f"cannot {'pause' if paused else 'resume'} partitions: {exc}") from exc
        self._paused = paused
        self.metrics.paused.set(len(parts) if paused else 0)  # no log line: under load this flips every few batches

    def _report_lag(self) -> None:
        """Lag = high watermark (cached from fetch responses: no broker round trip) - position."""
        parts = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        try:
            for tp in self.consumer.position(parts) if parts else []:
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:
                    self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))
                    self._lag_at = time.monotonic()
        except KafkaException as exc:
            log.debug("kafka.lag_unavailable", reason=str(exc))

    # -- callbacks (run inside consume()) -------------------------------------------------

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
        log.warning("kafka.client_error", error=err.name(), reason=err.str())

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}
        if partitions:  # librdkafka keeps a partition's pause flag across a revoke and re-assignment: set it
            (consumer.pause if self._paused else consumer.resume)(partitions)
        log.info("kafka.assigned", worker=self.index, partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        """Finish and commit queued work of the revoked partitions before they are released."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        items = self.batcher.drop(lambda item: (item.source.topic, item.source.partition) not in revoked)
        if self._failed:
            items = []
        size = self.settings.batch_max_records
        for start in range(0, len(items), size):
            if not self._process(items[start : start + size], rewind=False):
                break  # aborted: the next owner re-reads from the committed offsets
        self._release(revoked)
        log.info("kafka.revoked", worker=self.index, partitions=len(revoked), finished=len(items))

    def _on_lost(self, consumer, partitions: list[TopicPartition]) -> None:
        """Partitions already owned by someone else: drop their queued work, commit nothing."""
        lost = {(tp.topic, tp.partition) for tp in partitions}
        dropped = self.batcher.drop(lambda item: (item.source.topic, item.source.partition) not in lost)
        self._release(lost)
        log.warning("kafka.partitions_lost", worker=self.index, partitions=len(lost), dropped=len(dropped))

    def _release(self, parts: set[tuple[str, int]]) -> None:
        self._assigned -= parts
        for topic, partition in parts:
            self._uncommitted.pop((topic, partition), None)
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(topic, str(partition))


def _source_key(item: Pending) -> tuple[str, int, int]:
    return item.source.topic, item.source.partition, item.source.offset
