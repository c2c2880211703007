"""Async jobs through the app (in-process, fake engine, SQLite in memory): jobs belong to the API
key that created them, store errors map to HTTP statuses, and the cancel hook drops engine work."""

import asyncio
import time

import pytest
from fastapi.testclient import TestClient

from engines.bundle import load_bundle
from pipeline.http.app import _job_error, create_app
from pipeline.http.batcher import Pending
from pipeline.http.jobs import JobConflictError, JobNotFoundError, JobQueueFullError, JobStoreError
from pipeline.http.runner import JobControl
from pipeline.http.settings import HttpSettings
from pipeline.service import NerService, PredictOptions
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
    api = _job_error(error)
    assert (api.status, api.error_type) == (status, error_type)
    if status == 429:
        assert api.headers["Retry-After"] == "5" and api.limit == 10
    if status == 503:
        assert "postgresql" not in api.message and api.headers["Retry-After"]


def test_cancelling_a_job_drops_its_engine_request():
    async def scenario() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        pending = Pending(["text"], PredictOptions(), loop.create_future(), loop)
        control = JobControl("a", 1)
        control.attach(pending)
        before = control.is_cancelled()
        control.cancel("cancelled")
        return before, pending.gone and pending.future.cancelled(), control.is_cancelled()

    assert asyncio.run(scenario()) == (False, True, True)


def test_a_job_cancelled_before_its_request_reaches_the_batcher_never_queues_it():
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        control = JobControl("a", 1)
        control.cancel("lost")
        pending = Pending(["text"], PredictOptions(), loop.create_future(), loop)
        control.attach(pending)
        return pending.gone and pending.future.cancelled() and control.reason == "lost"

    assert asyncio.run(scenario())
