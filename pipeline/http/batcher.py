"""Dynamic batching with fair scheduling: the engine thread runs only the model.

Public API (what routes, the job runner and ``/redact`` call)::

    body: bytes = await batcher.submit(texts, options)            # /predict_tokens JSON items
    spans = await batcher.entities(texts)                         # list[list[Entity]]
    value = await batcher.submit(texts, options, finish=fn)       # fn(docs, logits) -> value

Texts are tokenized before they queue; the engine thread (``ner-engine``) picks work units
(one per text window) from every queued request, least-served first, under the padded-token
budget, and runs one ``NerService.run_units``; merging, decoding and serializing happen back on
the request side. Cancelling the awaiting task drops the request at its next unit. Errors are
the core's (``Overloaded``, ``Unavailable``, ``RequestTooExpensive``, ``InputError``,
``EngineError``). After text-embeddings-inference's queue; the why and the measurements
(fairness, the lone-request fast path :meth:`Batcher.run_inline`) are in docs/ARCHITECTURE.md
(HTTP API).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson
import structlog

from pipeline.errors import ClientGone, Overloaded, RequestTooExpensive, Unavailable
from pipeline.service import ENTITY_ENCODING, NerService, PredictOptions, WorkUnit
from pipeline.spans import Entity
from pipeline.tokenize import EncodedText

log = structlog.get_logger(__name__)

#: Requests up to this many characters are tokenized on the event loop (~0.1 ms); larger ones
#: in the worker pool, so a 100k-character text does not stall the loop for tens of ms.
ENCODE_ON_LOOP_CHARS = 4000
#: Requests up to this many padded tokens are decoded on the event loop; larger in the pool.
FINISH_ON_LOOP_TOKENS = 2048

#: Rows up to twice as wide as the first (least-served) unit of an engine call, or this many
#: tokens, may join it: a short request is not padded to, nor slowed by, a long text's windows.
MIN_WIDTH_CAP = 64

Finish = Callable[[list[EncodedText], list[np.ndarray]], object]


@dataclass(eq=False)
class Request:
    """One request's work: its units, how far the engine got, and where its answer goes."""

    docs: list[EncodedText]
    units: list[WorkUnit]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    seq: int
    enqueued: float = field(default_factory=time.perf_counter)
    #: Next unit to schedule; units before it are in flight or done.
    next: int = 0
    done: int = 0
    #: Padded tokens the engine has computed for this request (fair-share order).
    served: int = 0
    engine_s: float = 0.0
    started: bool = False
    #: Set from the event loop when the requester leaves; read by the engine thread.
    gone: bool = False
    logits: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoundStats:
    """One engine call of the batcher, or only ``dropped`` requests (``requests`` 0); for metrics."""

    requests: int
    units: int
    tokens: int
    queue_wait_s: float
    dropped: int


class Batcher:
    """Schedules work units of concurrent requests into token-budgeted engine calls."""

    def __init__(self, service: NerService, *, max_batch_tokens: int | None = None, max_wait_s: float = 0.001,
                 max_queue: int = 1024, inline_max_chars: int = 0, max_engine_s: float | None = None,
                 on_round: Callable[[RoundStats], None] | None = None) -> None:
        self.service = service
        self.max_batch_tokens = max_batch_tokens or service.engine.max_batch_tokens
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.inline_max_chars = inline_max_chars
        self.max_engine_s = max_engine_s
        self._on_round = on_round
        self._active: list[Request] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._seq = itertools.count()
        self._concurrent = False
        #: True while the engine thread has work in hand.
        self._busy = False
        self._dropped = 0
        #: Requests admitted and not yet answered (tokenizing, queued, in the engine, decoding).
        self._in_flight = 0
        #: Exponential average of engine seconds per padded token (for Retry-After).
        self._s_per_token = 2e-4

    # -- event-loop side ------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Requests waiting for (or in) the engine."""
        return len(self._active)

    def start(self) -> None:
        if self._thread is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ner-prep")
            self._thread = threading.Thread(target=self._run, name="ner-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued work, then stop the engine thread (called on shutdown)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def submit(self, texts: Sequence[str], options: PredictOptions | None = None,
                     finish: Finish | None = None) -> object:
        """Run ``texts`` through the engine; the ``/predict_tokens`` JSON bytes of their items, or
        what ``finish(docs, logits)`` makes of them. Cancelling the caller drops the request."""
        options = options or PredictOptions()
        self._admit()
        self._in_flight += 1
        try:
            return await self._submit(list(texts), options, finish or self._items_body(options))
        finally:
            self._in_flight -= 1

    async def _submit(self, texts: list[str], options: PredictOptions, finish: Finish) -> object:
        loop = asyncio.get_running_loop()
        if sum(map(len, texts)) <= ENCODE_ON_LOOP_CHARS:
            docs = self.service.encode(texts, options)
        else:
            docs = await loop.run_in_executor(self._pool, self.service.encode, texts, options)
        request = Request(docs, self.service.units(docs), loop.create_future(), loop, next(self._seq))
        if request.units:
            with self._cond:
                self._active.append(request)
                self._cond.notify()
            try:
                await request.future
            except asyncio.CancelledError:
                request.gone = True
                raise
        if self.service.cost(docs) <= FINISH_ON_LOOP_TOKENS:
            return self._finish(request, finish)
        return await loop.run_in_executor(self._pool, self._finish, request, finish)

    async def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Model entity spans per text (windowed, never truncated): ``/redact`` shares engine calls,
        the token budget and the 429 back-pressure with ``/predict_tokens``."""
        service = self.service

        def finish(docs: list[EncodedText], logits: list[np.ndarray]) -> list[list[Entity]]:
            return [service.doc_entities(d, lg) for d, lg in zip(docs, logits, strict=True)]

        return await self.submit(texts, ENTITY_ENCODING, finish)  # type: ignore[return-value]

    def run_inline(self, texts: list[str], options: PredictOptions) -> bytes | None:
        """Answer a small request on the calling (event-loop) thread when there is nothing to
        merge it with: the engine thread idle, nothing queued, traffic not concurrent. Returns
        None when the request must be submitted instead."""
        if (self._busy or self._active or self._concurrent or self._closing
                or sum(map(len, texts)) > self.inline_max_chars):
            return None
        docs = self.service.encode(texts, options)
        logits = self.service.infer(docs)
        body = self._items_body(options)(docs, logits)
        if self._on_round is not None:
            self._on_round(RoundStats(1, sum(len(d.widths) for d in docs), self.service.cost(docs), 0.0, 0))
        return body

    def _admit(self) -> None:
        if self._closing:
            raise Unavailable("the server is shutting down", retry_after=1)
        if self._in_flight >= self.max_queue:
            queued = sum(self.service.padded_tokens([len(u.ids) for u in r.units[r.next:]])
                         for r in list(self._active))
            retry = max(1, math.ceil(queued * self._s_per_token))
            raise Overloaded(f"{self._in_flight} requests are waiting for the engine; retry later",
                             retry_after=retry, limit=self.max_queue)

    def _finish(self, request: Request, finish: Finish) -> object:
        logits = self.service.merge(request.docs, request.logits)
        request.logits = {}
        return finish(request.docs, logits)

    def _items_body(self, options: PredictOptions) -> Finish:
        def body(docs: list[EncodedText], logits: list[np.ndarray]) -> bytes:
            items = [self.service.items(d, lg, options) for d, lg in zip(docs, logits, strict=True)]
            return orjson.dumps(items, option=orjson.OPT_SERIALIZE_NUMPY)
        return body

    # -- engine thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._active and not self._closing:
                    self._busy = False
                    self._cond.wait()
                if self._closing and not self._active:
                    self._busy = False
                    return
                self._busy = True
            picked = self._collect()
            if picked:
                self._execute(picked)
            elif self._dropped and self._on_round is not None:  # report drops that freed the engine
                with self._cond:
                    dropped, self._dropped = self._dropped, 0
                self._on_round(RoundStats(0, 0, 0, 0.0, dropped))

    def _collect(self) -> list[tuple[Request, int]]:
        """The units of the next engine call; waits up to ``max_wait`` for concurrent arrivals
        while the budget is not full."""
        deadline = None
        with self._cond:
            while True:
                picked, full = self._plan()
                if full or not picked or not self._concurrent or self._closing:
                    break
                now = time.perf_counter()
                deadline = deadline or now + self.max_wait_s
                if now >= deadline:
                    break
                self._cond.wait(deadline - now)
            for request, index in picked:
                request.next = index + 1
            return picked

    def _plan(self) -> tuple[list[tuple[Request, int]], bool]:
        """Least-served request first; units in order; stop at the padded-token budget or the row
        limit. Requests whose client has gone are removed here. Called under the lock."""
        live = []
        for request in self._active:
            if request.gone or request.future.cancelled():
                self._dropped += 1
            else:
                live.append(request)
        self._active[:] = live
        budget, rows = self.max_batch_tokens, self.service.max_batch_size
        picked: list[tuple[Request, int]] = []
        widest = 0
        cap = 0  # widest row allowed in this call, set by the first (least-served) unit
        full = False
        for request in sorted(live, key=lambda r: (r.served, r.seq)):
            for index in range(request.next, len(request.units)):
                own = len(request.units[index].ids)
                if picked and own > cap:
                    break  # much wider rows would pad this call's short rows and make it slow
                width = max(widest, own)
                if len(picked) >= rows or (picked and self.service.padded_tokens([width] * (len(picked) + 1)) > budget):
                    full = True
                    break
                if not picked:
                    cap = max(2 * own, MIN_WIDTH_CAP)
                picked.append((request, index))
                widest = width
            if full:
                break
        return picked, full

    def _execute(self, picked: list[tuple[Request, int]]) -> None:
        units = [request.units[index] for request, index in picked]
        requests = list(dict.fromkeys(request for request, _ in picked))
        started = time.perf_counter()
        waited = max((started - r.enqueued for r in requests if not r.started), default=0.0)
        try:
            logits = self.service.run_units(units)
        except Exception as exc:
            log.error("engine_failed", error=type(exc).__name__, requests=len(requests))
            with self._cond:
                self._active[:] = [r for r in self._active if r not in requests]
            for request in requests:
                _deliver(request, _reject, exc)
            return
        elapsed = time.perf_counter() - started
        widest = max(len(u.ids) for u in units)
        tokens = self.service.padded_tokens([widest] * len(units))
        self._s_per_token = 0.8 * self._s_per_token + 0.2 * (elapsed / tokens)
        share = elapsed / len(units)
        for (request, _), unit, unit_logits in zip(picked, units, logits, strict=True):
            request.logits[(unit.doc, unit.window)] = unit_logits
            request.done += 1
            request.served += widest
            request.engine_s += share
            request.started = True
        answers: list[tuple[Request, Callable, object]] = []
        with self._cond:
            for request in requests:
                if request.done == len(request.units):
                    answers.append((request, _resolve, None))
                elif self.max_engine_s is not None and request.engine_s > self.max_engine_s:
                    answers.append((request, _reject, RequestTooExpensive(
                        f"the request needed more than {self.max_engine_s:g} s of engine time "
                        f"({request.done} of {len(request.units)} windows done); send fewer or shorter texts",
                        limit=self.max_engine_s)))
            finished = {request for request, _, _ in answers}
            self._active[:] = [r for r in self._active if r not in finished]
            self._concurrent = len(requests) > 1 or bool(self._active)
            dropped, self._dropped = self._dropped, 0
        if self._on_round is not None:
            self._on_round(RoundStats(len(requests), len(units), tokens, waited, dropped))
        # Answers go out last: the event loop wakes wanting the GIL, and this thread has no more
        # Python work to make it wait for before the next engine call.
        for request, callback, value in answers:
            _deliver(request, callback, value)


def _deliver(request: Request, callback: Callable, value: object) -> None:
    """Hand a result to the request's event loop; a loop already closed (shutdown) has nobody
    waiting, and must not kill the engine thread."""
    try:
        request.loop.call_soon_threadsafe(callback, request.future, value)
    except RuntimeError:
        log.warning("answer_dropped", reason="event loop closed")


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _reject(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)


async def until_gone(work: asyncio.Future, gone: asyncio.Future) -> object:
    """``work``'s result, or :class:`ClientGone` (and ``work`` cancelled, which drops the request
    at its next unit) when ``gone`` completes first (e.g. the client disconnected)."""
    try:
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        gone.cancel()
    if work.done():
        return work.result()
    work.cancel()
    raise ClientGone("client disconnected")
