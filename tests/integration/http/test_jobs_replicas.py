"""Two ``ner-stage serve`` processes on one real PostgreSQL: the job store shared by replicas.

- a job submitted on A is polled to completion on B; another API key sees a 404 on both;
  ``DELETE`` on B stops a job A is running;
- 200 jobs submitted across both replicas each run exactly once (one run in the store's run
  history, attempt 1, both replicas doing work);
- A is SIGKILLed while it holds a job with a callback: B takes the job over when A's lease runs
  out, finishes it, and the receiver gets the signed callback (at least once, same
  ``Idempotency-Key`` every time, signature verified with ``pipeline.http.callbacks.verify``);
- a replica SIGKILLed in the middle of a callback POST: another replica sends the callback again
  when the delivery lease runs out (same key, same body, a valid signature).

The kill tests run last (pytest keeps file order); the mid-callback one starts its own replica.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import psycopg
import pytest

from pipeline.http.callbacks import verify
from pipeline.service import PredictOptions
from tests.integration.http.conftest import SECRET, receiving

pytestmark = pytest.mark.integration

TEXT = "My name is John Smith and my email is john.smith@example.com"
KEYS = ("key-one", "key-two")
LEASE_S = 8.0  # generous: a slow CI box must not lose a lease it renews every 0.2 s
BIG = [f"{TEXT}. Call Maria Garcia at +1 (415) 555-01{i:02d}. " * 12 for i in range(16)]


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen
    url: str

    def client(self, key: str | None = KEYS[0]) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(name: str, dsn: str) -> Replica:
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NER_")},
           "NER_CALLBACK_SECRET": SECRET, "NER_CALLBACK_BACKOFF_S": "0.05", "NER_THREADS": "1",
           "NER_API_KEYS": orjson.dumps(list(KEYS)).decode(), "NER_JOB_LEASE_S": str(LEASE_S),
           "NER_JOB_POLL_S": "0.2", "NER_CALLBACK_ALLOW_LIST": '["127.0.0.1"]', "NER_CALLBACK_TIMEOUT_S": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--jobs-db", dsn],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Replica(name, proc, f"http://127.0.0.1:{port}")


def _wait_ready(replica: Replica, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert replica.proc.poll() is None, f"replica {replica.name} exited during start-up"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{replica.url}/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"replica {replica.name} not ready")


@pytest.fixture(scope="module")
def cluster(postgres_server) -> Iterator[tuple[Replica, Replica, str]]:
    dsn = postgres_server.create_database("replicas")
    a, b = _serve("A", dsn), _serve("B", dsn)
    try:
        _wait_ready(a)
        _wait_ready(b)
        yield a, b, dsn
    finally:
        for r in (a, b):
            if r.proc.poll() is None:
                r.proc.terminate()
        for r in (a, b):
            try:
                r.proc.wait(30)
            except subprocess.TimeoutExpired:
                r.proc.kill()


def _sql(dsn: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, args).fetchall()


def _submit(replica: Replica, texts: list[str], **extra) -> str:
    with replica.client() as client:
        response = client.post("/async/predict_tokens",
                               json={"inputs": texts, "aggregation_strategy": "first", **extra})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _poll(replica: Replica, job_id: str, until=("succeeded", "failed", "cancelled"), timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    with replica.client() as client:
        while True:
            doc = client.get(f"/jobs/{job_id}").json()
            if doc.get("status") in until or time.monotonic() > deadline:
                return doc
            time.sleep(0.05)


def test_a_job_submitted_on_one_replica_is_done_on_the_other_and_only_its_key_sees_it(cluster, rampart_service):
    a, b, dsn = cluster
    job_id = _submit(a, [TEXT], metadata={"from": "A"})
    done = _poll(b, job_id)
    expected = orjson.loads(orjson.dumps(rampart_service.predict([TEXT], PredictOptions(aggregation="first")),
                                         option=orjson.OPT_SERIALIZE_NUMPY))
    assert done["status"] == "succeeded" and done["result"] == expected and done["metadata"] == {"from": "A"}
    (key_hash,) = _sql(dsn, "SELECT key_hash FROM jobs WHERE id = %s", job_id)[0]
    assert len(key_hash) == 64 and KEYS[0] not in key_hash
    for replica in (a, b):
        with replica.client(KEYS[1]) as other, replica.client(None) as anonymous:
            stranger = other.get(f"/jobs/{job_id}")
            missing = other.get("/jobs/0123456789abcdef0123456789abcdef")
            delete = other.delete(f"/jobs/{job_id}")
            assert anonymous.get(f"/jobs/{job_id}").status_code == 401
        assert stranger.status_code == missing.status_code == delete.status_code == 404
        assert stranger.json()["error_type"] == missing.json()["error_type"] == "not_found"
        assert stranger.json()["field"] == "job_id"


def test_delete_on_one_replica_stops_a_job_running_on_the_other(cluster):
    a, b, dsn = cluster
    job_id = _submit(a, BIG)
    deadline = time.monotonic() + 60
    while not (owner := _sql(dsn, "SELECT lease_owner FROM jobs WHERE id = %s AND status = 'running'", job_id)):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    runner_pid = int(owner[0][0].split(":")[1])
    other = b if runner_pid == a.proc.pid else a
    with other.client() as client:
        cancelled = client.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while (runs := _sql(dsn, "SELECT outcome, ended_at FROM job_runs WHERE job_id = %s", job_id))[0][0] is None:
        assert time.monotonic() < deadline, "the runner did not stop the job"
        time.sleep(0.05)
    assert runs == [("cancelled", runs[0][1])]
    time.sleep(1.0)  # whatever the engine was doing, no result may land on a cancelled job
    (status, result) = _sql(dsn, "SELECT status, result FROM jobs WHERE id = %s", job_id)[0]
    assert (status, result) == ("cancelled", None)


def test_200_jobs_across_both_replicas_each_run_exactly_once(cluster):
    a, b, dsn = cluster
    ids: list[str] = []
    with a.client() as ca, b.client() as cb:
        for i in range(200):
            response = (ca, cb)[i % 2].post("/async/predict_tokens", json={"inputs": [f"{TEXT} #{i}"]})
            assert response.status_code == 202, response.text
            ids.append(response.json()["job_id"])
    deadline = time.monotonic() + 180
    while _sql(dsn, "SELECT COUNT(*) FROM jobs WHERE id = ANY(%s) AND status IN ('queued', 'running')", ids)[0][0]:
        assert time.monotonic() < deadline, "jobs still unfinished"
        time.sleep(0.2)
    jobs = _sql(dsn, "SELECT status, run_attempt, result IS NOT NULL FROM jobs WHERE id = ANY(%s)", ids)
    assert len(jobs) == 200 and set(jobs) == {("succeeded", 1, True)}
    runs = _sql(dsn, "SELECT job_id, attempt, owner, outcome FROM job_runs WHERE job_id = ANY(%s)", ids)
    assert sorted(r[0] for r in runs) == sorted(ids)  # one run per job: none ran twice, at once or after
    assert {(r[1], r[3]) for r in runs} == {(1, "succeeded")}
    by_pid = {int(r[2].split(":")[1]) for r in runs}
    assert by_pid == {a.proc.pid, b.proc.pid}, "both replicas should have run jobs"


def test_a_replica_killed_holding_a_job_is_taken_over_and_the_callback_delivered(cluster):
    a, b, dsn = cluster
    with receiving([200]) as receiver:
        ids = [_submit(a, BIG[:8], callback_url=receiver.url, metadata={"n": str(i)}) for i in range(3)]
        deadline = time.monotonic() + 60
        while not (held := _sql(dsn, "SELECT id, lease_owner FROM jobs WHERE id = ANY(%s) AND status = 'running' "
                                     "AND lease_owner LIKE %s", ids, f"%:{a.proc.pid}:%")):
            assert time.monotonic() < deadline, "A never ran one of the jobs"
            time.sleep(0.01)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        killed_job, a_owner = held[0]
        (state,) = _sql(dsn, "SELECT status FROM jobs WHERE id = %s", killed_job)[0]
        assert state == "running", "the job finished before the kill: not a mid-job kill"
        deadline = time.monotonic() + 180
        while {c.json()["job_id"] for c in receiver.received} != set(ids):
            assert time.monotonic() < deadline, "callbacks missing"
            time.sleep(0.05)
        calls = list(receiver.received)
    for call in calls:
        assert verify(SECRET.encode(), call.headers["x-ner-signature"], call.body)
        assert call.headers["idempotency-key"] == call.json()["job_id"]
    killed_calls = [c for c in calls if c.json()["job_id"] == killed_job]
    assert killed_calls and all(c.json()["status"] == "succeeded" for c in killed_calls)
    assert {c.headers["idempotency-key"] for c in killed_calls} == {killed_job}
    assert killed_calls[0].json()["metadata"] == {"n": str(ids.index(killed_job))}
    assert _poll(b, killed_job)["status"] == "succeeded"
    runs = _sql(dsn, "SELECT attempt, owner, outcome FROM job_runs WHERE job_id = %s ORDER BY attempt", killed_job)
    assert runs[0] == (1, a_owner, "lost")
    assert runs[-1][2] == "succeeded" and f":{b.proc.pid}:" in runs[-1][1]


class HoldingReceiver:
    """Records callbacks; holds the first one open (no answer) until :meth:`release`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if len(receiver.received) == 1:
                    receiver.released.wait(60)
                with contextlib.suppress(OSError):  # the first sender may be dead by now
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_replica_killed_mid_callback_has_the_callback_sent_again_by_another(cluster):
    a, b, dsn = cluster
    c = _serve("C", dsn)  # a replacement pod (A may have been killed above)
    receiver = HoldingReceiver()
    try:
        _wait_ready(c)
        live = [r for r in (a, b, c) if r.proc.poll() is None]
        job_id = _submit(live[0], [TEXT], callback_url=receiver.url)
        deadline = time.monotonic() + 60
        while not receiver.received:
            assert time.monotonic() < deadline, "no callback attempt"
            time.sleep(0.02)
        (owner,) = _sql(dsn, "SELECT delivery_owner FROM jobs WHERE id = %s", job_id)[0]
        sender = next(r for r in live if f":{r.proc.pid}:" in owner)
        sender.proc.send_signal(signal.SIGKILL)  # dies with the POST in flight, before any answer
        sender.proc.wait(10)
        receiver.release()
        deadline = time.monotonic() + 60
        while len(receiver.received) < 2:
            assert time.monotonic() < deadline, "the callback was not sent again"
            time.sleep(0.05)
        survivor = next(r for r in live if r is not sender)
        final = _poll(survivor, job_id)
        deadline = time.monotonic() + 10
        while (delivery := _sql(dsn, "SELECT delivery, delivery_owner FROM jobs WHERE id = %s", job_id)[0])[0] \
                != "delivered":
            assert time.monotonic() < deadline, "the second delivery was not recorded"
            time.sleep(0.05)
    finally:
        receiver.close()
        if c.proc.poll() is None:
            c.proc.terminate()
            c.proc.wait(30)
    (first_headers, first_body), (second_headers, second_body) = receiver.received[:2]
    assert first_headers["idempotency-key"] == second_headers["idempotency-key"] == job_id
    assert first_body == second_body and orjson.loads(second_body)["status"] == "succeeded"
    assert verify(SECRET.encode(), first_headers["x-ner-signature"], first_body)
    assert verify(SECRET.encode(), second_headers["x-ner-signature"], second_body)
    assert final["status"] == "succeeded"
    assert f":{sender.proc.pid}:" not in delivery[1]  # recorded by the replica that took over
