"""HTTP server settings (``ner-stage serve``): flags > ``NER_*`` env > config file > defaults.

Limits default to values that keep one request's latency bounded on a small CPU box; every
limit is reported back in the 4xx body that enforces it, so clients can adapt without docs.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, field_validator

from pipeline.config import NerSettings


class HttpSettings(NerSettings):
    """Server, batching, limits, auth and async-job settings."""

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 for all).")
    port: int = Field(8080, ge=0, le=65535, description="TCP port to listen on.")
    # dynamic batching
    batch_max_wait_ms: float = Field(
        1.0, ge=0.0, le=1000.0,
        description="Longest a request waits for others to share an engine call, when requests are arriving "
                    "concurrently (a lone request never waits).",
    )
    batch_max_tokens: int | None = Field(
        None, ge=16, description="Padded-token budget of one merged batch (default: the model's max_batch_tokens)."
    )
    inline_max_chars: int = Field(
        2000, ge=0,
        description="A request of at most this many characters that arrives while the engine is idle and nothing "
                    "is queued runs on the event-loop thread, skipping two thread hand-offs (0 disables).",
    )
    request_max_engine_s: float | None = Field(
        60.0, gt=0,
        description="Engine seconds one request may use; past it the request stops at its next work unit and "
                    "answers 413 too_expensive instead of holding the engine (unset: no limit).",
    )
    max_queue_requests: int = Field(
        1024, ge=1, description="Requests waiting for the engine before new ones get 429 Retry-After."
    )
    # limits
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest accepted request body (413).")
    max_inputs: int = Field(256, ge=1, description="Most texts per request (413).")
    max_text_chars: int = Field(100_000, ge=1, description="Most characters per text (413).")
    # connections: slow or oversized clients get 408/431 and the connection closes
    header_timeout_s: float = Field(
        10.0, gt=0, le=600,
        description="Longest a client may take to send a request line and headers, from connecting or from its "
                    "first byte (408).")
    body_timeout_s: float = Field(
        15.0, gt=0, le=600,
        description="Longest pause while a request body arrives; also the grace before body_min_rate applies (408).")
    body_min_rate: int = Field(
        1024, ge=0,
        description="Slowest average request-body rate in bytes/s once body_timeout_s has passed (408; 0 disables).")
    keep_alive_timeout_s: float = Field(5.0, gt=0, le=3600,
                                        description="An idle keep-alive connection is closed after this.")
    max_header_bytes: int = Field(32 * 1024, ge=1024,
                                  description="Most bytes of request line plus headers (431).")
    max_headers: int = Field(100, ge=8, description="Most request headers (431).")
    limit_concurrency: int | None = Field(
        1000, ge=1,
        description="Most requests in flight before new ones get 503 Retry-After (the /health and /ready probes "
                    "are always answered).")
    max_idle_connections: int = Field(
        1000, ge=1,
        description="Most connections without a request in progress (kept alive, or still sending a head); past "
                    "it the least recently active one is closed to admit a new one.")
    write_timeout_s: float = Field(
        15.0, gt=0, le=600,
        description="A client whose response fills the write buffer must read some of it within this, and all "
                    "of it within this plus its size at write_min_rate; else the connection is cut.")
    write_min_rate: int = Field(
        16 * 1024, ge=0,
        description="Slowest rate in bytes/s at which a client must read a large response (0: only "
                    "write_timeout_s without progress cuts it).")
    # auth
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Bearer API keys; when set, every route but /health, /ready, /metrics and docs needs one.",
    )
    # async jobs and callbacks
    jobs_db: str = Field(
        "ner-jobs.sqlite3",
        description="Where async jobs live: a SQLite file path or sqlite:///PATH (one process), or "
                    "postgresql://USER:PASS@HOST:PORT/DB (shared by every replica).",
    )
    jobs_db_pool_size: int = Field(4, ge=1, le=64, description="PostgreSQL connections per replica.")
    jobs_db_timeout_s: float = Field(
        1.0, gt=0, le=60,
        description="Longest a request waits for a PostgreSQL connection before its job route answers 503.")
    jobs_db_breaker_s: float = Field(
        5.0, gt=0, le=300,
        description="After the jobs database was found unreachable, job routes answer 503 + Retry-After at once "
                    "for this long, then one request probes it.")
    job_workers: int = Field(1, ge=1, le=64, description="Async jobs run at the same time (per replica).")
    job_retention_s: float = Field(7 * 24 * 3600.0, ge=1, description="Finished jobs are deleted after this.")
    max_queued_jobs: int = Field(10_000, ge=1, description="Queued async jobs before new ones get 429.")
    job_lease_s: float = Field(
        30.0, ge=1.0, le=3600.0,
        description="A replica holds a claimed job (or callback) this long without renewing; a job whose "
                    "replica died is taken over after it.",
    )
    job_poll_s: float = Field(
        1.0, gt=0.0, le=60.0,
        description="How often a replica looks for jobs and callbacks other replicas queued, and for "
                    "cancellation of the job it runs.",
    )
    callback_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing callbacks; async jobs with a callback_url need it."
    )
    callback_allow_list: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs that callbacks may reach even though they are loopback/private/link-local.",
    )
    callback_timeout_s: float = Field(
        10.0, gt=0, description="Total deadline of one callback attempt (address check, connect, send, answer).")
    callback_max_attempts: int = Field(6, ge=1, le=50, description="Callback tries before the job records failure.")
    callback_backoff_s: float = Field(1.0, ge=0.0, description="First retry delay; doubles each try (with jitter).")
    callback_backoff_max_s: float = Field(300.0, ge=0.0, description="Longest delay between callback tries.")
    # serving
    workers_uvloop: bool = Field(True, description="Use the uvloop event loop when installed (faster).")
    access_log: bool = Field(False, description="Log every request line (never bodies).")
    timeout_graceful_shutdown_s: float = Field(
        10.0, ge=0, description="On SIGTERM, how long in-flight requests may take before the server exits."
    )

    @field_validator("jobs_db", mode="before")
    @classmethod
    def _path_to_text(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def api_key_values(self) -> list[bytes]:
        return [k.get_secret_value().encode() for k in self.api_keys if k.get_secret_value()]
