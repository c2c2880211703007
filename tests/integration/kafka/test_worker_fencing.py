"""Exactly-once transactional ids on Apache Kafka (``txn_slots.py``).

Two ``worker --exactly-once`` processes on one host used to get the same default id (prefix,
host name, worker index) and fence each other in turn. Now each live process claims its own
slot: both run side by side, fencing nobody. A process that cannot see those claims (another
container with the same host name: here, another ``TMPDIR``) takes slot 0 and fences its holder,
as a restarted worker fences its zombie: the fenced worker exits 2 with one line naming the id.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from pipeline.devtools.bench.common import sample_texts
from tests.integration.conftest import require_apache
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")


def _txn_id(worker) -> str:
    match = re.search(r"kafka\.worker_started .*transactional_id=(\S+)", worker.log_text())
    assert match, worker.log_text()[-2000:]
    return match.group(1)


def test_two_workers_on_one_host_do_not_fence_each_other_and_a_fenced_one_exits_2(
        eos_broker, topics, worker_process, tmp_path):
    require_apache(eos_broker)
    names = topics(*ROLES, broker=eos_broker, partitions=3)
    bootstrap = eos_broker.bootstrap
    args = worker_args(bootstrap, names, f"fence-{uuid.uuid4().hex[:8]}", "--exactly-once", "--batch-max-records", "4",
                       "--metrics-port", "0")
    texts = sample_texts(60, 4, 10, seed=5)
    first = worker_process(args)
    first.wait_assigned()
    second = worker_process(args)
    second.wait_assigned()
    assert _txn_id(first) != _txn_id(second)  # same host, same group, same worker index
    assert _txn_id(second) == f"{_txn_id(first)}.1"

    entities = TopicReader(bootstrap, names.entities, read_committed=True)
    try:
        produce(bootstrap, names.input, [(f"k{i}".encode(), doc(f"d{i}", texts[i]), None) for i in range(30)])
        entities.until(lambda recs: {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(30)},
                       timeout=180, what="30 documents from two live workers")
        for worker in (first, second):
            assert worker.process.poll() is None, worker.log_text()[-3000:]
            assert "FencedError" not in worker.log_text()

        # a worker that does not see these slots (another container, same host name) takes slot 0
        other_tmp = tmp_path / "other-host-tmp"
        other_tmp.mkdir()
        third = worker_process(args, env={"TMPDIR": str(other_tmp)})
        third.wait_assigned()
        assert _txn_id(third) == _txn_id(first)
        deadline = time.monotonic() + 120
        i = 30
        while first.process.poll() is None and time.monotonic() < deadline:  # work for every partition
            produce(bootstrap, names.input, [(f"k{j}".encode(), doc(f"d{j}", texts[j % 60]), None)
                                             for j in range(i, i + 6)])
            i += 6
            time.sleep(1.0)
        assert first.wait_exit(30) == 2, first.log_text()[-3000:]
    finally:
        entities.close()
    failed = [line for line in first.log_text().splitlines() if "kafka.worker_failed" in line]
    assert len(failed) == 1, first.log_text()[-3000:]
    assert "error=FencedError" in failed[0]
    assert f"transactional.id {_txn_id(first)} " in failed[0]
    assert second.process.poll() is None and "FencedError" not in second.log_text()
