"""Crash safety with real worker processes: SIGKILL mid-stream, restart, nothing lost.

At-least-once on the default broker: every input gets its outputs, and the only duplicates
are one batch that was produced but not committed when the worker died. Exactly-once on a
broker that honours transactions (noida-db or Apache Kafka): a read_committed consumer sees
every document exactly once, even across the kill.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

import pytest

from pipeline.devtools.bench.common import sample_texts
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
BATCH = 16
# static membership: the restarted worker takes the killed one's partitions back at once (noida-db,
# unlike Kafka, never expires a member that died without leaving the group)
_EOS_ARGS = ["--exactly-once", "--group-instance-id", "crash-test"]


def _kill_mid_stream_then_finish(bootstrap, names, worker_process, extra: list[str], n: int,
                                 read_committed: bool) -> tuple[list, list]:
    produce(bootstrap, names.input, [(f"k{i}".encode(), doc(f"d{i}", t), None)
                                     for i, t in enumerate(sample_texts(n, 3, 8, seed=21))])
    group = f"crash-{uuid.uuid4().hex[:8]}"
    args = worker_args(bootstrap, names, group, "--batch-max-records", str(BATCH), *extra)
    entities = TopicReader(bootstrap, names.entities, read_committed=read_committed)
    redacted = TopicReader(bootstrap, names.redacted, read_committed=read_committed)

    first = worker_process(args)
    first.wait_assigned()
    entities.at_least(n // 4, timeout=90)
    first.kill()  # SIGKILL: no drain, no commit, maybe an open transaction
    assert len(entities.settle(0.5)) < n, "the worker finished before it could be killed mid-stream"

    second = worker_process(args)
    entities.until(lambda recs: {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(n)}, timeout=120,
                   what="every document")
    redacted.until(lambda recs: {r.json()["id"] for r in recs} >= {f"d{i}" for i in range(n)}, timeout=30,
                   what="every redacted document")
    assert second.terminate() == 0, second.log_text()[-2000:]
    ents, reds = entities.settle(1.0), redacted.settle(0.3)
    entities.close()
    redacted.close()
    return ents, reds


def test_sigkill_mid_stream_and_restart_loses_nothing_and_duplicates_only_the_uncommitted_batch(
        kafka_broker, topics, worker_process):
    names = topics(*ROLES, partitions=2)
    n = 400
    ents, reds = _kill_mid_stream_then_finish(kafka_broker.bootstrap, names, worker_process, [], n,
                                              read_committed=False)
    for recs in (ents, reds):
        counts = Counter(r.json()["id"] for r in recs)
        assert set(counts) == {f"d{i}" for i in range(n)}
        duplicated = [doc_id for doc_id, c in counts.items() if c > 1]
        assert all(counts[d] == 2 for d in duplicated)
        assert len(duplicated) <= BATCH, f"{len(duplicated)} duplicates: more than one uncommitted batch"
    # the duplicates are one batch: a contiguous run of offsets in each input partition
    runs: dict[int, list[int]] = defaultdict(list)
    counts = Counter(r.json()["id"] for r in ents)
    for rec in ents:
        body = rec.json()
        if counts[body["id"]] > 1:
            runs[body["source"]["partition"]].append(body["source"]["offset"])
    for offsets in runs.values():
        unique = sorted(set(offsets))
        assert unique == list(range(unique[0], unique[0] + len(unique)))


def test_exactly_once_read_committed_sees_each_document_once_across_a_sigkill(eos_broker, topics, worker_process):
    names = topics(*ROLES, broker=eos_broker, partitions=2)
    n = 300
    ents, reds = _kill_mid_stream_then_finish(eos_broker.bootstrap, names, worker_process, _EOS_ARGS, n,
                                              read_committed=True)
    assert Counter(r.json()["id"] for r in ents) == Counter(f"d{i}" for i in range(n))
    assert Counter(r.json()["id"] for r in reds) == Counter(f"d{i}" for i in range(n))
