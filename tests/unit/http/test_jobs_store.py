import orjson
import pytest

from pipeline.errors import JobConflict, JobNotFound
from pipeline.http.jobs import JobStore
from pipeline.http.runner import callback_body


@pytest.fixture()
def store():
    s = JobStore(":memory:")
    yield s
    s.close()


def test_jobs_run_in_arrival_order_and_record_their_result(store):
    store.create("a", b'{"inputs":["x"]}', "https://h/cb", b'{"k":"v"}')
    store.create("b", b'{"inputs":["y"]}', None, None)
    first = store.claim_next()
    assert first.id == "a" and first.status == "running"
    assert store.finish("a", "succeeded", result=b"[[]]")
    done = store.get("a")
    assert done.status == "succeeded" and done.request is None  # the text is not kept after the job
    assert done.delivery == "pending"
    assert store.claim_next().id == "b"
    store.finish("b", "succeeded", result=b"[[]]")
    assert store.get("b").delivery == "none"  # no callback to deliver
    assert store.claim_next() is None


def test_recover_requeues_jobs_that_were_running_when_the_process_died(store):
    store.create("a", b"{}", None, None)
    store.claim_next()
    assert store.recover() == 1
    assert store.get("a").status == "queued"
    assert store.claim_next().id == "a"


def test_cancel_rules(store):
    store.create("a", b"{}", "https://h/cb", None)
    cancelled = store.cancel("a")
    assert cancelled.status == "cancelled" and cancelled.delivery == "pending"
    with pytest.raises(JobConflict):
        store.cancel("a")
    with pytest.raises(JobNotFound):
        store.cancel("nope")
    store.create("b", b"{}", None, None)
    store.claim_next()
    store.cancel("b")
    assert not store.finish("b", "succeeded", result=b"[]")  # a cancelled job keeps its state


def test_delivery_bookkeeping_and_purge(store):
    store.create("a", b"{}", "https://h/cb", None)
    store.claim_next()
    store.finish("a", "succeeded", result=b"[]")
    (due,) = store.due_deliveries(now=store.get("a").next_attempt_at + 1)
    store.attempt_failed("a", 1, "HTTP 500", next_at=due.next_attempt_at + 10)
    assert store.due_deliveries(now=due.next_attempt_at + 1) == []
    assert store.next_delivery_at() == pytest.approx(due.next_attempt_at + 10)
    store.attempt_failed("a", 2, "HTTP 500", next_at=None)
    failed = store.get("a")
    assert failed.delivery == "failed" and failed.attempts == 2 and failed.last_error == "HTTP 500"
    assert store.purge(older_than=failed.updated_at + 1) == 1
    assert store.get("a") is None


def test_callback_body_carries_result_or_error_and_metadata(store):
    store.create("a", b"{}", "https://h/cb", b'{"batch":"7"}')
    store.claim_next()
    store.finish("a", "succeeded", result=b'[[{"token":"x"}]]')
    assert orjson.loads(callback_body(store.get("a"))) == {
        "job_id": "a", "status": "succeeded", "result": [[{"token": "x"}]], "metadata": {"batch": "7"}}
    store.create("b", b"{}", "https://h/cb", None)
    store.claim_next()
    store.finish("b", "failed", error=b'{"error":"bad","error_type":"validation","field":"inputs","limit":1}')
    body = orjson.loads(callback_body(store.get("b")))
    assert body["status"] == "failed" and body["error"]["field"] == "inputs" and body["metadata"] is None
