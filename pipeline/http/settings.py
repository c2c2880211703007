"""HTTP server settings (``ner-stage serve``): flags > ``NER_*`` env > config file > defaults.

Limits default to values that keep one request's latency bounded on a small CPU box; every
limit is reported back in the 4xx body that enforces it, so clients can adapt without docs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

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
    # auth
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Bearer API keys; when set, every route but /health, /ready, /metrics and docs needs one.",
    )
    # async jobs and callbacks
    jobs_db: Path = Field(Path("ner-jobs.sqlite3"), description="SQLite file holding async jobs (durable queue).")
    job_workers: int = Field(1, ge=1, le=64, description="Async jobs run at the same time.")
    job_retention_s: float = Field(7 * 24 * 3600.0, ge=60, description="Finished jobs are deleted after this.")
    callback_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing callbacks; async jobs with a callback_url need it."
    )
    callback_allow_list: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs that callbacks may reach even though they are loopback/private/link-local.",
    )
    callback_timeout_s: float = Field(10.0, gt=0, description="Timeout of one callback POST.")
    callback_max_attempts: int = Field(6, ge=1, le=50, description="Callback tries before the job records failure.")
    callback_backoff_s: float = Field(1.0, ge=0.0, description="First retry delay; doubles each try (with jitter).")
    callback_backoff_max_s: float = Field(300.0, ge=0.0, description="Longest delay between callback tries.")
    # serving
    workers_uvloop: bool = Field(True, description="Use uvloop and httptools when installed (faster).")
    access_log: bool = Field(False, description="Log every request line (never bodies).")
    timeout_graceful_shutdown_s: float = Field(
        10.0, ge=0, description="On SIGTERM, how long in-flight requests may take before the server exits."
    )

    def api_key_values(self) -> list[bytes]:
        return [k.get_secret_value().encode() for k in self.api_keys if k.get_secret_value()]
