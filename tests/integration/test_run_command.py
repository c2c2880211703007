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


class _Run:
    """``ner-stage run ... --keep-running`` (or a launcher with the same CLI) in a subprocess,
    its stderr read on a thread until the "Ctrl-C stops" line says every part is up."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        self.running = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            for line in self.proc.stderr:
                self.stderr.append(line)
                if "Ctrl-C stops" in line:
                    self.running.set()
        except ValueError:  # sigterm()'s communicate() closed the pipe and read the rest itself
            pass

    @property
    def log(self) -> str:
        return "".join(self.stderr)

    def wait_running(self) -> None:
        assert self.running.wait(180), self.log

    def sigterm(self) -> str:
        """SIGTERM, then stdout once it exited (killed if it does not within 90 s)."""
        try:
            self.proc.send_signal(signal.SIGTERM)
            out, rest = self.proc.communicate(timeout=90)  # reads what the reader thread has not
            self.stderr.append(rest or "")
            return out
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.reader.join(5)


def test_run_prints_outputs_for_every_sample_then_keeps_running_until_sigterm(tmp_path):
    run = _Run([sys.executable, "-m", "pipeline.cli.main", "run", "--threads", "1", "--keep-running",
                "--log-dir", str(tmp_path), "--timeout", "120"])
    try:
        run.wait_running()
        assert run.proc.poll() is None  # still serving
    finally:
        out = run.sigterm()
    log = run.log
    assert run.proc.returncode == 0, log

    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_topic: dict[str, dict[str, dict]] = {}
    for rec in records:
        by_topic.setdefault(rec["topic"], {})[rec["key"]] = rec["record"]
    entities, redacted, dead = by_topic["entities"], by_topic["redacted"], by_topic["dead-letters"]
    assert set(entities) == set(redacted) and len(entities) == 6
    assert len(records) == 15  # one entity + one redacted record per document, one dead letter, the ticket's two

    # the user-shaped ticket, redacted in place: the same record, only its scanned strings rewritten
    from pipeline.devtools.cli.run_tickets import TICKET

    (ticket,) = by_topic["ner-stage-run-tickets-redacted"].values()
    assert list(ticket) == list(TICKET) and ticket["status"] == "open" and ticket["priority"] == 2
    scanned = json.dumps([ticket["subject"], ticket["body"], ticket["comments"]])
    assert "Maria" not in scanned and "maria.garcia@example.org" not in scanned and "555-0132" not in scanned
    assert ticket["customer"] == {"email": "*" * len(TICKET["customer"]["email"]), "tier": "gold"}
    (found,) = by_topic["ner-stage-run-tickets-entities"].values()
    assert found["id"] == "T-1042"
    assert {"subject", "body", "comments[0].text"} <= {e["field"] for e in found["entities"]}

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
    run = _Run([sys.executable, "-m", "tests.integration.kafka.faulty_worker", "run", "--threads", "1",
                "--no-serve", "--keep-running", "--log-dir", str(tmp_path), "--timeout", "120"])
    try:
        run.wait_running()
        log = run.log
        assert "part failed: the Kafka worker stopped (ProcessingError, exit status 2)" in log, log
        bootstrap = re.search(r"broker up on (\S+)", log).group(1)
        assert run.proc.poll() is None and not _port_closed(bootstrap)  # the broker is still up
    finally:
        out = run.sigterm()
    log = run.log
    assert run.proc.returncode == 2, log
    assert "failed part: the Kafka worker, ProcessingError" in log
    assert out.strip() == ""  # nothing was produced for the samples: the batch never committed
