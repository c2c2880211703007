"""Slow and oversized clients against a real server (the guarded uvicorn protocol and the body
middleware), over raw sockets: each gets its JSON error body and the connection closes, within
a bound set by the server's settings (short here; generous margins on the bounds for slow CI).
The attacks are issue 13's: a body at one byte a second, headers drip-fed, a 200 KB header,
5,000 headers, ``Content-Length: abc``; plus idle and keep-alive connections and the
concurrency limit."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from pipeline.http.settings import HttpSettings
from tests.integration.http.conftest import start_server
from tests.integration.http.rawhttp import connect, drip, exchange, head, read_response

pytestmark = pytest.mark.integration

KEY = "abuse-key"
AUTH = f"Authorization: Bearer {KEY}"
TIMEOUT_S = 1.0  # header, body and keep-alive timeouts of the test server
SLACK_S = 8.0  # how much later than its timeout a refusal may come on a slow machine


@pytest.fixture(scope="module")
def server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("abuse"), api_keys=[KEY],
                      header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, keep_alive_timeout_s=TIMEOUT_S) as srv:
        yield srv


def _refused(response, status: int, error_type: str, field: str) -> dict:
    assert response.status == status, (response.status, response.body[:300])
    body = response.json()
    assert body["error_type"] == error_type and body["field"] == field and body["error"], body
    assert response.headers.get("connection") == "close" and response.closed, "the connection stayed open"
    return body


def test_the_defaults_bound_every_connection():
    defaults = HttpSettings()
    assert 0 < defaults.header_timeout_s <= 60 and 0 < defaults.body_timeout_s <= 60
    assert defaults.body_min_rate >= 256 and 0 < defaults.keep_alive_timeout_s <= 60
    assert defaults.max_header_bytes <= 64 * 1024 and defaults.max_headers <= 200
    assert defaults.limit_concurrency is not None


def test_a_body_sent_one_byte_at_a_time_gets_408(server):
    body = b'{"inputs": ["' + b"x" * 200 + b'"]}'
    start = head("POST", "/predict_tokens", AUTH, "Content-Type: application/json", body=b"")
    start = start.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode())
    response = drip(server.url, start, body, every=0.2)
    doc = _refused(response, 408, "timeout", "body")
    assert doc["limit"] == TIMEOUT_S
    assert TIMEOUT_S * 0.9 <= response.elapsed <= TIMEOUT_S + SLACK_S


def test_a_body_that_stops_halfway_gets_408(server):
    body = b'{"inputs": ["Maria Garcia lives in Berlin"]}'
    request = head("POST", "/predict_tokens", AUTH, "Content-Type: application/json", body=body)
    with connect(server.url) as sock:
        started = time.monotonic()
        sock.sendall(request[: len(request) - 10])
        response = read_response(sock, started)
    _refused(response, 408, "timeout", "body")
    assert response.elapsed <= TIMEOUT_S + SLACK_S


def test_headers_drip_fed_get_408(server):
    start = b"POST /predict_tokens HTTP/1.1\r\nHost: test\r\n"
    response = drip(server.url, start, b"X-Slow: " + b"a" * 200 + b"\r\n\r\n", every=0.2)
    doc = _refused(response, 408, "timeout", "headers")
    assert doc["limit"] == TIMEOUT_S
    assert TIMEOUT_S * 0.9 <= response.elapsed <= TIMEOUT_S + SLACK_S


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server.url) as sock:
        response = read_response(sock, time.monotonic())
    _refused(response, 408, "timeout", "headers")
    assert response.elapsed <= TIMEOUT_S + SLACK_S


def test_keep_alive_ends_after_its_timeout(server):
    with connect(server.url) as sock:
        sock.sendall(head("GET", "/health"))
        started = time.monotonic()
        buffer = b""
        while True:  # read the response, then wait for the server to close the idle connection
            sock.settimeout(TIMEOUT_S + SLACK_S)
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        waited = time.monotonic() - started
    assert buffer.startswith(b"HTTP/1.1 200")
    assert waited <= TIMEOUT_S + SLACK_S


def test_a_200_kb_header_gets_431(server):
    response = exchange(server.url, head("GET", "/health", "X-Big: " + "a" * 200_000))
    doc = _refused(response, 431, "headers_too_large", "headers")
    assert doc["limit"] == HttpSettings().max_header_bytes


def test_5000_headers_get_431(server):
    response = exchange(server.url, head("GET", "/health", *(f"X-H{i}: {i}" for i in range(5000))))
    doc = _refused(response, 431, "headers_too_large", "headers")
    assert doc["limit"] == HttpSettings().max_headers


def test_a_malformed_content_length_gets_the_json_error_shape(server):
    for value in ("abc", "-1", "1, 2"):
        raw = f"POST /predict_tokens HTTP/1.1\r\nHost: test\r\n{AUTH}\r\nContent-Length: {value}\r\n\r\n{{}}"
        response = exchange(server.url, raw.encode())
        _refused(response, 400, "bad_request", "headers")


def test_an_unauthenticated_upload_is_refused_before_its_body(server):
    """401 at once, without waiting for (or reading) the 8 MB it announces, and the connection closes."""
    start = head("POST", "/predict_tokens", "Content-Type: application/json", "Content-Length: 8000000")
    with connect(server.url) as sock:
        started = time.monotonic()
        sock.sendall(start + b'{"inputs": [')
        response = read_response(sock, started)
    _refused(response, 401, "unauthorized", "authorization")  # not 408: nothing waited for the body


def test_normal_requests_still_work_after_the_attacks_and_the_refusals_are_counted(server):
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as client:
        response = client.post("/predict_tokens", json={"inputs": ["Maria Garcia lives in Berlin"],
                                                        "aggregation_strategy": "first"})
        metrics = client.get("/metrics").text
    assert response.status_code == 200 and response.json()[0]
    for error_type in ("timeout", "headers_too_large", "bad_request", "unauthorized"):
        assert f'ner_http_errors_total{{error_type="{error_type}"}}' in metrics, error_type


def test_over_the_concurrency_limit_requests_get_503_json_but_the_probes_answer(rampart_service, tmp_path):
    """``limit_concurrency`` counts requests in flight (here: 3 uploads waiting for their body),
    not open connections; the probes are answered even at the limit."""
    info = head("GET", "/info", "Connection: close")
    with start_server(rampart_service, tmp_path, limit_concurrency=3, body_timeout_s=60) as srv:
        assert exchange(srv.url, info).status == 200
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(5)]  # idle sockets: no effect
        assert exchange(srv.url, info).status == 200
        uploads = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
        try:
            for sock in uploads:
                sock.sendall(head("POST", "/predict_tokens", "Content-Type: application/json", "Content-Length: 100")
                             + b'{"inputs": [')
            deadline = time.monotonic() + 20  # until the server runs the three requests
            while (response := exchange(srv.url, info)).status == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            for probe in ("/health", "/ready"):
                assert exchange(srv.url, head("GET", probe, "Connection: close")).status == 200, probe
        finally:
            for sock in uploads + idle:
                sock.close()
        assert response.status == 503 and response.headers["retry-after"] == "1"
        body = response.json()
        assert body["error_type"] == "unavailable" and body["limit"] == 3 and response.closed
        deadline = time.monotonic() + 20
        while (again := exchange(srv.url, info)).status != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert again.status == 200
