"""``bench kafka --compression-type A,B,...``: the output codecs side by side.

Each codec gets its own end-to-end pass (``kafka.py``) on its own topics; this module holds what
is codec-specific: the per-codec stage settings, the bytes its outputs cost on the wire, and the
CPU each codec costs the producer on the stage's real output records.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import click


def parse_codecs(option: str | None, default: str) -> list[str]:
    from typing import get_args

    from pipeline.kafka.settings import CompressionType

    names = [c.strip() for c in (option or default).split(",") if c.strip()]
    unknown = sorted(set(names) - set(get_args(CompressionType)))
    if unknown or not names:
        raise click.BadParameter(f"unknown codec(s) {unknown}; choose from {', '.join(get_args(CompressionType))}",
                                 param_hint="--compression-type")
    return list(dict.fromkeys(names))


def codec_stage(stage, codec: str, run: str):
    """The stage settings for one codec's pass: that codec, its own topics and group."""
    kafka = stage.kafka.model_copy(update={
        "compression_type": codec, "input": [f"bench-in-{run}-{codec}"], "group": f"bench-{run}-{codec}",
        "entities_topic": f"bench-entities-{run}-{codec}", "redacted_topic": f"bench-redacted-{run}-{codec}",
        "dlq_topic": f"bench-dlq-{run}-{codec}"})
    return dataclasses.replace(stage, kafka=kafka)


def wire_bytes(bootstrap: str, topics: list[str], expected: int, timeout_s: float = 60.0) -> dict:
    """Bytes a fresh consumer receives to read ``topics`` from the start, and their records' sizes.

    ``brokers[].rxbytes`` in librdkafka's statistics counts what came over the socket: the record
    batches as the producer compressed them (brokers keep the producer's codec) plus framing.
    """
    import orjson
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from pipeline.kafka.errors import KafkaStageError

    stats: list[dict] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-bytes-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "statistics.interval.ms": 100, "stats_cb": lambda raw: stats.append(orjson.loads(raw))})
    try:
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                         for p in consumer.list_topics(t, timeout=10).topics[t].partitions])
        records = record_bytes = 0
        deadline = time.monotonic() + timeout_s
        while records < expected:
            if time.monotonic() > deadline:
                raise KafkaStageError(f"read back {records} of {expected} output records in {timeout_s:.0f}s")
            for msg in consumer.consume(1000, 0.2):
                if not msg.error():
                    records += 1
                    record_bytes += len(msg.value() or b"") + len(msg.key() or b"")
        stats.clear()
        while not stats:  # one statistics event after the last record arrived
            consumer.poll(0.05)
        wire = sum(b["rxbytes"] for b in stats[-1]["brokers"].values() if b.get("nodeid", -1) >= 0)
    finally:
        consumer.close()
    return {"records": records, "record_bytes": record_bytes, "wire_bytes": wire,
            "wire_vs_record_bytes": wire / record_bytes if record_bytes else None}


def codec_cpu(bootstrap: str, values: list[bytes], codecs: list[str], run: str) -> dict:
    """CPU seconds this process spends producing the stage's real output records with each codec.

    Same records, same producer settings as the worker's (idempotent, acks=all, linger.ms=5), no
    inference: the difference to ``none`` is the codec's own cost, in CPU time (librdkafka's
    threads included), so other load on the machine barely moves it.
    """
    from confluent_kafka import Producer

    from pipeline.devtools.brokers.admin import create_topics
    from pipeline.kafka.errors import DeliveryError

    values = values * max(1, 20_000 // max(1, len(values)))  # enough work for CPU time to rise above noise
    out: dict = {}
    for codec in codecs:
        topic = f"bench-codec-{run}-{codec}"
        create_topics(bootstrap, [topic])
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "compression.type": codec})
        cpu, wall = time.process_time(), time.perf_counter()
        for value in values:
            while True:
                try:
                    producer.produce(topic, value=value)
                    break
                except BufferError:
                    producer.poll(0.01)
        if producer.flush(60):
            raise DeliveryError(f"codec pass {codec}: records were not acknowledged")
        out[codec] = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    base = out.get("none", {}).get("cpu_s")
    for row in out.values():
        row["cpu_us_per_record"] = 1e6 * row["cpu_s"] / len(values)
        if base is not None:
            row["codec_cpu_us_per_record"] = 1e6 * (row["cpu_s"] - base) / len(values)
    return {"records": len(values), "bytes": sum(map(len, values)), "codecs": out}


def print_codecs(result: dict) -> None:
    codecs = result.get("compression", {})
    if len(codecs) < 2:
        return
    click.echo("  output codec   docs/s   wire bytes   record bytes   wire/record")
    for codec, row in codecs.items():
        click.echo(f"  {codec:<12} {row['docs_per_s']:8.1f} {row['wire_bytes']:12d} {row['record_bytes']:14d} "
                   f"{row['wire_vs_record_bytes']:13.3f}")
    cpu = result.get("codec_cpu", {})
    for codec, row in cpu.get("codecs", {}).items():
        click.echo(f"  producing {cpu['records']} output records with {codec:<6}: {row['cpu_s']:.3f} CPU s "
                   f"({row.get('codec_cpu_us_per_record', 0):+.1f} us/record vs none)")
