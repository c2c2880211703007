"""Real servers on free loopback ports for the HTTP tests.

``live_server`` runs the real app on uvicorn configured as ``ner-stage serve`` configures it
(:func:`pipeline.http.server.uvicorn_config`: uvloop, the guarded httptools protocol) in a
thread of the test process, sharing the session's rampart ``NerService``, bound to a
socket we opened on port 0 (no port races). ``CallbackReceiver`` is a real HTTP server on
loopback that records what it receives and answers with a scripted sequence of statuses.
Everything started here is stopped in fixture teardown.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn

from pipeline.http.app import create_app
from pipeline.http.server import uvicorn_config
from pipeline.http.settings import HttpSettings
from tests.integration.pg import postgres_dsn, postgres_server  # noqa: F401 - fixtures for the job-store tests

SECRET = "integration-test-secret"


class LiveServer:
    """The app on a real uvicorn server in a background thread."""

    def __init__(self, app, settings: HttpSettings | None = None) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, settings or HttpSettings(), loop="uvloop", log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kw)


def start_server(service, tmp: Path, **settings) -> LiveServer:
    defaults = {"jobs_db": tmp / "jobs.sqlite3", "callback_secret": SECRET, "callback_backoff_s": 0.05,
                "callback_backoff_max_s": 0.2, "callback_timeout_s": 5.0}
    http_settings = HttpSettings.load(**{**defaults, **settings})
    return LiveServer(create_app(http_settings, service=service), http_settings)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self):
        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    """A loopback HTTP server recording callbacks; ``script`` is the status of each answer in
    turn (the last one repeats)."""

    script: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                n = len(receiver.received)
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                                  time.monotonic()))
                status = receiver.script[min(n, len(receiver.script) - 1)]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"got {len(self.received)} callbacks, expected {count}"
        return self.received

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def live_server(rampart_service, tmp_path_factory) -> Iterator[LiveServer]:
    """Callbacks allowed to loopback (where the test receivers live)."""
    with start_server(rampart_service, tmp_path_factory.mktemp("http"), callback_allow_list=["127.0.0.1"]) as srv:
        yield srv


@pytest.fixture()
def receiver() -> Iterator[CallbackReceiver]:
    rec = CallbackReceiver()
    yield rec
    rec.close()


@contextlib.contextmanager
def receiving(script: list[int]) -> Iterator[CallbackReceiver]:
    rec = CallbackReceiver(script=script)
    try:
        yield rec
    finally:
        rec.close()


def wait_job(client: httpx.Client, job_id: str, *, until=("succeeded", "failed", "cancelled"),
             timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = client.get(f"/jobs/{job_id}").json()
        if doc["status"] in until or time.monotonic() > deadline:
            return doc
        time.sleep(0.02)
