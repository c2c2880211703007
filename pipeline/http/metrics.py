"""Prometheus metrics of the HTTP server, in a registry per app (tests build many apps).

What an operator needs to tell "slow engine" from "overloaded queue" from "bad clients":
request latency by route and status, queue depth, requests and tokens merged per batch, engine
seconds per call, errors by type, callback deliveries by outcome.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pipeline.http.batcher import RoundStats
from pipeline.service import BatchStats

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5,
                    1.0, 2.5, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKEN_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "ner_http_request_duration_seconds", "End-to-end request latency in the server.",
            ["route", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.errors = Counter("ner_http_errors_total", "Error responses by type.", ["error_type"], registry=r)
        self.queue_depth = Gauge("ner_batch_queue_depth", "Requests waiting for the engine.", registry=r)
        self.batch_requests = Histogram("ner_batch_requests", "Requests merged into one batcher round.",
                                        buckets=_SIZE_BUCKETS, registry=r)
        self.batch_texts = Histogram("ner_batch_texts", "Work units (text windows) in one batcher round.",
                                     buckets=_SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("ner_batch_tokens", "Padded tokens in one batcher round.",
                                      buckets=_TOKEN_BUCKETS, registry=r)
        self.queue_wait = Histogram("ner_batch_queue_wait_seconds", "Longest wait in the queue per round.",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.dropped = Counter("ner_batch_dropped_total", "Requests dropped because their client went away.",
                               registry=r)
        self.engine_seconds = Histogram("ner_engine_seconds", "Seconds per engine call.", buckets=_LATENCY_BUCKETS,
                                        registry=r)
        self.engine_sequences = Histogram("ner_engine_batch_sequences", "Sequences per engine call.",
                                          buckets=_SIZE_BUCKETS, registry=r)
        self.engine_tokens = Histogram("ner_engine_batch_tokens", "Padded tokens per engine call.",
                                       buckets=_TOKEN_BUCKETS, registry=r)
        self.jobs = Counter("ner_jobs_total", "Async jobs by final status.", ["status"], registry=r)
        self.callbacks = Counter("ner_callbacks_total", "Callback attempts by outcome.", ["outcome"], registry=r)

    def on_round(self, stats: RoundStats) -> None:
        if stats.dropped:
            self.dropped.inc(stats.dropped)
        if not stats.requests:  # only drops to report: no engine call
            return
        self.batch_requests.observe(stats.requests)
        self.batch_texts.observe(stats.units)
        self.batch_tokens.observe(stats.tokens)
        self.queue_wait.observe(stats.queue_wait_s)

    def on_engine_batch(self, stats: BatchStats) -> None:
        self.engine_seconds.observe(stats.seconds)
        self.engine_sequences.observe(stats.sequences)
        self.engine_tokens.observe(stats.padded_tokens)

    def render(self, queue_depth: int) -> bytes:
        self.queue_depth.set(queue_depth)
        return generate_latest(self.registry)
