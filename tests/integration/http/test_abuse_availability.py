"""Availability under hostile clients (issue 21) against a real server: idle sockets cannot
starve the probes, a client that never reads its response is cut off, a callback receiver that
trickles bytes cannot hold an attempt, malformed bytes after a valid request still get the
valid answer, ``HEAD`` is ``GET``, and every route enforces the limits ``/info`` reports."""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time

import httpx
import pytest

from tests.integration.http.conftest import start_server, wait_job
from tests.integration.http.rawhttp import connect, head

pytestmark = pytest.mark.integration

KEY = "availability-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SLACK_S = 15.0  # how much later than its deadline a cut may come on a slow machine


@pytest.fixture(scope="module")
def server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("availability"), api_keys=[KEY], write_timeout_s=1.0,
                      max_inputs=4, max_text_chars=60, callback_allow_list=["127.0.0.1"],
                      callback_timeout_s=1.0, callback_max_attempts=1) as srv:
        yield srv


def _probe(url: str, path: str) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.get(url + path, timeout=30)
    return response.status_code, time.monotonic() - started


def test_1010_idle_connections_leave_the_probes_and_requests_answering(rampart_service, tmp_path):
    """The default idle limit (1,000) with 1,010 idle sockets open: the oldest are closed to
    admit new connections, the probes answer 200 within 1 s and requests are not refused."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4096  # 1,010 client sockets + the in-process server's 1,010 + the session's files
    assert hard == resource.RLIM_INFINITY or hard >= needed, f"the open-file hard limit {hard} is below {needed}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    with start_server(rampart_service, tmp_path, header_timeout_s=60, keep_alive_timeout_s=60) as srv:
        idle_limit = srv.server.config.http.limits.max_idle_connections
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(idle_limit + 10)]
        try:
            registry = srv.server.config.http.idle_connections
            deadline = time.monotonic() + 30  # until the server has accepted them all
            while srv.server.server_state.total_requests == 0 and len(registry) < idle_limit \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            for path in ("/health", "/ready", "/health", "/ready"):
                status, elapsed = _probe(srv.url, path)
                assert status == 200 and elapsed <= 1.0, (path, status, elapsed)
            response = httpx.post(srv.url + "/predict_tokens", json={"inputs": ["Maria lives in Berlin"]}, timeout=60)
            assert response.status_code == 200, response.text
            assert len(registry) <= idle_limit
            closed = 0
            for sock in idle[:10]:  # the oldest were closed to make room
                sock.settimeout(10)
                with contextlib.suppress(ConnectionError):
                    closed += sock.recv(1) == b""
            assert closed == 10
        finally:
            for sock in idle:
                sock.close()


def test_a_client_that_never_reads_is_cut_off_and_its_response_freed(server):
    """300 pipelined requests for the 23 KB OpenAPI document, nothing read: once the write
    buffer is full the server waits ``write_timeout_s`` (1 s) for progress, then aborts."""
    openapi = httpx.get(server.url + "/openapi.json").content
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    connections = server.server.server_state.connections
    with sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n" * 300)
        port = sock.getsockname()[1]

        def ours() -> list:  # the server's side of our connection
            return [conn for conn in list(connections) if conn.client and conn.client[1] == port]

        deadline = time.monotonic() + SLACK_S
        while not ours() and time.monotonic() < deadline:  # accepted (a cut needs a 1 s stall: never missed)
            time.sleep(0.05)
        assert ours(), "the server never held our connection"
        deadline = time.monotonic() + 1.0 + SLACK_S
        while ours() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not ours(), "the server still holds the connection of a client that does not read"
        received = b""
        sock.settimeout(10)
        with contextlib.suppress(ConnectionError, TimeoutError):
            while chunk := sock.recv(1 << 20):
                received += chunk
    assert len(received) < 300 * len(openapi)  # the rest of the responses was dropped
    metrics = httpx.get(server.url + "/metrics").text
    assert 'ner_http_errors_total{error_type="timeout"}' in metrics


def _answers(data: bytes, url: str) -> list[tuple[int, dict, bytes]]:
    """Send ``data`` in one packet; read until the server closes; every response as (status,
    headers, body), and whether the server closed after the last one."""
    raw = b""
    with connect(url) as sock:
        sock.sendall(data)
        sock.settimeout(30)
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                raw += chunk
    responses = []
    while raw:
        head_bytes, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", 0))
        responses.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return responses


@pytest.mark.parametrize("tail", [b"GARBAGE \x00\x01\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00",
                                  head("POST", "/predict_tokens", f"Authorization: Bearer {KEY}",
                                       "Transfer-Encoding: xchunked") + b"{}"])
def test_malformed_bytes_after_a_valid_request_get_its_answer_then_a_json_400(server, tail):
    body = b'{"inputs": ["Maria lives in Berlin"], "aggregation_strategy": "first"}'
    valid = head("POST", "/predict_tokens", f"Authorization: Bearer {KEY}", "Content-Type: application/json",
                 body=body)
    (status, _, body), (refused, headers, error) = _answers(valid + tail, server.url)  # then the server closed
    assert status == 200 and "GIVEN_NAME" in json.loads(body)[0][0]["results"]
    assert refused == 400 and headers["connection"] == "close"
    assert json.loads(error)["error_type"] == "bad_request"


def test_a_transfer_coding_other_than_chunked_or_broken_chunks_are_a_json_400(server):
    for coding in ("xchunked", "gzip", "chunked, gzip"):
        ((status, _, body),) = _answers(head("POST", "/predict_tokens", f"Authorization: Bearer {KEY}",
                                             f"Transfer-Encoding: {coding}") + b"0\r\n\r\n", server.url)
        assert status == 400 and json.loads(body)["field"] == "headers", coding
    # a chunked body whose framing breaks while the route reads it: the JSON 400 too, not a bare close
    ((status, _, body),) = _answers(head("POST", "/predict_tokens", f"Authorization: Bearer {KEY}",
                                         "Transfer-Encoding: chunked") + b'5\r\n{"inp\r\nZZZ\r\n', server.url)
    assert status == 400 and json.loads(body)["error_type"] == "bad_request"


def test_head_is_get_without_the_body(server):
    for path, headers in (("/", {}), ("/health", {}), ("/info", AUTH)):
        got, headed = httpx.get(server.url + path, headers=headers), httpx.head(server.url + path, headers=headers)
        assert got.status_code == headed.status_code == 200, path
        assert headed.content == b"" and headed.headers["content-type"] == got.headers["content-type"], path
        assert headed.headers["content-length"] == got.headers["content-length"], path
    assert httpx.head(server.url + "/info").status_code == 401  # the keyed routes stay keyed


def test_every_route_enforces_the_limits_info_reports(server):
    info = httpx.get(server.url + "/info", headers=AUTH).json()
    inputs, chars = info["max_inputs"], info["max_text_chars"]
    assert (inputs, chars) == (4, 60)
    too_many = {"inputs": ["Maria"] * (inputs + 1)}
    too_long = {"inputs": ["a" * (chars + 1)]}
    for path, body in (("/predict_tokens", too_many), ("/redact", too_many), ("/", too_many),
                       ("/async/predict_tokens", too_many)):
        response = httpx.post(server.url + path, json=body, headers=AUTH)
        assert response.status_code == 413, (path, response.text)
        assert response.json()["field"] == "inputs" and response.json()["limit"] == inputs, path
    for path in ("/predict_tokens", "/redact", "/"):
        response = httpx.post(server.url + path, json=too_long, headers=AUTH)
        assert response.status_code == 413 and response.json()["limit"] == chars, (path, response.text)
    at_limit = {"inputs": ["Maria lives in Berlin"] * inputs}
    for path in ("/predict_tokens", "/redact"):
        assert httpx.post(server.url + path, json=at_limit, headers=AUTH).status_code == 200, path


class TricklingReceiver:
    """Answers every callback with a status line sent one byte every ``every`` seconds; records
    how long each connection stayed open."""

    def __init__(self, every: float = 0.3) -> None:
        self.every = every
        self.held: list[float] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        opened = time.monotonic()
        with conn:
            conn.recv(65536)
            with contextlib.suppress(OSError):
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: " + b"a" * 1000:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.every)
                    if time.monotonic() - opened > 60:
                        break
        self.held.append(time.monotonic() - opened)

    def close(self) -> None:
        self.listener.close()


def test_a_callback_receiver_that_trickles_bytes_cannot_hold_an_attempt(server):
    """``callback_timeout_s`` (1 s here) bounds the whole attempt, not each read."""
    receiver = TricklingReceiver()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            accepted = client.post("/async/predict_tokens", json={"inputs": ["Maria"], "callback_url": receiver.url})
            assert accepted.status_code == 202, accepted.text
            job_id = accepted.json()["job_id"]
            assert wait_job(client, job_id)["status"] == "succeeded"
            deadline = time.monotonic() + 30
            while (doc := client.get(f"/jobs/{job_id}").json())["callback"]["status"] == "pending" \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
        assert doc["callback"]["status"] == "failed" and doc["callback"]["attempts"] == 1, doc["callback"]
        assert "callback_timeout_s" in doc["callback"]["last_error"]
        deadline = time.monotonic() + 10
        while not receiver.held and time.monotonic() < deadline:  # the receiver notices the close at its next byte
            time.sleep(0.1)
        assert receiver.held and receiver.held[0] <= 1.0 + SLACK_S, receiver.held
    finally:
        receiver.close()
