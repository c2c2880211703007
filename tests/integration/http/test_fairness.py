"""Fair scheduling on a real server with the real model: a 100,000-character request does not
hold the engine; a client that disconnects and a cancelled job stop costing engine time.

Timing margins are generous (CI machines are small and shared): the short request must take at
most a quarter of the long request's time, where the scheduler gives it about one engine batch.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import orjson
import pytest

from tests.integration.http.conftest import start_server

pytestmark = pytest.mark.integration

SENTENCE = "Please call Maria Garcia at +1 415 555 0199 or write to maria.garcia@example.com about invoice 4471. "
LONG = (SENTENCE * (100_000 // len(SENTENCE) + 1))[:100_000]
SHORT = "My name is John Smith and my email is john.smith@example.com"


@pytest.fixture(scope="module")
def server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("fair"), request_max_engine_s=600.0) as srv:
        yield srv


def _metric(client: httpx.Client, name: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _engine_tokens(client: httpx.Client) -> float:
    return _metric(client, "ner_engine_batch_tokens_sum")


def _wait_engine_busy(client: httpx.Client, before: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _engine_tokens(client) <= before:
        assert time.monotonic() < deadline, "the long request never reached the engine"
        time.sleep(0.05)


def test_a_short_request_is_not_held_behind_a_100k_character_one(server):
    long_result: dict = {}

    def send_long() -> None:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            started = time.perf_counter()
            response = client.post("/predict_tokens", json={"inputs": [LONG], "aggregation_strategy": "simple"})
            long_result.update(status=response.status_code, seconds=time.perf_counter() - started,
                               entities=len(response.json()[0]) if response.status_code == 200 else 0)

    with server.client() as client:
        before = _engine_tokens(client)
        thread = threading.Thread(target=send_long)
        thread.start()
        _wait_engine_busy(client, before)
        started = time.perf_counter()
        short = client.post("/predict_tokens", json={"inputs": [SHORT], "aggregation_strategy": "simple",
                                                     "merge_adjacent": True})
        short_s = time.perf_counter() - started
        long_running = thread.is_alive()
        thread.join(600)
    assert short.status_code == 200
    assert "john.smith@example.com" in {SHORT[i["start"]:i["end"]] for i in short.json()[0]}
    assert long_result["status"] == 200 and long_result["entities"] > 1000
    assert long_running, "the long request finished before the short one: nothing was measured"
    assert short_s <= 0.25 * long_result["seconds"], (short_s, long_result["seconds"])


def _post_and_leave(port: int, body: bytes, after_s: float) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /predict_tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    time.sleep(after_s)
    sock.close()


def _assert_engine_stops(client: httpx.Client, dropped_before: float) -> None:
    deadline = time.monotonic() + 60
    while _metric(client, "ner_batch_dropped_total") <= dropped_before:
        assert time.monotonic() < deadline, "the abandoned request was never dropped"
        time.sleep(0.05)
    settled = _engine_tokens(client)
    time.sleep(1.0)
    assert _engine_tokens(client) == settled  # nothing is computing for the abandoned request


def test_a_client_that_disconnects_stops_costing_engine_time(server, rampart_service):
    body = orjson.dumps({"inputs": [LONG, LONG]})
    whole = rampart_service.cost(rampart_service.encode([LONG, LONG]))
    with server.client() as client:
        dropped = _metric(client, "ner_batch_dropped_total")
        before = _engine_tokens(client)
        leaver = threading.Thread(target=_post_and_leave, args=(server.port, body, 1.0))
        leaver.start()
        _wait_engine_busy(client, before)
        leaver.join()
        _assert_engine_stops(client, dropped)
        assert _engine_tokens(client) - before < 0.5 * whole  # far less than the whole request
        assert client.post("/predict_tokens", json={"inputs": [SHORT]}).status_code == 200


def test_a_cancelled_running_job_stops_costing_engine_time(server):
    with server.client() as client:
        dropped = _metric(client, "ner_batch_dropped_total")
        before = _engine_tokens(client)
        job = client.post("/async/predict_tokens", json={"inputs": [LONG, LONG]}).json()
        _wait_engine_busy(client, before)
        cancelled = client.delete(f"/jobs/{job['job_id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        _assert_engine_stops(client, dropped)
        assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "cancelled"
