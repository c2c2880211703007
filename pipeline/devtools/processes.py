"""Child processes of the workbench (brokers, the Schema Registry, ``ner-stage run``'s server):
a free loopback port, a child that dies with its parent, and a stop that escalates to SIGKILL."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys

import structlog

log = structlog.get_logger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the broker binds it next; start retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to this child when the process that started it dies (a ``preexec_fn``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def terminate_process(process: subprocess.Popen, timeout_s: float, kill_event: str, **fields) -> int | None:
    """SIGTERM ``process`` (a broker shuts down cleanly on it), SIGKILL it after ``timeout_s``
    (logged as ``kill_event``, since a broker that ignores SIGTERM is worth knowing about);
    returns its exit code. Idempotent."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning(kill_event, pid=process.pid, **fields)
            process.kill()
            process.wait(timeout_s)
    return process.returncode
