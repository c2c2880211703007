"""Async jobs over real HTTP: signed callbacks to a real receiver, retries, SSRF refusals, and
a server killed with SIGKILL mid-job that delivers after restart (SQLite job store)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import orjson
import pytest

from pipeline.http.callbacks import verify
from pipeline.service import PredictOptions
from tests.integration.http.conftest import SECRET, receiving, start_server, wait_job

pytestmark = pytest.mark.integration

TEXT = "My name is John Smith and my email is john.smith@example.com"


def _expected(service, texts, **options) -> list:
    return orjson.loads(orjson.dumps(service.predict(texts, PredictOptions(**options)),
                                     option=orjson.OPT_SERIALIZE_NUMPY))


def _submit(client: httpx.Client, url: str, texts: list[str], **extra) -> dict:
    response = client.post("/async/predict_tokens", json={
        "inputs": [[t] for t in texts], "aggregation_strategy": "first", "callback_url": url, **extra})
    assert response.status_code == 202, response.text
    return response.json()


def test_job_end_to_end_with_a_signed_callback(live_server, rampart_service, receiver):
    with live_server.client() as client:
        accepted = _submit(client, receiver.url, [TEXT], metadata={"batch": "42"})
        (call,) = receiver.wait_for(1)
        status = wait_job(client, accepted["job_id"])
        deadline = time.monotonic() + 5
        while status["callback"]["status"] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.02)
            status = client.get(f"/jobs/{accepted['job_id']}").json()
    assert accepted["status_url"] == f"/jobs/{accepted['job_id']}"
    assert verify(SECRET.encode(), call.headers["x-ner-signature"], call.body)
    assert not verify(b"another secret", call.headers["x-ner-signature"], call.body)
    assert not verify(SECRET.encode(), call.headers["x-ner-signature"], call.body + b" ")
    assert call.headers["idempotency-key"] == accepted["job_id"]
    doc = call.json()
    expected = _expected(rampart_service, [TEXT], aggregation="first")
    assert doc == {"job_id": accepted["job_id"], "status": "succeeded", "result": expected,
                   "metadata": {"batch": "42"}}
    assert status["status"] == "succeeded" and status["result"] == expected
    assert status["callback"] == {"url": receiver.url, "status": "delivered", "attempts": 1, "last_error": None}


def test_a_receiver_failing_twice_gets_the_result_on_the_third_try(live_server, rampart_service):
    with receiving([500, 503, 200]) as flaky, live_server.client() as client:
        accepted = _submit(client, flaky.url, [TEXT])
        calls = flaky.wait_for(3)
        time.sleep(0.3)  # no fourth attempt after a success
        status = client.get(f"/jobs/{accepted['job_id']}").json()
    assert len(flaky.received) == 3
    assert {c.headers["idempotency-key"] for c in calls} == {accepted["job_id"]}
    assert all(verify(SECRET.encode(), c.headers["x-ner-signature"], c.body) for c in calls)
    assert calls[2].json()["result"] == _expected(rampart_service, [TEXT], aggregation="first")
    assert calls[1].at - calls[0].at >= 0.02  # backed off (base 0.05 s, half jittered)
    assert status["callback"]["status"] == "delivered" and status["callback"]["attempts"] == 3


def test_a_receiver_that_never_succeeds_is_recorded_as_a_delivery_failure(rampart_service, tmp_path):
    with receiving([500]) as broken, start_server(rampart_service, tmp_path, callback_allow_list=["127.0.0.1"],
                                                  callback_max_attempts=3) as srv, srv.client() as client:
        accepted = _submit(client, broken.url, [TEXT])
        broken.wait_for(3)
        deadline = time.monotonic() + 5
        status = client.get(f"/jobs/{accepted['job_id']}").json()
        while status["callback"]["status"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.02)
            status = client.get(f"/jobs/{accepted['job_id']}").json()
    assert status["status"] == "succeeded"
    assert status["callback"]["status"] == "failed" and status["callback"]["attempts"] == 3
    assert "500" in status["callback"]["last_error"]
    assert len(broken.received) == 3


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/hook", "http://169.254.169.254/latest/meta-data/",
                                 "http://10.0.0.1/hook", "http://[::1]:{port}/hook", "http://localhost:{port}/hook"])
def test_ssrf_callbacks_to_internal_addresses_are_refused_without_the_allow_list(rampart_service, tmp_path, url):
    with receiving([200]) as rec, start_server(rampart_service, tmp_path) as srv, srv.client() as client:
        port = rec.url.split(":")[2].split("/")[0]
        response = client.post("/async/predict_tokens",
                               json={"inputs": [TEXT], "callback_url": url.format(port=port)})
        time.sleep(0.1)
    assert response.status_code == 422, response.text
    doc = response.json()
    assert doc["error_type"] == "callback_refused" and doc["field"] == "callback_url"
    assert "callback_allow_list" in doc["error"] and doc["limit"]
    assert rec.received == []


def test_the_allow_list_opens_only_what_it_names(live_server):
    with live_server.client() as client:
        metadata = client.post("/async/predict_tokens",
                               json={"inputs": [TEXT], "callback_url": "http://169.254.169.254/hook"})
        scheme = client.post("/async/predict_tokens", json={"inputs": [TEXT], "callback_url": "file:///etc/passwd"})
    assert metadata.status_code == 422 and "metadata" in metadata.json()["error"]
    assert scheme.status_code == 422 and scheme.json()["limit"] == ["http", "https"]


def test_jobs_without_callback_can_be_polled_and_finished_jobs_not_cancelled(live_server, rampart_service):
    with live_server.client() as client:
        accepted = client.post("/async/predict_tokens", json={"inputs": TEXT}).json()
        done = wait_job(client, accepted["job_id"])
        cancel = client.delete(f"/jobs/{accepted['job_id']}")
        missing = client.get("/jobs/no-such-job")
    assert done["status"] == "succeeded" and done["result"] == _expected(rampart_service, [TEXT])
    assert done["callback"]["status"] == "none"
    assert cancel.status_code == 409 and cancel.json()["field"] == "job_id"
    assert missing.status_code == 404 and missing.json()["field"] == "job_id"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(port: int, db, allow: str) -> subprocess.Popen:
    env = {**os.environ, "NER_CALLBACK_SECRET": SECRET, "NER_CALLBACK_BACKOFF_S": "0.05",
           "NER_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--jobs-db", str(db), "--callback-allow-list", allow],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(proc: subprocess.Popen, url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready")


def test_a_job_accepted_before_sigkill_is_delivered_after_restart(rampart_service, tmp_path):
    db = tmp_path / "jobs.sqlite3"
    texts = [f"{TEXT}. Call Maria Garcia at +1 (415) 555-01{i:02d}. " * 12 for i in range(48)]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with receiving([200]) as rec:
        first = _serve(port, db, "127.0.0.1")
        try:
            _wait_ready(first, url)
            with httpx.Client(base_url=url) as client:
                accepted = _submit(client, rec.url, texts, metadata={"run": "kill"})
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        with sqlite3.connect(db) as conn:
            (state,) = conn.execute("SELECT status FROM jobs WHERE id = ?", (accepted["job_id"],)).fetchone()
        assert state in ("queued", "running"), "the job finished before the kill: not a mid-job kill"
        assert rec.received == []

        second = _serve(port, db, "127.0.0.1")
        try:
            _wait_ready(second, url)
            (call,) = rec.wait_for(1, timeout=90)
            with httpx.Client(base_url=url) as client:
                status = wait_job(client, accepted["job_id"])
        finally:
            second.terminate()
            second.wait(30)
    assert verify(SECRET.encode(), call.headers["x-ner-signature"], call.body)
    doc = call.json()
    assert doc["job_id"] == accepted["job_id"] and doc["status"] == "succeeded"
    assert doc["metadata"] == {"run": "kill"}
    expected = _expected(rampart_service, texts, aggregation="first")
    assert [[(i["token"], i["start"], i["end"], list(i["results"])) for i in d] for d in doc["result"]] == \
        [[(i["token"], i["start"], i["end"], list(i["results"])) for i in d] for d in expected]
    assert status["status"] == "succeeded"


def test_a_queued_job_can_be_cancelled_and_its_callback_says_so(live_server, receiver):
    big = [f"{TEXT}. Call Maria Garcia at +1 (415) 555-01{i:02d}. " * 12 for i in range(48)]
    with live_server.client() as client:
        first = _submit(client, receiver.url, big)  # keeps the single job worker busy
        second = _submit(client, receiver.url, [TEXT], metadata={"n": 2})
        cancelled = client.delete(f"/jobs/{second['job_id']}")
        assert cancelled.status_code == 200, cancelled.text
        calls = receiver.wait_for(2, timeout=60)
        final = wait_job(client, second["job_id"])
    by_job = {c.json()["job_id"]: c.json() for c in calls}
    assert cancelled.json()["status"] == "cancelled"
    assert by_job[second["job_id"]] == {"job_id": second["job_id"], "status": "cancelled", "metadata": {"n": 2}}
    assert by_job[first["job_id"]]["status"] == "succeeded"
    assert final["status"] == "cancelled" and final["result"] is None
