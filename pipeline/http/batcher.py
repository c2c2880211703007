"""Dynamic batching: concurrent requests share one ``NerService.infer`` call.

Why a dedicated thread: tokenizing, running the engine and decoding are CPU work that must not
block the event loop, and one owner of the engine keeps batches whole (ONNX Runtime already
uses every core for one call, so two concurrent calls only fight over them).

The loop (after text-embeddings-inference's ``queue.rs``):

1. take queued requests in arrival order, encode each with its own options (truncation) and
   count its padded tokens (``windows`` + special tokens); stop before the token budget
   (``batch_max_tokens``) would be exceeded — the request that did not fit starts the next
   batch; one request larger than the budget runs alone (``infer`` splits it further);
2. requests whose client has gone are dropped here, before they cost engine time;
3. if requests are arriving concurrently (the last batch merged several, or more are queued
   than fit) and the budget is not full, wait up to ``max_wait`` for more. A lone sequential
   request never waits, so batching adds no latency when there is nothing to merge;
4. ONE ``service.infer(all_docs)``; then ``service.items`` per request with its own options,
   serialized to JSON bytes here, off the event loop; results go back with
   ``call_soon_threadsafe``.

A small request arriving when there is nothing to merge it with (engine idle, queue empty,
traffic sequential) is answered on the event-loop thread instead (:meth:`Batcher.run_inline`,
same service calls): the two thread hand-offs cost more than the request's own server work.

The queue is bounded (``max_queue``): a full queue raises :class:`QueueFullError` (HTTP 429 with
``Retry-After``) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
import structlog

from engines.errors import NerStageError
from pipeline.http.errors import QueueFullError, UnavailableError
from pipeline.service import ENTITY_ENCODING, NerService, PredictOptions
from pipeline.spans import Entity
from pipeline.tokenize import EncodedText

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class Pending:
    """One request waiting for the engine."""

    texts: list[str]
    options: PredictOptions
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)
    #: Set from the event loop when the client disconnects; read by the batch thread.
    gone: bool = False
    docs: list[EncodedText] | None = None
    tokens: int = 0
    #: Turns this request's docs and logits into its answer (default: /predict_tokens JSON bytes).
    finish: Callable[[list[EncodedText], list[np.ndarray]], object] | None = None


@dataclass(frozen=True, slots=True)
class RoundStats:
    """One batcher round (reported to metrics)."""

    requests: int
    texts: int
    tokens: int
    queue_wait_s: float
    dropped: int


class Batcher:
    """Merges concurrent predict requests into token-budgeted engine calls."""

    def __init__(self, service: NerService, *, max_batch_tokens: int | None = None, max_wait_s: float = 0.001,
                 max_queue: int = 1024, inline_max_chars: int = 0,
                 on_round: Callable[[RoundStats], None] | None = None) -> None:
        self.service = service
        self.max_batch_tokens = max_batch_tokens or service.engine.max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._on_round = on_round
        self._queue: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._concurrent = False
        #: True while the batch thread has work in hand (collecting or executing a round).
        self._busy = False
        self.inline_max_chars = inline_max_chars
        self._special = len(service.encoder.prefix) + len(service.encoder.suffix)
        #: Exponential average of seconds per padded token (for Retry-After).
        self._s_per_token = 2e-4

    # -- event-loop side ------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ner-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued work, then stop the thread (called on shutdown)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, texts: list[str], options: PredictOptions,
               finish: Callable[[list[EncodedText], list[np.ndarray]], object] | None = None) -> Pending:
        """Queue a request; ``await pending.future`` gives the JSON bytes of its items (or what
        ``finish`` makes of its docs and logits)."""
        if self._closing:
            raise UnavailableError("the server is shutting down")
        if len(self._queue) >= self.max_queue:
            queued_tokens = sum(p.tokens or 64 * len(p.texts) for p in list(self._queue))
            retry = max(1, math.ceil(queued_tokens * self._s_per_token))
            raise QueueFullError(f"{len(self._queue)} requests are waiting for the engine; retry later",
                                 retry_after=retry, limit=self.max_queue)
        loop = asyncio.get_running_loop()
        pending = Pending(list(texts), options, loop.create_future(), loop, finish=finish)
        with self._cond:
            self._queue.append(pending)
            self._cond.notify()
        return pending

    def run_inline(self, texts: list[str], options: PredictOptions) -> bytes | None:
        """Answer a small request on the calling (event-loop) thread when there is nothing to
        merge it with: the engine idle, nothing queued, traffic not concurrent. Saves the two
        thread hand-offs (0.3-0.5 ms measured on a busy 2-core box) that dominate a lone
        request's server overhead; the loop is blocked for one small engine call, during which
        no other request could have joined the batch anyway. Returns None when the request must
        be queued."""
        if (self._busy or self._queue or self._concurrent or self._closing
                or sum(map(len, texts)) > self.inline_max_chars):
            return None
        docs = self.service.encode(texts, options)
        logits = self.service.infer(docs)
        items = [self.service.items(d, lg, options) for d, lg in zip(docs, logits, strict=True)]
        body = orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)
        if self._on_round is not None:
            tokens = sum((end - start) + self._special for d in docs if d.n_tokens for start, end in d.windows)
            self._on_round(RoundStats(1, len(docs), tokens, 0.0, 0))
        return body

    async def predict(self, texts: list[str], options: PredictOptions) -> bytes:
        """Submit and wait (for callers with no client connection to watch, e.g. async jobs)."""
        return await self.submit(texts, options).future

    async def entities(self, texts: list[str]) -> list[list[Entity]]:
        """``NerService.entities`` through the batch queue, so ``/redact`` shares engine calls,
        the token budget and the 429 back-pressure with ``/predict_tokens``."""
        service = self.service

        def finish(docs: list[EncodedText], logits: list[np.ndarray]) -> list[list[Entity]]:
            return [service.doc_entities(d, lg) for d, lg in zip(docs, logits, strict=True)]

        return await self.submit(texts, ENTITY_ENCODING, finish).future

    # -- batch thread ---------------------------------------------------------------------

    def _run(self) -> None:
        carry: Pending | None = None
        while True:
            with self._cond:
                self._busy = carry is not None
                while not self._queue and carry is None and not self._closing:
                    self._cond.wait()
                if self._closing and not self._queue and carry is None:
                    return
                self._busy = True
            batch, carry, dropped = self._collect(carry)
            if batch:
                self._execute(batch, dropped)

    def _collect(self, carry: Pending | None) -> tuple[list[Pending], Pending | None, int]:
        batch: list[Pending] = []
        tokens = 0
        dropped = 0
        deadline = None
        if carry is not None:
            batch.append(carry)
            tokens = carry.tokens
        while True:
            with self._cond:
                nxt = self._queue.popleft() if self._queue else None
                if nxt is None:
                    if not batch or not self._concurrent or tokens >= self.max_batch_tokens or self._closing:
                        break
                    now = time.perf_counter()
                    deadline = deadline or now + self.max_wait_s
                    if now >= deadline:
                        break
                    self._cond.wait(deadline - now)
                    continue
            if nxt.gone or nxt.future.cancelled():
                dropped += 1
                continue
            if not self._encode(nxt):
                continue
            if batch and tokens + nxt.tokens > self.max_batch_tokens:
                return batch, nxt, dropped
            batch.append(nxt)
            tokens += nxt.tokens
        return batch, None, dropped

    def _encode(self, pending: Pending) -> bool:
        try:
            pending.docs = self.service.encode(pending.texts, pending.options)
        except Exception as exc:  # reported to the request that caused it, never to the batch
            self._fail(pending, exc)
            return False
        pending.tokens = sum(
            (end - start) + self._special for doc in pending.docs if doc.n_tokens for start, end in doc.windows
        )
        return True

    def _execute(self, batch: list[Pending], dropped: int) -> None:
        live = [p for p in batch if not p.gone]
        dropped += len(batch) - len(live)
        if not live:
            return
        started = time.perf_counter()
        docs = [doc for p in live for doc in p.docs or []]
        try:
            logits = self.service.infer(docs)
        except Exception as exc:
            log.error("engine_failed", error=type(exc).__name__, requests=len(live))
            for p in live:
                self._fail(p, exc)
            return
        elapsed = time.perf_counter() - started
        tokens = sum(p.tokens for p in live)
        if tokens:
            self._s_per_token = 0.8 * self._s_per_token + 0.2 * (elapsed / tokens)
        i = 0
        answers: list[tuple[Pending, object]] = []
        for p in live:
            n = len(p.docs or [])
            try:
                answers.append((p, (p.finish or self._items_body(p.options))(p.docs or [], logits[i : i + n])))
            except Exception as exc:
                self._fail(p, exc)
            i += n
            p.docs = None
        with self._cond:
            self._concurrent = len(live) > 1 or bool(self._queue)
        if self._on_round is not None:
            waited = max(started - p.enqueued for p in live)
            self._on_round(RoundStats(len(live), len(docs), tokens, waited, dropped))
        # Answers go out last, just before this thread goes back to waiting: the event loop wakes
        # up wanting the GIL, and this thread then has no more Python work to make it wait for.
        for p, body in answers:
            _deliver(p, _resolve, body)

    def _items_body(self, options: PredictOptions) -> Callable[[list[EncodedText], list[np.ndarray]], bytes]:
        def body(docs: list[EncodedText], logits: list[np.ndarray]) -> bytes:
            items = [self.service.items(d, lg, options) for d, lg in zip(docs, logits, strict=True)]
            return orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)
        return body

    @staticmethod
    def _fail(pending: Pending, exc: Exception) -> None:
        if not isinstance(exc, NerStageError):
            log.error("predict_failed", error=type(exc).__name__)
        _deliver(pending, _reject, exc)


class BatchedSpanSource:
    """The redactor's span source on the server: ``entities(texts)`` from a worker thread (the
    sync ``/redact`` route runs in FastAPI's thread pool) goes through the batcher on the event
    loop, so redaction and ``/predict_tokens`` share engine calls instead of running the
    engine concurrently, and a full queue answers 429 on both."""

    def __init__(self, batcher: Batcher, loop: asyncio.AbstractEventLoop) -> None:
        self.batcher = batcher
        self.loop = loop

    def entities(self, texts: list[str]) -> list[list[Entity]]:
        if not texts:
            return []
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:  # would wait on the loop it blocks
            raise RuntimeError("BatchedSpanSource.entities must not be called on the event-loop thread")
        return asyncio.run_coroutine_threadsafe(self.batcher.entities(list(texts)), self.loop).result()


def _deliver(pending: Pending, callback: Callable, value: object) -> None:
    """Hand a result to the request's event loop; a loop already closed (shutdown) has nobody
    waiting, and must not kill the batch thread."""
    try:
        pending.loop.call_soon_threadsafe(callback, pending.future, value)
    except RuntimeError:
        log.warning("answer_dropped", reason="event loop closed")


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _reject(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
