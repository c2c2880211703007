"""Test plumbing for the Kafka integration tests: produce, read back, run worker processes.

Brokers and topics come from ``tests/integration/conftest.py`` (``kafka_broker``,
``eos_broker``, ``topics``); this module never starts a broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline.devtools.brokers.admin import FAST_GROUP_CONFIG

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def json(self) -> dict:
        return json.loads(self.value)


def doc(doc_id: str, text: str) -> bytes:
    return json.dumps({"id": doc_id, "text": text}).encode()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None, list | None]],
            partition: int | None = None, config: dict | None = None) -> int:
    """``config``: extra producer settings (e.g. ``message.max.bytes`` for records over 1 MB)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10, "enable.idempotence": True,
                         **(config or {})})
    n = 0
    for key, value, headers in records:
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, value, key, headers=headers, **kwargs)
        n += 1
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "test producer could not deliver its records"
    return n


class TopicReader:
    """Reads every partition of one topic from the beginning, accumulating records."""

    def __init__(self, bootstrap: str, topic: str, *, read_committed: bool = False, config: dict | None = None) -> None:
        self.topic = topic
        self.consumer = Consumer({**(config or {}),
            "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted", **FAST_GROUP_CONFIG,
        })
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self.records: list[Rec] = []

    def poll(self, timeout: float = 0.2) -> int:
        for msg in self.consumer.consume(5000, timeout):
            if msg.error() is None:
                self.records.append(Rec(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),
                                        list(msg.headers() or [])))
        return len(self.records)

    def until(self, predicate: Callable[[list[Rec]], bool], timeout: float, what: str = "records") -> list[Rec]:
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} on {self.topic} "
                                     f"(have {len(self.records)})")
            self.poll()
        return self.records

    def at_least(self, n: int, timeout: float) -> list[Rec]:
        return self.until(lambda recs: len(recs) >= n, timeout, f"{n} records")

    def settle(self, quiet_s: float = 1.0) -> list[Rec]:
        """Keep reading until nothing new arrives for ``quiet_s``."""
        last, since = len(self.records), time.monotonic()
        while time.monotonic() - since < quiet_s:
            if self.poll() != last:
                last, since = len(self.records), time.monotonic()
        return self.records

    def close(self) -> None:
        self.consumer.close()


def worker_args(bootstrap: str, names, group: str, *extra: str) -> list[str]:
    return ["--bootstrap", bootstrap, "--input", names.input, "--group", group,
            "--entities-topic", names.entities, "--redacted-topic", names.redacted, "--dlq-topic", names.dlq,
            "--session-timeout-ms", "6000", "--threads", "1", "--metrics-port", "0", *extra]


class WorkerProcess:
    """``python -m pipeline.cli.main worker ...`` in a subprocess (killed on close); ``module``
    runs another launcher instead (the fault-injecting one of test_worker_errors.py)."""

    def __init__(self, args: list[str], log_path: Path, module: str = "pipeline.cli.main",
                 env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("NER_")}, **(env or {})}
        env["PYTHONUNBUFFERED"] = "1"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", module, "worker", *args], cwd=ROOT,
                                            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_assigned(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "kafka.assigned" not in self.log_text():
            assert self.process.poll() is None, f"worker exited early:\n{self.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no partitions in {timeout:.0f}s:\n{self.log_text()[-3000:]}"
            time.sleep(0.1)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"worker still running after {timeout:.0f}s:\n{self.log_text()[-3000:]}") from exc

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
