"""``ner-stage serve``: the HTTP API on uvicorn.

uvicorn with uvloop + httptools was chosen by measurement (``ner-stage bench http`` and the
notes in docs): on one short text they cut server overhead versus asyncio + h11. The server's
timeouts and header limits are :mod:`pipeline.http.server`'s (settings, NER_* env). One process,
one event loop: the batcher thread owns the engine, which already uses every core, so more
worker processes would only load the model several times and fight over the same cores (scale
out with more replicas instead). SIGTERM/SIGINT stop accepting connections, let in-flight
requests finish (up to ``--timeout-graceful-shutdown``) and exit 0.
"""

from __future__ import annotations

import click

from pipeline.cli.options import model_options, model_settings


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1; 0.0.0.0 for all). [NER_HOST]")
@click.option("--port", type=int, default=None, help="TCP port (default 8080; 0 picks a free one). [NER_PORT]")
@click.option("--batch-max-wait-ms", type=float, default=None,
              help="Longest a request waits for concurrent ones to share an engine call (default 1.0; a lone "
                   "request never waits). [NER_BATCH_MAX_WAIT_MS]")
@click.option("--inline-max-chars", type=int, default=None,
              help="Requests up to this many characters run on the event loop when the engine is idle and "
                   "nothing is queued, skipping two thread hand-offs (default 2000; 0 disables). "
                   "[NER_INLINE_MAX_CHARS]")
@click.option("--max-queue-requests", type=int, default=None,
              help="Requests waiting for the engine before new ones get 429 (default 1024). [NER_MAX_QUEUE_REQUESTS]")
@click.option("--max-inputs", type=int, default=None, help="Most texts per request (default 256). [NER_MAX_INPUTS]")
@click.option("--max-text-chars", type=int, default=None,
              help="Most characters per text (default 100000). [NER_MAX_TEXT_CHARS]")
@click.option("--max-body-bytes", type=int, default=None,
              help="Largest request body in bytes (default 8 MiB). [NER_MAX_BODY_BYTES]")
@click.option("--jobs-db", default=None,
              help="Async-job store: a SQLite PATH or sqlite:///PATH (one process; default ./ner-jobs.sqlite3), or "
                   "postgresql://USER:PASS@HOST:PORT/DB shared by every replica. [NER_JOBS_DB]")
@click.option("--callback-allow-list", default=None,
              help="Comma-separated hosts/IPs/CIDRs callbacks may reach despite being private/loopback. "
                   "[NER_CALLBACK_ALLOW_LIST as a JSON list]")
@click.option("--job-workers", type=int, default=None, help="Async jobs run at the same time (default 1). "
              "[NER_JOB_WORKERS]")
@click.option("--callback-max-attempts", type=int, default=None,
              help="Callback tries before a job records a delivery failure (default 6). [NER_CALLBACK_MAX_ATTEMPTS]")
@click.option("--callback-backoff-s", type=float, default=None,
              help="First callback retry delay in seconds; doubles each try, jittered (default 1). "
                   "[NER_CALLBACK_BACKOFF_S]")
@click.option("--callback-timeout-s", type=float, default=None,
              help="Timeout of one callback POST in seconds (default 10). [NER_CALLBACK_TIMEOUT_S]")
@click.option("--access-log/--no-access-log", default=None, help="Log each request line (default off). "
              "[NER_ACCESS_LOG]")
@click.option("--uvloop/--no-uvloop", "workers_uvloop", default=None,
              help="Use the uvloop event loop when installed (default on). [NER_WORKERS_UVLOOP]")
@model_options
def command(host, port, batch_max_wait_ms, inline_max_chars, max_queue_requests, max_inputs, max_text_chars,
            max_body_bytes, jobs_db, callback_allow_list, job_workers, callback_max_attempts, callback_backoff_s,
            callback_timeout_s, access_log, workers_uvloop, **kwargs) -> None:
    """Serve /predict_tokens, async jobs and /redact over HTTP (docs at /docs).

    Secrets are read from the environment or the config file only: NER_API_KEYS (JSON list of
    bearer keys) and NER_CALLBACK_SECRET (HMAC key for callbacks)."""
    import uvicorn

    from pipeline.http.app import create_app
    from pipeline.http.server import uvicorn_config
    from pipeline.http.settings import HttpSettings
    from pipeline.redact import RedactSettings

    models = model_settings(kwargs)
    allow = [h.strip() for h in callback_allow_list.split(",") if h.strip()] if callback_allow_list else None
    settings = HttpSettings.load(
        kwargs.get("config_file"), host=host, port=port, batch_max_wait_ms=batch_max_wait_ms,
        inline_max_chars=inline_max_chars,
        max_queue_requests=max_queue_requests, max_inputs=max_inputs, max_text_chars=max_text_chars,
        max_body_bytes=max_body_bytes, jobs_db=jobs_db, callback_allow_list=allow, job_workers=job_workers,
        callback_max_attempts=callback_max_attempts, callback_backoff_s=callback_backoff_s,
        callback_timeout_s=callback_timeout_s, access_log=access_log, workers_uvloop=workers_uvloop)
    app = create_app(settings, model_settings=models, redact_settings=RedactSettings.load(kwargs.get("config_file")))
    uvicorn.Server(uvicorn_config(app, settings)).run()
