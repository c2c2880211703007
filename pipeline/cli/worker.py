"""``ner-stage worker``: Kafka consumer workers (entities, redacted text, dead letters).

The flags are generated from the fields of :class:`KafkaSettings`, ``RedactSettings`` and
``ModelSettings`` and ``DecodeSettings`` (``pipeline.cli.options``), so every setting has exactly one flag, one
``NER_*`` variable and one help text, and they cannot drift apart. Secrets
(``NER_SASL_PASSWORD``, ``NER_SSL_KEY_PASSWORD``, ``NER_SCHEMA_REGISTRY_AUTH``, the redaction
``NER_HASH_KEY``) are read from the environment or the config file only: flags show up in ``ps``.
"""

from __future__ import annotations

import sys

import click

from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.config import DecodeSettings
from pipeline.kafka.settings import KafkaSettings
from pipeline.redact.settings import RedactSettings


@click.command("worker", context_settings={"max_content_width": 110})
@settings_options(KafkaSettings, multi=("librdkafka",))
@click.option("--exactly-once", is_flag=True, default=False,
              help="Shorthand for --delivery exactly_once (Kafka transactions; read outputs with "
                   "isolation.level=read_committed). [NER_DELIVERY=exactly_once]")
@settings_options(RedactSettings)
@settings_options(DecodeSettings)
@model_options
def command(exactly_once, **kwargs) -> None:
    """Consume documents from --input topics in consumer group --group and publish entity results,
    redacted documents and dead letters.

    Offsets are committed only after every output of a micro-batch is acknowledged
    (at-least-once), or atomically with the outputs in a Kafka transaction (--exactly-once).
    SIGTERM/SIGINT drain the queue, commit and exit 0. Secrets come from the environment or
    --config only: NER_SASL_PASSWORD, NER_SSL_KEY_PASSWORD, NER_SCHEMA_REGISTRY_AUTH
    (USER:PASSWORD), NER_HASH_KEY.
    """
    from pipeline.kafka.supervisor import StageSettings, run_workers

    model = model_settings(kwargs)
    kafka = settings_from(KafkaSettings, kwargs, delivery="exactly_once" if exactly_once else None)
    redact = settings_from(RedactSettings, kwargs)
    stage = StageSettings(kafka=kafka, model=model, decode=settings_from(DecodeSettings, kwargs),
                          redact=redact)
    status = run_workers(stage)
    if status:
        sys.exit(status)
