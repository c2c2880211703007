"""Kafka-worker fixtures: an in-process worker on the session's model, and subprocess workers."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest

from pipeline.config import DecodeSettings, ModelSettings
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.supervisor import StageSettings, build_worker
from pipeline.redact import RedactSettings
from tests.integration.kafka.kafka_io import WorkerProcess


@pytest.fixture
def in_process_worker(rampart_service):
    """``start(bootstrap, names, **settings)`` runs a worker thread on the session model; it is
    stopped (drained) when the test ends, and its own errors fail the test."""
    running: list[tuple[threading.Event, threading.Thread, list]] = []

    def start(bootstrap: str, names, **overrides):
        settings = KafkaSettings(bootstrap=bootstrap, input=[names.input], group=f"g-{uuid.uuid4().hex[:8]}",
                                 entities_topic=names.entities, redacted_topic=names.redacted, dlq_topic=names.dlq,
                                 session_timeout_ms=6000, **overrides)
        stage = StageSettings(settings, ModelSettings(threads=1), DecodeSettings(), RedactSettings())
        stop = threading.Event()
        worker = build_worker(stage, stop=stop, service=rampart_service)
        errors: list[BaseException] = []

        def target() -> None:
            try:
                worker.run()
            except BaseException as exc:  # surfaced by the fixture
                errors.append(exc)

        thread = threading.Thread(target=target, name="kafka-worker", daemon=True)
        thread.start()
        running.append((stop, thread, errors))
        return worker

    yield start
    for stop, thread, errors in running:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "worker did not stop within 60s"
        if errors:
            raise errors[0]


@pytest.fixture
def worker_process(tmp_path):
    """``start(args)`` runs ``ner-stage worker`` in a subprocess; every one is killed at teardown."""
    started: list[WorkerProcess] = []

    def start(args: list[str], module: str = "pipeline.cli.main", env: dict[str, str] | None = None) -> WorkerProcess:
        proc = WorkerProcess(args, tmp_path / f"worker-{len(started)}.log", module, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(Exception):
            proc.close()
