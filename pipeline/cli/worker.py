"""``ner-stage worker``: Kafka consumer workers (entities, redacted text, dead letters).

The flags are generated from :class:`KafkaSettings`' fields, so every setting has exactly one
flag, one ``NER_*`` variable and one help text, and they cannot drift apart. Secrets
(``NER_SASL_PASSWORD``, ``NER_SSL_KEY_PASSWORD``, ``NER_SCHEMA_REGISTRY_AUTH``, the redaction
``NER_HASH_KEY``) are read from the environment or the config file only: flags show up in ``ps``.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any, Literal

import click
from pydantic import SecretStr

from pipeline.cli.options import model_options, model_settings
from pipeline.kafka.settings import KafkaSettings

_SECRETS = {"sasl_password", "ssl_key_password", "schema_registry_auth"}
_MULTI = {"librdkafka"}


def _click_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _click_type(args[0])
    if origin is Literal:
        return click.Choice([str(a) for a in args])
    if annotation is int:
        return int
    if annotation is float:
        return float
    return str


def _default_text(name: str, field) -> str:
    if name == "input":
        return "documents"
    default = field.get_default(call_default_factory=True)
    return "off" if default is None else str(default)


def _settings_options(func):
    """One click option per KafkaSettings field (secrets excepted), documented with its env name."""
    for name, field in reversed(list(KafkaSettings.model_fields.items())):
        if name in _SECRETS or field.annotation is SecretStr:
            continue
        flag = "--" + name.replace("_", "-")
        env = f"NER_{name.upper()}"
        help_text = f"{field.description or name} (default {_default_text(name, field)}). [{env}]"
        if name in _MULTI:
            option = click.option(flag, name, multiple=True, metavar="KEY=VALUE",
                                  help=f"{field.description} Repeatable. [{env} as a JSON object]")
        elif field.annotation is bool:
            option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
        else:
            option = click.option(flag, name, type=_click_type(field.annotation), default=None, help=help_text)
        func = option(func)
    return func


def _librdkafka(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--librdkafka")
        out[key.strip()] = value
    return out


@click.command("worker", context_settings={"max_content_width": 110})
@_settings_options
@click.option("--exactly-once", is_flag=True, default=False,
              help="Shorthand for --delivery exactly_once (Kafka transactions; read outputs with "
                   "isolation.level=read_committed).")
@click.option("--policy", default=None,
              help="Redaction policy overrides as JSON, e.g. '{\"EMAIL\": \"hash\"}' (default: replace every PII "
                   "label). [NER_POLICY]")
@click.option("--default-operator", default=None,
              help="Redaction operator for labels the policy does not name (default replace). [NER_DEFAULT_OPERATOR]")
@click.option("--recognizers", default=None,
              help="Comma-separated pattern recognizers for the redacted topic (default all). [NER_RECOGNIZERS]")
@model_options
def command(exactly_once, policy, default_operator, recognizers, **kwargs) -> None:
    """Consume documents from --input topics in consumer group --group and publish entity results,
    redacted documents and dead letters.

    Offsets are committed only after every output of a micro-batch is acknowledged
    (at-least-once), or atomically with the outputs in a Kafka transaction (--exactly-once).
    SIGTERM/SIGINT drain the queue, commit and exit 0. Secrets come from the environment or
    --config only: NER_SASL_PASSWORD, NER_SSL_KEY_PASSWORD, NER_SCHEMA_REGISTRY_AUTH
    (USER:PASSWORD), NER_HASH_KEY. Other redaction settings (NER_MASK_CHAR, NER_PHONE_REGIONS,
    NER_CONFLICT_STRATEGY, ...) are read from the environment or --config as for `ner-stage redact`.
    """
    from pipeline.config import DecodeSettings
    from pipeline.kafka.supervisor import StageSettings, run_workers
    from pipeline.redact import RedactSettings

    config = kwargs.get("config_file")
    model = model_settings(kwargs)
    kwargs.pop("config_file", None)
    kwargs["librdkafka"] = _librdkafka(kwargs.get("librdkafka") or ())
    if exactly_once:
        kwargs["delivery"] = "exactly_once"
    kafka = KafkaSettings.load(config, **kwargs)
    redact = RedactSettings.load(config, policy=policy, default_operator=default_operator, recognizers=recognizers)
    stage = StageSettings(kafka=kafka, model=model, decode=DecodeSettings.load(config), redact=redact)
    status = run_workers(stage)
    if status:
        sys.exit(status)
