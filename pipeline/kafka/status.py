"""What a worker is doing, visible without reading code: a progress line, ``/health`` and ``/ready``.

``WorkerStatus`` is fed by the worker loop (records in, outputs, dead letters, lag per partition,
each turn of the loop) and read by two things:

* a ``kafka.progress`` log line every ``progress_interval_s`` (records in, outputs, dead letters,
  documents per second since the last line, lag per partition), so an operator tailing the log
  sees the worker move, or not;
* the worker's HTTP port (``metrics_port``, worker i on port + i): ``/metrics`` (Prometheus),
  ``/health`` (200 while the loop has turned within ``health_stall_s``: a liveness probe) and
  ``/ready`` (200 while healthy and holding at least one partition: a worker without partitions,
  e.g. one more than there are partitions, is alive but idle). The server starts before the model
  loads, so a probe during start-up gets a 503 naming why, not a refused connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.errors import ConfigError

log = structlog.get_logger(__name__)


class WorkerStatus:
    """Counters and liveness of one worker; written by its loop thread, read by the HTTP thread
    (plain attribute reads and writes: a torn read is at worst one turn stale)."""

    def __init__(self, index: int = 0, *, progress_interval_s: float = 30.0, health_stall_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.index = index
        self.progress_interval_s = progress_interval_s
        self.health_stall_s = health_stall_s
        self.clock = clock
        self.records_in = 0
        self.outputs = 0
        self.dead_letters = 0
        self.assigned = 0
        self.lag: dict[tuple[str, int], int] = {}
        self.last_turn: float | None = None
        self._line_at = clock()
        self._line_records = 0

    # -- written by the loop --------------------------------------------------------------

    def turned(self) -> None:
        """One turn of the loop; writes the progress line when it is due."""
        now = self.clock()
        self.last_turn = now
        if self.progress_interval_s and now - self._line_at >= self.progress_interval_s:
            self.progress(now)

    def progress(self, now: float | None = None) -> dict:
        now = self.clock() if now is None else now
        elapsed = max(now - self._line_at, 1e-9)
        line = {"worker": self.index, "records_in": self.records_in, "outputs": self.outputs,
                "dead_letters": self.dead_letters,
                "docs_per_s": round((self.records_in - self._line_records) / elapsed, 2),
                "lag": {f"{topic}[{partition}]": lag for (topic, partition), lag in sorted(self.lag.items())}}
        self._line_at, self._line_records = now, self.records_in
        log.info("kafka.progress", **line)
        return line

    def released(self, parts) -> None:
        for part in parts:
            self.lag.pop(part, None)

    # -- read by the probes ---------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        if self.last_turn is None:
            return False, "starting"
        stalled = self.clock() - self.last_turn
        if stalled > self.health_stall_s:
            return False, f"stalled: the loop has not turned for {stalled:.0f}s"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        ok, why = self.health()
        if not ok:
            return ok, why
        if not self.assigned:
            return False, "no partitions assigned"
        return True, "ready"


class _Handler(BaseHTTPRequestHandler):
    status: WorkerStatus
    timeout = 10  # seconds a client may idle on its socket: a stuck prober holds no thread for long

    def do_GET(self) -> None:  # the stdlib handler calls it by this name
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path in ("/health", "/ready"):
            ok, why = (self.status.health if path == "/health" else self.status.readiness)()
            self._send(200 if ok else 503, json.dumps({"status": why}).encode(), "application/json")
        else:
            self._send(404, b'{"status": "not found: /metrics, /health, /ready"}', "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # probes come every few seconds: no access log
        return


def serve_status(port: int, status: WorkerStatus, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """``/metrics``, ``/health`` and ``/ready`` on ``port`` in a daemon thread."""
    handler = type("StatusHandler", (_Handler,), {"status": status})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(f"metrics_port {port} (--metrics-port, NER_METRICS_PORT): cannot listen ({exc.strerror}); "
                          "another worker on this host? --metrics-port 0 turns the port off") from exc
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"ner-status-{port}", daemon=True).start()
    log.info("kafka.status_port", worker=status.index, port=port, paths=["/metrics", "/health", "/ready"])
    return server
