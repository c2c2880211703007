"""The batcher with a fake engine: merging, token budget, dropped clients, back-pressure."""

import asyncio
import threading

import orjson
import pytest

from engines.bundle import load_bundle
from pipeline.errors import TextTooLongError
from pipeline.http.batcher import Batcher
from pipeline.http.errors import QueueFullError
from pipeline.service import NerService, PredictOptions
from tests.fakes import FakeEngine


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


def service(bundle, engine=None, **kw) -> NerService:
    return NerService(bundle, engine or FakeEngine(bundle.num_labels), max_chars=kw.pop("max_chars", 1000), **kw)


def run_with_batcher(svc, coro_fn, **kw):
    async def main():
        batcher = Batcher(svc, **kw)
        batcher.start()
        try:
            return await coro_fn(batcher)
        finally:
            await asyncio.to_thread(batcher.stop)
    return asyncio.run(main())


def test_concurrent_requests_share_an_engine_call_and_equal_sequential_answers(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)
    texts = [f"text number {i} about Alice" for i in range(12)]
    options = PredictOptions(aggregation="simple")

    async def scenario(batcher):
        first = batcher.submit(["warm up"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)  # the engine is busy: the rest queue up
        rest = [batcher.submit([t], options) for t in texts]
        engine.gate.set()
        await first.future
        return [orjson.loads(await p.future) for p in rest]

    rounds = []
    got = run_with_batcher(svc, scenario, max_wait_s=0.01, on_round=rounds.append)
    expected = [orjson.loads(orjson.dumps(service(bundle).predict([t], options), option=orjson.OPT_SERIALIZE_NUMPY))
                for t in texts]
    assert got == expected
    assert [r.requests for r in rounds] == [1, 12]
    assert len(engine.calls) == 2


def test_token_budget_splits_rounds(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)
    long_text = " ".join(["word"] * 60)

    async def scenario(batcher):
        first = batcher.submit(["x"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)
        rest = [batcher.submit([long_text], PredictOptions()) for _ in range(6)]
        engine.gate.set()
        await first.future
        return [await p.future for p in rest]

    rounds = []
    run_with_batcher(svc, scenario, max_batch_tokens=150, max_wait_s=0.0, on_round=rounds.append)
    assert all(r.tokens <= 150 for r in rounds[1:])
    assert sum(r.requests for r in rounds[1:]) == 6 and len(rounds) > 2


def test_requests_whose_client_is_gone_never_reach_the_engine(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)

    async def scenario(batcher):
        first = batcher.submit(["x"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)
        gone = batcher.submit(["abandoned"], PredictOptions())
        gone.gone = True
        gone.future.cancel()
        kept = batcher.submit(["kept"], PredictOptions())
        engine.gate.set()
        await first.future
        return await kept.future

    rounds = []
    run_with_batcher(svc, scenario, on_round=rounds.append)
    assert rounds[-1].requests == 1 and rounds[-1].dropped == 1


def test_a_full_queue_answers_429_with_retry_after(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)

    async def scenario(batcher):
        first = batcher.submit(["x"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)
        queued = [batcher.submit(["y"], PredictOptions()) for _ in range(2)]
        with pytest.raises(QueueFullError) as err:
            batcher.submit(["z"], PredictOptions())
        engine.gate.set()
        await asyncio.gather(first.future, *(p.future for p in queued))
        return err.value

    error = run_with_batcher(svc, scenario, max_queue=2)
    assert error.status == 429 and error.limit == 2 and int(error.headers["Retry-After"]) >= 1


def test_a_bad_request_fails_alone(bundle):
    svc = service(bundle, max_chars=10)

    async def scenario(batcher):
        bad = batcher.submit(["x" * 11], PredictOptions())
        good = batcher.submit(["fine"], PredictOptions())
        with pytest.raises(TextTooLongError):
            await bad.future
        return await good.future

    assert orjson.loads(run_with_batcher(svc, scenario))[0]


def test_a_lone_small_request_runs_inline_with_the_same_answer(bundle):
    svc = service(bundle)
    options = PredictOptions(aggregation="first")
    rounds = []

    async def scenario(batcher):
        inline = batcher.run_inline(["Alice wrote to Bob"], options)
        too_long = batcher.run_inline(["x" * 101], options)
        queued = await batcher.predict(["Alice wrote to Bob"], options)
        return inline, too_long, queued

    inline, too_long, queued = run_with_batcher(svc, scenario, inline_max_chars=100, on_round=rounds.append)
    assert inline == queued and too_long is None
    assert [r.requests for r in rounds] == [1, 1]


def test_nothing_runs_inline_while_the_batch_thread_has_work(bundle):
    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)

    async def scenario(batcher):
        first = batcher.submit(["x"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)
        busy = batcher.run_inline(["y"], PredictOptions())
        engine.gate.set()
        await first.future
        return busy

    assert run_with_batcher(svc, scenario, inline_max_chars=100) is None


def test_redaction_spans_share_the_engine_call_with_predict_requests_and_equal_the_service(bundle):
    """/redact's span source goes through the same queue: one engine call serves both kinds."""
    from pipeline.http.batcher import BatchedSpanSource

    engine = GatedEngine(bundle.num_labels)
    svc = service(bundle, engine)
    texts = [f"call Alice Smith on {i} street" for i in range(5)]

    async def scenario(batcher):
        spans = BatchedSpanSource(batcher, asyncio.get_running_loop())
        first = batcher.submit(["warm up"], PredictOptions())
        await asyncio.to_thread(engine.entered.wait, 5)
        predicted = batcher.submit(["a predict request"], PredictOptions())
        redacted = asyncio.create_task(asyncio.to_thread(spans.entities, texts))
        while batcher.depth < 2:  # both queued behind the running batch
            await asyncio.sleep(0.001)
        engine.gate.set()
        await first.future
        await predicted.future
        with pytest.raises(RuntimeError, match="event-loop thread"):
            spans.entities(["called on the loop would deadlock"])
        return await redacted

    rounds = []
    got = run_with_batcher(svc, scenario, max_wait_s=0.01, on_round=rounds.append)
    assert any(got) and got == service(bundle).entities(texts)
    assert [r.requests for r in rounds] == [1, 2]  # the redaction and the predict request merged
    assert len(engine.calls) == 2
