"""Async jobs through the app (in-process, fake engine, SQLite in memory): jobs belong to the API
key that created them, store errors map to HTTP statuses, and the cancel hook drops engine work."""

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient

from engines.bundle import load_bundle
from pipeline.http.app import create_app
from pipeline.http.errors import error_body, error_headers, status_of
from pipeline.http.jobs import JobConflictError, JobNotFoundError, JobQueueFullError, JobStoreError
from pipeline.http.runner import JobControl
from pipeline.http.settings import HttpSettings
from pipeline.service import NerService
from tests.fakes import FakeEngine

KEY_ONE, KEY_TWO = "key-one", "key-two"


@pytest.fixture(scope="module")
def client():
    bundle = load_bundle()
    service = NerService(bundle, FakeEngine(bundle.num_labels))
    settings = HttpSettings.load(jobs_db=":memory:", api_keys=[KEY_ONE, KEY_TWO])
    with TestClient(create_app(settings, service=service)) as c:
        yield c


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_only_the_key_that_created_a_job_can_see_or_cancel_it(client):
    job_id = client.post("/async/predict_tokens", json={"inputs": ["hello"]}, headers=_auth(KEY_ONE)).json()["job_id"]
    deadline = time.monotonic() + 10
    while (mine := client.get(f"/jobs/{job_id}", headers=_auth(KEY_ONE))).json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stranger = client.get(f"/jobs/{job_id}", headers=_auth(KEY_TWO))
    missing = client.get("/jobs/no-such-job", headers=_auth(KEY_TWO))
    cancel = client.delete(f"/jobs/{job_id}", headers=_auth(KEY_TWO))
    assert mine.status_code == 200
    assert stranger.status_code == missing.status_code == cancel.status_code == 404
    assert stranger.json() == {**missing.json(), "error": missing.json()["error"].replace("no-such-job", job_id)}
    assert client.get(f"/jobs/{job_id}").status_code == 401


def test_long_job_ids_are_not_echoed_in_full(client):
    response = client.get("/jobs/" + "x" * 8000, headers=_auth(KEY_ONE))
    assert response.status_code == 404 and len(response.json()["error"]) < 120


@pytest.mark.parametrize(("error", "status", "error_type"), [
    (JobNotFoundError("no job 'a'", field="job_id"), 404, "not_found"),
    (JobConflictError("job 'a' is already succeeded", field="job_id"), 409, "conflict"),
    (JobQueueFullError("10 async jobs are already queued", limit=10, retry_after=5), 429, "overloaded"),
    (JobStoreError("jobs database postgresql://u@h:5432/d: OperationalError: down"), 503, "unavailable"),
])
def test_job_store_errors_map_to_statuses(error, status, error_type):
    body, headers = error_body(error), error_headers(error)
    assert status_of(error) == (status, error_type) and body["error_type"] == error_type
    if status == 429:
        assert headers["Retry-After"] == "5" and body["limit"] == 10
    if status == 503:
        assert "postgresql" not in body["error"] and headers["Retry-After"]


def test_cancelling_a_job_drops_its_engine_request():
    async def scenario() -> tuple[bool, bool, bool]:
        work = asyncio.ensure_future(asyncio.sleep(60))  # stands for the batcher's work of the job
        control = JobControl("a", 1)
        control.attach(work)
        before = control.is_cancelled()
        control.cancel("cancelled")
        await asyncio.sleep(0)
        return before, work.cancelled(), control.is_cancelled()

    assert asyncio.run(scenario()) == (False, True, True)


def test_a_job_cancelled_before_its_request_reaches_the_batcher_never_queues_it():
    async def scenario() -> bool:
        control = JobControl("a", 1)
        control.cancel("lost")
        work = asyncio.ensure_future(asyncio.sleep(60))
        control.attach(work)
        await asyncio.sleep(0)
        return work.cancelled() and control.reason == "lost"

    assert asyncio.run(scenario())


class GatedEngine(FakeEngine):
    """Holds every engine call until the test opens the gate (a job that stays running)."""

    def __init__(self, num_labels: int) -> None:
        super().__init__(num_labels)
        self.gate = threading.Event()

    def run(self, batch):
        assert self.gate.wait(30), "the test never opened the gate"
        return super().run(batch)


def _wait_status(client, job_id: str, status: str) -> dict:
    deadline = time.monotonic() + 10
    while (doc := client.get(f"/jobs/{job_id}").json())["status"] != status:
        assert time.monotonic() < deadline, doc
        time.sleep(0.01)
    return doc


def test_queued_jobs_past_the_cap_get_429_and_a_cancelled_running_job_frees_its_worker():
    bundle = load_bundle()
    engine = GatedEngine(bundle.num_labels)
    service = NerService(bundle, engine)
    settings = HttpSettings.load(jobs_db=":memory:", max_queued_jobs=2, job_workers=1)
    with TestClient(create_app(settings, service=service)) as client:
        submit = lambda: client.post("/async/predict_tokens", json={"inputs": ["hello"]})  # noqa: E731
        first = submit().json()["job_id"]
        _wait_status(client, first, "running")
        second, third = submit().json()["job_id"], submit().json()["job_id"]
        refused = submit()
        cancelled = client.delete(f"/jobs/{first}")
        _wait_status(client, second, "running")  # the worker let go of the cancelled job at once
        engine.gate.set()
        _wait_status(client, third, "succeeded")
        store = client.app.state.ner.store
        runs = store.runs(first)
        final = client.get(f"/jobs/{first}").json()
    assert refused.status_code == 429 and refused.json()["limit"] == 2 and refused.headers["Retry-After"]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert final["status"] == "cancelled" and final["result"] is None
    assert [r.outcome for r in runs] == ["cancelled"]
