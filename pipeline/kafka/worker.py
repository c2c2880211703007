"""The Kafka worker: poll, micro-batch, infer, produce, commit; rebalance, backpressure, drain.

One thread runs the loop (librdkafka does the network I/O on its own threads, and one engine
call at a time already uses every core): records are decoded and tokenized as they arrive
(``processor.py``) and queued in the micro-batcher; a ready batch gets ONE engine call (on a
helper thread while the loop keeps polling: ``inflight.py``), its outputs are produced
(``refusals.py`` over ``sender.py``) and it commits (``checkpoint.py``, ``delivery.py``). A
record error dead-letters that record; a stage error stops the worker before its batch
commits, and nothing read after it is committed either. docs/ARCHITECTURE.md ("Kafka stage")
has the rules: backpressure, per-partition order, rebalance, shutdown, the breaker.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Sequence

import structlog
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from pipeline.kafka.access import ClientErrors, check_access, denied_output, explained, refused_record_error
from pipeline.kafka.batcher import BatchLimits, MicroBatcher
from pipeline.kafka.breaker import DeadLetterBreaker
from pipeline.kafka.checkpoint import Checkpoint
from pipeline.kafka.clients import Clients, typed
from pipeline.kafka.delivery import AtLeastOnce, ExactlyOnce
from pipeline.kafka.errors import (
    AbortableError,
    BrokerError,
    FatalBrokerError,
    FencedError,
    KafkaStageError,
    TransactionError,
)
from pipeline.kafka.inflight import InFlight, keepalive_s
from pipeline.kafka.metrics import WorkerMetrics, worker_metrics
from pipeline.kafka.processor import BatchProcessor, Output, Pending
from pipeline.kafka.refusals import Refusals
from pipeline.kafka.sender import DeliveryTracker, OutputSender
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.status import WorkerStatus
from pipeline.kafka.txn_slots import claim

log = structlog.get_logger(__name__)
POLL_S = 0.1  # longest consume() wait: how fast the loop notices ``stop``
CONSUME_MAX = 1000
LAG_EVERY_S = 1.0
#: librdkafka / broker codes that mean another producer took our transactional id
FENCED_CODES = frozenset({"_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"})


class Worker:
    """One consumer in the group, with its own producer; ``run()`` until ``stop`` is set."""

    def __init__(self, settings: KafkaSettings, processor: BatchProcessor, *, index: int = 0,
                 stop: threading.Event | None = None, metrics: WorkerMetrics | None = None,
                 clients: Clients | None = None, status: WorkerStatus | None = None) -> None:
        self.settings = settings
        self.processor = processor
        self.index = index
        self.stop = stop or threading.Event()
        self.metrics = metrics or worker_metrics()
        self.status = status or WorkerStatus(index, progress_interval_s=settings.progress_interval_s,
                                             health_stall_s=settings.health_stall_s)
        self.batcher: MicroBatcher[Pending] = MicroBatcher(BatchLimits(
            settings.batch_max_records, settings.batch_max_tokens, settings.batch_max_wait_ms / 1000.0))
        clients = clients or Clients()
        self.tracker = tracker = DeliveryTracker()
        self.inflight = InFlight(keepalive_s(settings.consumer_config(index)), index)
        # librdkafka's errors and log lines, throttled; an authentication failure stops the worker
        self.client_errors = errors = ClientErrors(settings.client_error_log_interval_s, index)
        hooks = {"error_cb": errors, "logger": errors}
        self.consumer = clients.consumer({**settings.consumer_config(index), **hooks})
        producer_conf = {**settings.producer_config(index), **hooks, "on_delivery": tracker}
        #: exactly-once: this process's transactional id, claimed among its slots (``txn_slots.py``)
        self.transactional_id: str | None = None
        self._txn_slot = None
        if "transactional.id" in producer_conf:
            self.transactional_id, self._txn_slot = claim(producer_conf["transactional.id"])
            producer_conf["transactional.id"] = self.transactional_id
        self.producer = producer = clients.producer(producer_conf)
        letters = processor.letters
        self.sender = OutputSender(producer)
        self.refusals = Refusals(self.sender, tracker, letters, exactly_once=settings.exactly_once)
        try:  # bounded: a refused login, a missing ACL or a silent bootstrap is one named error
            check_access(self.consumer, settings, errors)
            with explained(settings, errors, index):
                self.checkpoint = Checkpoint(ExactlyOnce(producer, self.consumer, tracker) if settings.exactly_once
                                             else AtLeastOnce(producer, self.consumer, tracker, self.refusals))
        except BaseException:
            with contextlib.suppress(Exception):  # a fatal producer raises even from flush(): keep the first error
                self._close(flush_s=0)
            raise
        if letters.topic:
            letters.fit(producer.max_bytes, clients.topic_max_bytes(settings.producer_config(index), letters.topic))
        self.breaker = DeadLetterBreaker(settings.dead_letter_max_share, settings.dead_letter_window,
                                         self.metrics.breaker_open, self.metrics.dead_letter_share)
        self.metrics.breaker_open.set(0)
        self._assigned: set[tuple[str, int]] = set()
        self._paused = False
        self._lag_at = 0.0
        self._failed = False
        self.batches = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``stop``; then drain, commit and leave the group."""
        try:
            self._run()
        except BaseException as exc:
            ours = self._ours(exc)
            if ours is not exc:
                raise ours from exc
            raise

    def _run(self) -> None:
        log.info("kafka.worker_started", worker=self.index, inputs=self.settings.input, group=self.settings.group,
                 delivery=self.settings.delivery, on_error=self.settings.on_error,
                 transactional_id=self.transactional_id)
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

    def _ours(self, exc: BaseException) -> BaseException:
        """Our error behind ``exc``: raised inside a librdkafka callback (a revoke that commits),
        it reaches us as ``SystemError`` (exit 70, a bug) with ours as the cause; a fenced
        producer becomes :class:`FencedError`, which names the transactional id."""
        err: BaseException | None = exc
        while isinstance(err, SystemError) and err.__cause__ is not None:
            err = err.__cause__
        if isinstance(err, KafkaException):  # set by the extension itself, not raised through clients.py
            err = typed(err, "a Kafka client call")
        if not isinstance(err, KafkaStageError):
            return exc
        if isinstance(err, BrokerError) and not isinstance(err, FencedError) and err.code in FENCED_CODES:
            return FencedError(f"fenced: another producer started with transactional.id {self.transactional_id} "
                               "(a newer instance of this worker's slot); this worker can no longer commit and "
                               "stops", code=err.code)
        return err

    def step(self) -> None:
        """One turn: poll for records (or only for callbacks while paused), run one ready batch."""
        errors = self.client_errors
        if errors.fatal:
            raise FatalBrokerError(f"fatal Kafka client error: {errors.fatal}", code=errors.fatal_code)
        errors.raise_refused(self.settings)
        batcher = self.batcher
        held = self.inflight.take_held()  # consumed while the last batch computed
        if held:
            self._accept(held)
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
        self.status.turned()

    def _accept(self, msgs: Sequence) -> None:
        good = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.fatal():
                raise FatalBrokerError(f"fatal consumer error: {err.str()}", code=err.name())
            elif (refused := refused_record_error(self.settings, err, msg.topic(), self.settings.group)) is not None:
                raise refused  # a missing ACL: stop before anything more is read or committed
            elif err.code() != KafkaError._PARTITION_EOF:
                self.client_errors(err)
        if not good:
            return
        now = time.monotonic()
        for item in self.processor.prepare(good):
            self.checkpoint.track(item)
            self.batcher.add(item, item.tokens, now)
        for topic, n in Counter(m.topic() for m in good).items():
            self.metrics.records_in.labels(topic).inc(n)
        self.status.records_in += len(good)

    def _drain(self) -> None:
        while len(self.batcher):
            self._process(self.batcher.take()[0])

    def _close(self, flush_s: float = 10) -> None:
        self.inflight.close()
        try:
            self.consumer.close()
        except (BrokerError, RuntimeError) as exc:
            log.warning("kafka.consumer_close_failed", reason=str(exc))
        try:
            remaining = self.producer.flush(flush_s)
        except Exception as exc:  # a fenced producer's flush fails too: never mask the first error
            log.warning("kafka.producer_flush_failed", error=type(exc).__name__)
            return
        if remaining:  # never committed, so re-read by the next owner; close() would block on them
            log.warning("kafka.producer_unflushed", records=remaining)
            return
        # close() ends librdkafka's threads now; otherwise the producer lives until interpreter
        # exit (error_cb holds a reference) and logs reconnect failures once the broker is gone.
        try:
            self.producer.close()
        except (BrokerError, RuntimeError) as exc:
            log.warning("kafka.producer_close_failed", reason=str(exc))
        finally:
            if self._txn_slot is not None:  # frees the transactional id for this slot's next process
                self._txn_slot.close()

    # -- one batch ------------------------------------------------------------------------

    def _process(self, batch: list[Pending], *, rewind: bool = True) -> bool:
        """Run, produce and commit one batch; False if its transaction was aborted."""
        if not batch:
            return True
        self.breaker.check()
        started = time.perf_counter()
        checkpoint, refusals = self.checkpoint, self.refusals
        checkpoint.begin()
        refusals.begin(batch)
        try:
            outputs = self._compute(batch, keepalive=rewind)
            batch, outputs = self.inflight.still_owned(batch, outputs)
            batch, outputs, tripped = self._until_breaker(batch, outputs)  # tripped: the record that trips it
            refusals.send(outputs)
            if batch:
                if refused := checkpoint.commit(batch):  # at-least-once: nothing committed yet
                    refusals.resend_alone(refused)
                    checkpoint.commit(batch)  # their dead letters are untraced: a refused one is a DeliveryError
                refusals.committed(batch)
            else:
                checkpoint.abort()
        except (TransactionError, AbortableError) as exc:
            if (denied := denied_output(self.settings, self.tracker)) is not None:
                with contextlib.suppress(BrokerError):
                    checkpoint.abort()
                raise denied from exc  # an ACL, not the batch: retrying cannot help
            log.warning("kafka.batch_aborted", records=len(batch), reason=str(exc))
            checkpoint.abort()
            refusals.aborted()
            if rewind:
                self._rewind()
            return False
        except BaseException as exc:
            with contextlib.suppress(BrokerError):  # a fenced producer cannot abort: keep the first error
                checkpoint.abort()
            if (denied := denied_output(self.settings, self.tracker)) is not None:
                raise denied from exc
            raise
        self._count(batch, outputs, time.perf_counter() - started)
        self.batches += 1
        for item in batch:  # committed: their outcomes count (a refused output's record as a dead letter)
            self.breaker.record(item.error is not None)
        if tripped is not None:
            self.breaker.record(True)
            log.error("kafka.dead_letter_breaker_tripped", worker=self.index, share=self.breaker.share,
                      window=self.breaker.window, topic=tripped.source.topic, partition=tripped.source.partition,
                      offset=tripped.source.offset)
        self.breaker.check()
        return True

    def _compute(self, batch: list[Pending], *, keepalive: bool) -> list[Output]:
        """The batch's outputs; polling meanwhile if it is slow (not inside a rebalance callback,
        where librdkafka is already being polled)."""
        if not keepalive:
            return self.processor.run(batch)
        return self.inflight.run(lambda: self.processor.run(batch),
                                 lambda: self.consumer.consume(CONSUME_MAX, 0), self._pause_while_computing)

    def _pause_while_computing(self, paused: bool) -> None:
        if paused:  # one line per slow batch: it says batches are near max.poll.interval.ms
            log.info("kafka.batch_slow", worker=self.index, keepalive_s=self.inflight.keepalive)
        if not self._paused:  # backpressure already holds them paused otherwise
            parts = [TopicPartition(t, p) for t, p in self._assigned]
            if parts:
                (self.consumer.pause if paused else self.consumer.resume)(parts)

    def _until_breaker(self, batch: list[Pending], outputs: list[Output]
                       ) -> tuple[list[Pending], list[Output], Pending | None]:
        """The batch up to (not including) the record that would trip the dead-letter breaker."""
        trip = self.breaker.first_trip([item.error is not None for item in batch])
        if trip is None:
            return batch, outputs, None
        kept = {id(p) for p in batch[:trip]}
        return batch[:trip], [o for o in outputs if o.item is not None and id(o.item) in kept], batch[trip]

    def _rewind(self) -> None:
        """After an aborted transaction: forget queued records, re-read from the last commit."""
        self.batcher.drop(lambda _item: False)
        for tp in self.checkpoint.rewind_to(self._assigned):
            self.consumer.seek(tp)

    def _count(self, batch: list[Pending], outputs: list[Output], seconds: float) -> None:
        m = self.metrics
        m.batch_size.observe(len(batch))
        m.batch_tokens.observe(sum(item.tokens for item in batch))
        m.batch_latency.observe(seconds)
        for kind, n in Counter(out.kind for out in outputs).items():
            m.records_out.labels(kind).inc(n)
        for name, n in Counter(type(p.error).__name__ for p in batch if p.error is not None).items():
            m.dead_lettered.labels(name).inc(n)
            self.status.dead_letters += n
        self.status.outputs += len(outputs)

    # -- backpressure and lag -------------------------------------------------------------

    def _backpressure(self) -> None:
        queued, limit = len(self.batcher), self.settings.queue_max_records
        if not self._paused and queued >= limit:
            self._set_paused(True)
        elif self._paused and queued <= limit // 2:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        parts = [TopicPartition(t, p) for t, p in self._assigned]
        if parts:
            (self.consumer.pause if paused else self.consumer.resume)(parts)
        self._paused = paused
        self.metrics.paused.set(len(parts) if paused else 0)  # no log line: under load this flips every few batches

    def _report_lag(self) -> None:
        """Lag = high watermark (cached from fetch responses: no broker round trip) - position."""
        parts = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        try:
            for tp, lag in self.consumer.lag(parts):
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
                self.status.lag[(tp.topic, tp.partition)] = lag
                self._lag_at = time.monotonic()
        except BrokerError as exc:
            log.debug("kafka.lag_unavailable", reason=str(exc))

    # -- callbacks (run inside consume()) -------------------------------------------------

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}
        self.status.assigned = len(self._assigned)
        if partitions:  # librdkafka keeps a partition's pause flag across a revoke and re-assignment: set it
            (consumer.pause if self._paused or self.inflight.polling else consumer.resume)(partitions)
        log.info("kafka.assigned", worker=self.index, partitions=[f"{tp.topic}[{tp.partition}]" for tp in partitions])

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        """Finish and commit queued work of the revoked partitions before they are released."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        items = self.batcher.drop(lambda item: (item.source.topic, item.source.partition) not in revoked)
        if self.inflight.polling:  # inside a batch's compute: nothing of theirs was produced, leave it all
            self.inflight.forget(revoked)
            items = []
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
        if self.inflight.polling:
            self.inflight.forget(lost)
        self._release(lost)
        log.warning("kafka.partitions_lost", worker=self.index, partitions=len(lost), dropped=len(dropped))

    def _release(self, parts: set[tuple[str, int]]) -> None:
        self._assigned -= parts
        self.status.assigned = len(self._assigned)
        self.status.released(parts)
        self.checkpoint.release(parts)
        for topic, partition in parts:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(topic, str(partition))

