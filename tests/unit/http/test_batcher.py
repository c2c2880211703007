"""The batcher with a fake engine: merging, token budget, fair scheduling, dropped requests,
engine-time budget, back-pressure, and which thread runs which stage."""

import asyncio
import threading
import time

import orjson
import pytest

import pipeline.service as service_module
from engines.bundle import load_bundle
from pipeline.errors import Overloaded, RequestTooExpensive, TextTooLongError
from pipeline.http.batcher import Batcher
from pipeline.http.errors import error_body, status_of
from pipeline.service import NerService, PredictOptions
from tests.fakes import FakeEngine

LONG = " ".join(f"word{i}" for i in range(400))  # many windows at max_seq_len 32


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


class GatedEngine(FakeEngine):
    """Blocks in ``run`` until released, so tests can queue requests behind a running batch."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def run(self, batch):
        self.entered.set()
        self.gate.wait(5)
        return super().run(batch)


class SlowEngine(FakeEngine):
    """Each call takes ``delay`` seconds and records the thread it ran on and its rows."""

    def __init__(self, *args, delay: float = 0.01, **kw) -> None:
        super().__init__(*args, **kw)
        self.delay = delay
        self.threads: list[str] = []
        self.rows: list[int] = []

    def run(self, batch):
        self.threads.append(threading.current_thread().name)
        self.rows.append(batch.shape[0])
        time.sleep(self.delay)
        return super().run(batch)


def service(bundle, engine=None, **kw) -> NerService:
    return NerService(bundle, engine or FakeEngine(bundle.num_labels), max_chars=kw.pop("max_chars", 100_000), **kw)


def run_with_batcher(svc, coro_fn, **kw):
    async def main():
        batcher = Batcher(svc, **kw)
        batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await asyncio.to_thread(batcher.stop)
    return asyncio.run(main())


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


def test_concurrent_requests_share_an_engine_call_and_equal_sequential_answers(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)
    texts = [f"text number {i} about Alice" for i in range(12)]
    options = PredictOptions(aggregation="simple")

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.submit(["warm up"], PredictOptions()))
        await asyncio.to_thread(engine.entered.wait, 5)  # the engine is busy: the rest queue up
        rest = [asyncio.ensure_future(batcher.submit([t], options)) for t in texts]
        await until(lambda: batcher.depth == 13)
        engine.gate.set()
        await first
        return [orjson.loads(await p) for p in rest]

    rounds = []
    got = run_with_batcher(svc, scenario, max_wait_s=0.01, on_round=rounds.append)
    expected = [orjson.loads(orjson.dumps(service(bundle).predict([t], options), option=orjson.OPT_SERIALIZE_NUMPY))
                for t in texts]
    assert got == expected
    assert [r.requests for r in rounds] == [1, 12]
    assert len(engine.calls) == 2


def test_long_texts_equal_the_service_answer_and_rounds_keep_the_padded_token_budget(bundle):
    engine = SlowEngine(bundle.num_labels, max_seq_len=32, delay=0)
    svc = service(bundle, engine)
    options = PredictOptions(aggregation="first")

    async def scenario(batcher):
        return await asyncio.gather(*(batcher.submit([LONG, "Bob"], options) for _ in range(3)))

    rounds = []
    got = run_with_batcher(svc, scenario, max_batch_tokens=150, on_round=rounds.append)
    alone = service(bundle, FakeEngine(bundle.num_labels, max_seq_len=32))
    expected = orjson.dumps(alone.predict([LONG, "Bob"], options), option=orjson.OPT_SERIALIZE_NUMPY)
    assert all(g == expected for g in got)
    assert all(r.tokens <= 150 for r in rounds) and len(rounds) > 3
    assert max(engine.rows) <= 150 // 32


def test_a_short_request_waits_about_one_engine_batch_behind_a_long_one(bundle):
    """Fair scheduling: the long request is cut into windows; the short one, served nothing yet,
    takes the next engine call instead of waiting for the whole long request."""
    engine = SlowEngine(bundle.num_labels, max_seq_len=32, delay=0.02)
    svc = service(bundle, engine)

    async def scenario(batcher):
        long = asyncio.ensure_future(batcher.submit([LONG * 3], PredictOptions()))
        await until(lambda: len(engine.rows) >= 2)
        calls_before = len(engine.rows)
        await batcher.submit(["short one"], PredictOptions())
        calls_short = len(engine.rows) - calls_before
        assert not long.done()
        await long
        return calls_short, len(engine.rows)

    calls_short, total = run_with_batcher(svc, scenario, max_batch_tokens=128)
    assert calls_short <= 2 and total > 20


def test_cancelled_requests_stop_consuming_engine_time_at_the_next_unit(bundle):
    engine = SlowEngine(bundle.num_labels, max_seq_len=32, delay=0.02)
    svc = service(bundle, engine)
    units = len(svc.units(svc.encode([LONG * 3])))

    async def scenario(batcher):
        task = asyncio.ensure_future(batcher.submit([LONG * 3], PredictOptions()))
        await until(lambda: len(engine.rows) >= 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = sum(engine.rows)
        await asyncio.sleep(0.2)
        await batcher.submit(["after"], PredictOptions())  # the engine thread is free again
        return at_cancel

    rounds = []
    at_cancel = run_with_batcher(svc, scenario, max_batch_tokens=128, on_round=rounds.append)
    assert sum(engine.rows) <= at_cancel + 4 + 1  # at most the call in flight, then the short one
    assert sum(engine.rows) < units
    assert sum(r.dropped for r in rounds) == 1


def test_a_request_over_its_engine_time_budget_stops_with_413(bundle):
    engine = SlowEngine(bundle.num_labels, max_seq_len=32, delay=0.02)
    svc = service(bundle, engine)
    units = len(svc.units(svc.encode([LONG * 3])))

    async def scenario(batcher):
        with pytest.raises(RequestTooExpensive) as err:
            await batcher.submit([LONG * 3], PredictOptions())
        return err.value

    error = run_with_batcher(svc, scenario, max_batch_tokens=128, max_engine_s=0.05)
    assert sum(engine.rows) < units / 2
    assert status_of(error) == (413, "too_expensive")
    assert error_body(error)["limit"] == 0.05 and error_body(error)["field"] == "inputs"


def test_the_engine_thread_only_runs_the_engine(bundle, monkeypatch):
    """Tokenizing, merging windows, decoding and serializing never happen on the engine thread."""
    engine = SlowEngine(bundle.num_labels, max_seq_len=32, delay=0.005)
    svc = service(bundle, engine)
    seen: dict[str, set[str]] = {}

    def record(name, fn):
        def wrapper(*args, **kw):
            seen.setdefault(name, set()).add(threading.current_thread().name)
            return fn(*args, **kw)
        return wrapper

    monkeypatch.setattr(svc.encoder, "encode", record("encode", svc.encoder.encode))
    monkeypatch.setattr(svc, "merge", record("merge", svc.merge))
    for name in ("aggregate", "token_items", "span_items", "to_entities", "softmax"):
        monkeypatch.setattr(service_module, name, record(name, getattr(service_module, name)))

    async def scenario(batcher):
        small = [batcher.submit([f"Alice number {i}"], PredictOptions(aggregation="simple")) for i in range(8)]
        large = batcher.submit([LONG * 10], PredictOptions())  # encoded and decoded in the worker pool
        spans = batcher.entities(["Bob Smith lives here", LONG])
        return await asyncio.gather(*small, large, spans)

    run_with_batcher(svc, scenario, max_batch_tokens=256, max_wait_s=0.005)
    assert set(engine.threads) == {"ner-engine"}
    assert {"encode", "merge", "aggregate", "token_items", "span_items", "to_entities", "softmax"} <= seen.keys()
    for stage, threads in seen.items():
        assert "ner-engine" not in threads, stage
    for stage in ("encode", "merge"):  # the large request's, in the worker pool
        assert any(t.startswith("ner-prep") for t in seen[stage]), stage


def test_a_full_queue_answers_429_with_retry_after(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.submit(["x"], PredictOptions()))
        await asyncio.to_thread(engine.entered.wait, 5)
        queued = [asyncio.ensure_future(batcher.submit(["y"], PredictOptions()))]
        await until(lambda: batcher.depth == 2)
        with pytest.raises(Overloaded) as err:
            await batcher.submit(["z"], PredictOptions())
        engine.gate.set()
        await asyncio.gather(first, *queued)
        return err.value

    error = run_with_batcher(svc, scenario, max_queue=2)
    assert status_of(error)[0] == 429 and error.limit == 2 and int(error.headers["Retry-After"]) >= 1


def test_a_bad_request_fails_alone(bundle):
    svc = service(bundle, max_chars=10)

    async def scenario(batcher):
        bad = batcher.submit(["x" * 11], PredictOptions())
        good = batcher.submit(["fine"], PredictOptions())
        got = await asyncio.gather(bad, good, return_exceptions=True)
        assert isinstance(got[0], TextTooLongError) and got[0].limit == 10
        return got[1]

    assert orjson.loads(run_with_batcher(svc, scenario))[0]


def test_a_lone_small_request_runs_inline_with_the_same_answer(bundle):
    svc = service(bundle)
    options = PredictOptions(aggregation="first")
    rounds = []

    async def scenario(batcher):
        inline = batcher.run_inline(["Alice wrote to Bob"], options)
        too_long = batcher.run_inline(["x" * 101], options)
        queued = await batcher.submit(["Alice wrote to Bob"], options)
        return inline, too_long, queued

    inline, too_long, queued = run_with_batcher(svc, scenario, inline_max_chars=100, on_round=rounds.append)
    assert inline == queued and too_long is None
    assert [r.requests for r in rounds] == [1, 1]


def test_nothing_runs_inline_while_the_engine_thread_has_work(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.submit(["x"], PredictOptions()))
        await asyncio.to_thread(engine.entered.wait, 5)
        busy = batcher.run_inline(["y"], PredictOptions())
        engine.gate.set()
        await first
        return busy

    assert run_with_batcher(svc, scenario, inline_max_chars=100) is None


def test_redaction_spans_share_the_engine_call_with_predict_requests_and_equal_the_service(bundle):
    """/redact's model spans go through the same queue: one engine call serves both kinds."""
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)
    texts = [f"call Alice Smith on {i} street" for i in range(5)]

    async def scenario(batcher):
        first = asyncio.ensure_future(batcher.submit(["warm up"], PredictOptions()))
        await asyncio.to_thread(engine.entered.wait, 5)
        predicted = asyncio.ensure_future(batcher.submit(["a predict request"], PredictOptions()))
        redacted = asyncio.ensure_future(batcher.entities(texts))
        await until(lambda: batcher.depth == 3)
        engine.gate.set()
        await first
        await predicted
        return await redacted

    rounds = []
    got = run_with_batcher(svc, scenario, max_wait_s=0.01, on_round=rounds.append)
    assert any(got) and got == service(bundle).entities(texts)
    assert [r.requests for r in rounds] == [1, 2]  # the redaction and the predict request merged
    assert len(engine.calls) == 2


def test_a_short_request_s_engine_call_is_not_padded_to_a_long_text_s_windows(bundle):
    engine = SlowEngine(bundle.num_labels, max_seq_len=128, delay=0.02)
    svc = service(bundle, engine)

    async def scenario(batcher):
        long = asyncio.ensure_future(batcher.submit([LONG * 3], PredictOptions()))
        await until(lambda: len(engine.rows) >= 1)
        await batcher.submit(["short one"], PredictOptions())
        await long

    run_with_batcher(svc, scenario, max_batch_tokens=512)
    widths = [shape[1] for shape in engine.calls]
    assert min(widths) < 16 and engine.rows[widths.index(min(widths))] == 1  # the short one alone, unpadded
    assert max(widths) == 128
