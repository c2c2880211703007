"""The error policy on a real broker: poison records never stop the worker, our own bugs never
drain the stream into the dead-letter topic, and a stream turning into poison trips the breaker.

Written for any broker of the fixtures (Tansu/noida-db today, Apache Kafka): topic limits are
set explicitly where a test needs them, and exactly-once runs on ``eos_broker``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.devtools.brokers.admin import FAST_GROUP_CONFIG
from pipeline.kafka.dead_letters import read_error_headers
from tests.integration.conftest import TopicNames
from tests.integration.kafka.kafka_io import TopicReader, doc, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("entities", "redacted", "dlq")
GOOD = ["Call Maria Garcia tomorrow.", "Email wei.chen@example.org now.", "Nothing personal here.",
        "John Smith called from Berlin.", "Meet Aisha Okafor at noon.", "The invoice is attached."]
BIG_LIMITS = {"message.max.bytes": "6000000"}  # the test producer may write a 5 MB record


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **FAST_GROUP_CONFIG})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return tp.offset
    finally:
        consumer.close()


def test_oversize_and_deeply_nested_records_are_dead_lettered_and_the_worker_goes_on_exactly_once(
        eos_broker, topics, in_process_worker):
    bootstrap = eos_broker.bootstrap
    names = TopicNames({**topics("input", broker=eos_broker, config={"max.message.bytes": "6000000"}),
                        **topics(*ROLES, broker=eos_broker)})
    big = json.dumps({"id": "big", "text": "a" * 1_010_000}).encode()
    huge = json.dumps({"id": "huge", "text": "b" * 5_000_000}).encode()
    deep = b'{"id": "deep", "text": "x", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(big) == 1_010_025 and len(huge) > 5_000_000
    poison = {b"big": big, b"huge": huge, b"deep": deep}
    records, goods = [], []
    for i, text in enumerate(GOOD * 2):  # good documents around each poison record
        records.append((f"g{i}".encode(), doc(f"g{i}", text), [("trace", b"t"), ("ner.error.class", b"planted")]))
        goods.append(f"g{i}")
        if i in (2, 5, 8):
            key = list(poison)[(i - 2) // 3]
            records.append((key, poison[key], [("trace", b"p")]))
    produce(bootstrap, names.input, records, partition=0, config=BIG_LIMITS)
    worker = in_process_worker(bootstrap, names, delivery="exactly_once", batch_max_records=4,
                               batch_max_wait_ms=100)

    dlq = TopicReader(bootstrap, names.dlq, read_committed=True)
    entities = TopicReader(bootstrap, names.entities, read_committed=True)
    redacted = TopicReader(bootstrap, names.redacted, read_committed=True)
    letters = {r.key: r for r in dlq.at_least(3, timeout=180)}
    assert set(letters) == set(poison)
    for key, original in ((b"big", big), (b"huge", huge)):  # too large for the dead-letter topic: a prefix
        letter, errors = letters[key], read_error_headers(letters[key].headers)
        assert errors["ner.error.class"] == "TextTooLongError"
        assert errors["ner.original.truncated"] == "true"
        assert errors["ner.original.size"] == str(len(original))
        assert errors["ner.original.sha256"] == hashlib.sha256(original).hexdigest()
        assert original.startswith(letter.value) and len(letter.value) > 900_000
        assert ("trace", b"p") in letter.headers
    deep_errors = read_error_headers(letters[b"deep"].headers)
    assert deep_errors["ner.error.class"] == "MalformedRecordError"
    assert letters[b"deep"].value == deep and "ner.original.truncated" not in deep_errors  # fits: original bytes

    produce(bootstrap, names.input, [(b"after", doc("after", "Later, Maria Garcia wrote."), None)], partition=0)
    goods.append("after")  # the worker is still running and committing after the poison
    entities.until(lambda recs: {r.json()["id"] for r in recs} >= set(goods), timeout=120, what="every document")
    redacted.until(lambda recs: {r.json()["id"] for r in recs} >= set(goods), timeout=60, what="every redaction")
    for reader in (entities, redacted):
        recs = reader.settle(1.5)
        assert Counter(r.json()["id"] for r in recs) == Counter(goods)  # exactly once each
        planted = [r for r in recs if r.key != b"after"]
        assert all(r.headers == [("trace", b"t")] for r in planted)  # incoming ner.* headers dropped
    assert len(dlq.settle(0.5)) == 3
    assert worker.batches > 0 and not worker.stop.is_set()
    for reader in (dlq, entities, redacted):
        reader.close()


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_a_bug_in_our_code_stops_the_worker_commits_nothing_and_a_restart_delivers_everything(
        mode, request, topics, worker_process):
    broker = request.getfixturevalue("eos_broker" if mode == "exactly_once" else "kafka_broker")
    bootstrap = broker.bootstrap
    names = topics("input", *ROLES, broker=broker)
    n = 24
    produce(bootstrap, names.input, [(f"k{i}".encode(), doc(f"d{i}", GOOD[i % len(GOOD)]), None)
                                     for i in range(n)], partition=0)
    group = f"fault-{uuid.uuid4().hex[:8]}"
    extra = ["--batch-max-records", "8"]
    if mode == "exactly_once":
        extra += ["--exactly-once", "--group-instance-id", f"fault-{uuid.uuid4().hex[:6]}"]
    args = worker_args(bootstrap, names, group, *extra)

    faulty = worker_process(args, module="tests.integration.kafka.faulty_worker")
    status = faulty.wait_exit(180)
    log = faulty.log_text()
    assert status == 2, log[-3000:]
    line = next(ln for ln in log.splitlines() if "kafka.worker_failed" in ln)
    assert "error=ProcessingError" in line and "cause=RuntimeError" in line and "exit_status=2" in line, line
    assert "Maria" not in log and "injected fault" not in line  # the foreign message stays out of the line
    assert _committed(bootstrap, group, names.input) < 0  # nothing committed
    for topic in (names.dlq, names.entities, names.redacted):
        reader = TopicReader(bootstrap, topic, read_committed=True)
        assert reader.settle(1.0) == [], f"{topic} is not empty"
        reader.close()

    healthy = worker_process(args)
    entities = TopicReader(bootstrap, names.entities, read_committed=True)
    redacted = TopicReader(bootstrap, names.redacted, read_committed=True)
    want = {f"d{i}" for i in range(n)}
    entities.until(lambda recs: {r.json()["id"] for r in recs} >= want, timeout=180, what="every document")
    redacted.until(lambda recs: {r.json()["id"] for r in recs} >= want, timeout=60, what="every redaction")
    assert healthy.terminate() == 0, healthy.log_text()[-2000:]
    for reader in (entities, redacted):
        counts = Counter(r.json()["id"] for r in reader.settle(1.0))
        assert set(counts) == want  # at-least-once: nothing missing
        if mode == "exactly_once":
            assert counts == Counter(want)
        reader.close()


def test_a_stream_of_mostly_poison_trips_the_breaker_after_dead_lettering_what_came_before(
        kafka_broker, topics, worker_process):
    bootstrap = kafka_broker.bootstrap
    names = topics("input", *ROLES)
    records = []
    for i in range(60):  # 80 % poison: every fifth record is a good document
        if i % 5 == 0:
            records.append((f"r{i}".encode(), doc(f"r{i}", GOOD[i % len(GOOD)]), None))
        else:
            records.append((f"r{i}".encode(), b"not json %d" % i if i % 2 else b'{"id": 7}', None))
    produce(bootstrap, names.input, records, partition=0)
    group = f"breaker-{uuid.uuid4().hex[:8]}"
    proc = worker_process(worker_args(bootstrap, names, group, "--dead-letter-window", "20",
                                      "--dead-letter-max-share", "0.5", "--batch-max-records", "64"))
    status = proc.wait_exit(180)
    log = proc.log_text()
    assert status == 3, log[-3000:]
    assert re.search(r"kafka\.worker_failed .*error=DeadLetterBreakerError", log), log[-3000:]
    trip = int(re.search(r"kafka\.dead_letter_breaker_tripped .*offset=(\d+)", log).group(1))
    # with a window of 20 and a 50 % limit, the 11th dead letter trips it: record 13
    assert trip == 13
    assert _committed(bootstrap, group, names.input) == trip  # everything before the trip, nothing after
    dlq = TopicReader(bootstrap, names.dlq)
    letters = dlq.settle(1.5)
    poison_before = [(k, v) for off, (k, v, _) in enumerate(records[:trip]) if off % 5]
    assert [(r.key, r.value) for r in letters] == poison_before  # original bytes, in order
    classes = {read_error_headers(r.headers)["ner.error.class"] for r in letters}
    assert classes == {"MalformedRecordError", "MissingTextError"}
    entities = TopicReader(bootstrap, names.entities)
    assert sorted(r.json()["id"] for r in entities.settle(1.0)) == ["r0", "r10", "r5"]
    dlq.close()
    entities.close()
