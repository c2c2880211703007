"""A real ``ner-stage worker`` on a real broker tells what it does: ``/health`` and ``/ready`` on
its metrics port (503 naming why while it starts, 200 once it consumes) and a ``kafka.progress``
line counting what it processed."""

from __future__ import annotations

import time

import httpx
import pytest

from pipeline.devtools.processes import free_port
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration


def test_health_ready_and_progress_of_a_running_worker(kafka_broker, topics, worker_process):
    names = topics("input", "entities", "redacted", "dlq")
    port = free_port()
    worker = worker_process(worker_args(kafka_broker.bootstrap, names, "g-status", "--metrics-port", str(port),
                                        "--progress-interval-s", "0.5"))
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + 90
    while not seen or seen[-1][0] != 200:
        assert time.monotonic() < deadline and worker.process.poll() is None, (seen[-3:], worker.log_text()[-2000:])
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
            seen.append((response.status_code, response.json()["status"]))
        except httpx.TransportError:  # not listening yet
            pass
        time.sleep(0.05)
    assert seen[0] == (503, "starting"), seen[:3]  # the port is up before the model and the group are
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json() == {"status": "ok"}
    assert "ner_kafka_records_in" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text

    produce(kafka_broker.bootstrap, names.input, [(b"k1", doc("d1", "Mail ann@example.com"), []),
                                                   (b"k2", b"\xff not utf-8", [])])
    entities, dlq = TopicReader(kafka_broker.bootstrap, names.entities), TopicReader(kafka_broker.bootstrap, names.dlq)
    entities.at_least(1, timeout=60)
    dlq.at_least(1, timeout=60)
    entities.close()
    dlq.close()
    deadline = time.monotonic() + 30
    while '"records_in": 2' not in worker.log_text() and "records_in=2" not in worker.log_text():
        assert time.monotonic() < deadline, worker.log_text()[-2000:]
        time.sleep(0.2)
    line = next(x for x in reversed(worker.log_text().splitlines()) if "kafka.progress" in x)
    for part in ("dead_letters", "docs_per_s", f"{names.input}[0]"):
        assert part in line, line
    assert worker.terminate() == 0
