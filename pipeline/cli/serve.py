"""``ner-stage serve``: the HTTP API on uvicorn.

uvicorn with uvloop + httptools was chosen by measurement (``ner-stage bench http`` and the
notes in docs): on one short text they cut server overhead versus asyncio + h11. The server's
timeouts and header limits are :mod:`pipeline.http.server`'s (settings, NER_* env). One process,
one event loop: the batcher thread owns the engine, which already uses every core, so more
worker processes would only load the model several times and fight over the same cores (scale
out with more replicas instead). SIGTERM/SIGINT stop accepting connections, let in-flight
requests finish (up to ``--timeout-graceful-shutdown-s``) and exit 0.

The flags are generated from ``HttpSettings``, ``RedactSettings``, ``DecodeSettings`` (the
entity spans of ``/redact``; ``/predict_tokens`` takes its options from each request) and ``ModelSettings``
(``pipeline.cli.options``): one flag, one ``NER_*`` variable and one help text per setting.
"""

from __future__ import annotations

import click

from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.config import DecodeSettings
from pipeline.http.settings import HttpSettings
from pipeline.redact.settings import RedactSettings


@click.command("serve", context_settings={"max_content_width": 110})
@settings_options(HttpSettings, aliases={"workers_uvloop": "uvloop"})
@settings_options(RedactSettings)
@settings_options(DecodeSettings)
@model_options
def command(**kwargs) -> None:
    """Serve /predict_tokens, async jobs and /redact over HTTP (docs at /docs).

    Secrets are read from the environment or the config file only: NER_API_KEYS (JSON list of
    bearer keys), NER_CALLBACK_SECRET (HMAC key for callbacks) and NER_HASH_KEY (redaction)."""
    import uvicorn

    from pipeline.http.app import create_app
    from pipeline.http.server import uvicorn_config

    models = model_settings(kwargs)
    settings = settings_from(HttpSettings, kwargs)
    redact = settings_from(RedactSettings, kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    app = create_app(settings, model_settings=models, redact_settings=redact, decode_settings=decode)
    uvicorn.Server(uvicorn_config(app, settings)).run()
