"""The embedded brokers and the broker fixtures work: real round trips, clean stop."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer

from pipeline.devtools.brokers import admin, embedded

pytestmark = pytest.mark.integration


def _round_trip(bootstrap: str, topic: str, count: int = 20, producer_extra: dict | None = None,
                consumer_extra: dict | None = None) -> list[tuple[bytes, bytes]]:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "compression.type": "lz4", **(producer_extra or {})})
    sent = [(f"k{i}".encode(), f"value {i} é".encode()) for i in range(count)]
    for key, value in sent:
        producer.produce(topic, key=key, value=value, headers=[("h", key)])
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rt-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, **admin.FAST_GROUP_CONFIG, **(consumer_extra or {})})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            assert msg.headers() == [("h", msg.key())]
            got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got


def test_kafka_broker_fixture_round_trip_keeps_keys_values_and_partition_order(kafka_broker, topics):
    names = topics("data", partitions=3)
    got = _round_trip(kafka_broker.bootstrap, names.data)
    assert sorted(got) == sorted((f"k{i}".encode(), f"value {i} é".encode()) for i in range(20))
    # one key always lands on one partition, and a partition is read in order
    by_key = {}
    for key, value in got:
        by_key.setdefault(key, []).append(value)
    assert all(len(v) == 1 for v in by_key.values())


def test_eos_broker_hides_aborted_transactions_from_read_committed(eos_broker, topics):
    assert eos_broker.transactions
    names = topics("tx", broker=eos_broker)
    producer = Producer({"bootstrap.servers": eos_broker.bootstrap, "transactional.id": f"tx-{names.tx}"})
    producer.init_transactions(20)
    producer.begin_transaction()
    producer.produce(names.tx, key=b"a", value=b"aborted")
    producer.abort_transaction(20)
    producer.begin_transaction()
    producer.produce(names.tx, key=b"c", value=b"committed")
    producer.commit_transaction(20)
    consumer = Consumer({"bootstrap.servers": eos_broker.bootstrap, "group.id": f"rc-{names.tx}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         **admin.FAST_GROUP_CONFIG})
    consumer.subscribe([names.tx])
    values = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and b"committed" not in values:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                values.append(msg.value())
        # a little longer: an aborted record would have arrived before the committed one
        end = time.monotonic() + 1
        while time.monotonic() < end:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                values.append(msg.value())
    finally:
        consumer.close()
    assert values == [b"committed"]


def test_start_and_stop_a_tansu_broker(tmp_path):
    broker = embedded.start_broker("tansu", log_dir=tmp_path)
    try:
        assert broker.running and broker.bootstrap.startswith("127.0.0.1:")
        broker.create_topics(["made-here"], partitions=2)
        metadata = admin.admin_client(broker.bootstrap).list_topics(timeout=5)
        assert len(metadata.topics["made-here"].partitions) == 2
        assert len(_round_trip(broker.bootstrap, "made-here", count=5)) == 5
        assert broker.log_path.is_file() and broker.log_path.parent == tmp_path
        broker.delete_topics(["made-here"])
        assert "made-here" not in admin.admin_client(broker.bootstrap).list_topics(timeout=5).topics
    finally:
        broker.stop()
    assert not broker.running
    assert broker.stop() is not None  # idempotent
    with pytest.raises(admin.LocalBrokerError):
        admin.wait_until_ready(broker.bootstrap, timeout_s=1)


def test_the_broker_fixtures_are_apache_kafka_wherever_it_can_run(kafka_broker, eos_broker):
    """No silent fallback: with Java and Maven (always so under CI=true) both fixtures are Apache Kafka."""
    from pipeline.config import running_in_ci
    from pipeline.devtools.brokers.apache import ApacheKafkaUnavailableError, apache_available

    try:
        apache_available()
        expected = True
    except ApacheKafkaUnavailableError:
        expected = running_in_ci()
    if expected:
        assert kafka_broker.kind in ("apache", "external") and eos_broker.kind in ("apache", "external")
        assert kafka_broker.bootstrap == eos_broker.bootstrap and eos_broker.transactions
