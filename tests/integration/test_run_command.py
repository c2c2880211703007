"""``ner-stage run`` (the README's main command) end to end: local broker, worker, server, producer."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.integration


def _port_closed(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) != 0


def test_run_prints_outputs_for_every_sample_then_keeps_running_until_sigterm(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "run", "--threads", "1", "--keep-running",
         "--log-dir", str(tmp_path), "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stderr: list[str] = []
    running = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            stderr.append(line)
            if "Ctrl-C stops" in line:
                running.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert running.wait(180), "".join(stderr)
        assert proc.poll() is None  # still serving
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    log = "".join(stderr)
    assert proc.returncode == 0, log

    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_topic: dict[str, dict[str, dict]] = {}
    for rec in records:
        by_topic.setdefault(rec["topic"], {})[rec["key"]] = rec["record"]
    entities, redacted, dead = by_topic["entities"], by_topic["redacted"], by_topic["dead-letters"]
    assert set(entities) == set(redacted) and len(entities) == 6
    assert len(records) == 13  # one entity + one redacted record per document, one dead letter

    first = next(r for k, r in entities.items() if k.endswith("-1"))
    emails = [e for e in first["entities"] if e["label"] == "EMAIL"]
    assert [(e["start"], e["end"], e["text"]) for e in emails] == [(38, 60, "john.smith@example.com")]
    assert "john.smith@example.com" not in redacted[next(k for k in redacted if k.endswith("-1"))]["text"]
    for record in redacted.values():
        assert "text" not in record["entities"][0] if record["entities"] else True
    (letter,) = dead.values()
    assert letter["dead_letter"]["ner.error.class"] == "MissingTextError"

    assert re.search(r"/predict_tokens -> 200; spans: .*john\.smith@example\.com=EMAIL", log), log
    bootstrap = re.search(r"broker up on (\S+)", log).group(1)
    deadline = time.monotonic() + 10
    while not _port_closed(bootstrap) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _port_closed(bootstrap), "the embedded broker outlived `ner-stage run`"


def test_a_failing_worker_leaves_the_broker_up_and_run_names_the_part(tmp_path):
    """The worker's redactor raises for every document (the test-only launcher of
    tests/integration/kafka/faulty_worker.py): the worker stops, the broker stays up until
    SIGTERM, and the command says which part failed and exits with the worker's status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.kafka.faulty_worker", "run", "--threads", "1", "--no-serve",
         "--keep-running", "--log-dir", str(tmp_path), "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stderr: list[str] = []
    running = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            stderr.append(line)
            if "Ctrl-C stops" in line:
                running.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert running.wait(180), "".join(stderr)
        log = "".join(stderr)
        assert "part failed: the Kafka worker stopped (ProcessingError, exit status 2)" in log, log
        bootstrap = re.search(r"broker up on (\S+)", log).group(1)
        assert proc.poll() is None and not _port_closed(bootstrap)  # the broker is still up
        proc.send_signal(signal.SIGTERM)
        out, rest = proc.communicate(timeout=90)  # reads what the reader thread has not
        stderr.append(rest or "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    log = "".join(stderr)
    assert proc.returncode == 2, log
    assert "failed part: the Kafka worker, ProcessingError" in log
    assert out.strip() == ""  # nothing was produced for the samples: the batch never committed
