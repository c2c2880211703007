"""Prometheus metrics for the worker, served on ``/metrics`` (with ``/health`` and ``/ready``,
:mod:`pipeline.kafka.status`) when ``metrics_port`` is set.

One set per process (each ``--workers`` process serves its own port: base + index), created
lazily so importing the worker registers nothing and tests can build many workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, Gauge, Histogram

_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKENS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class WorkerMetrics:
    records_in: Counter
    records_out: Counter
    dead_lettered: Counter
    batch_size: Histogram
    batch_tokens: Histogram
    batch_latency: Histogram
    consumer_lag: Gauge
    paused: Gauge
    breaker_open: Gauge
    dead_letter_share: Gauge


@cache
def worker_metrics() -> WorkerMetrics:
    return WorkerMetrics(
        records_in=Counter("ner_kafka_records_in", "Records consumed from input topics.", ["topic"]),
        records_out=Counter("ner_kafka_records_out", "Output records acknowledged.", ["output"]),
        dead_lettered=Counter("ner_kafka_dead_lettered", "Records sent to the dead-letter topic.", ["error"]),
        batch_size=Histogram("ner_kafka_batch_size", "Documents per micro-batch.", buckets=_SIZES),
        batch_tokens=Histogram("ner_kafka_batch_tokens", "Content tokens per micro-batch.", buckets=_TOKENS),
        batch_latency=Histogram("ner_kafka_batch_latency_seconds",
                                "From inference start to committed outputs.", buckets=_SECONDS),
        consumer_lag=Gauge("ner_kafka_consumer_lag", "High watermark minus position.", ["topic", "partition"]),
        paused=Gauge("ner_kafka_paused_partitions", "Partitions paused because the queue is full."),
        breaker_open=Gauge("ner_kafka_dead_letter_breaker_open",
                           "1 when the dead-letter breaker has tripped (the worker stops), else 0."),
        dead_letter_share=Gauge("ner_kafka_dead_letter_share",
                                "Dead-lettered records among the breaker's window, over the window size."),
    )

