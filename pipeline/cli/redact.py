"""``ner-stage redact``: PII redaction from the command line.

Prints a JSON array with one ``{redacted_text, entities: [{label, start, end, score, source}]}``
per input, in order (offsets into the original text). The hash operator's key is read from
``NER_HASH_KEY`` or the config file only, never from a flag: flags show up in ``ps``.
"""

from __future__ import annotations

import sys

import click
import orjson

from pipeline.cli.inputs import read_texts
from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.cli.text_io import TextIOSettings
from pipeline.config import DecodeSettings
from pipeline.redact import Redactor, RedactSettings


@click.command("redact")
@click.argument("texts", nargs=-1)
@settings_options(TextIOSettings)
@settings_options(RedactSettings)
@settings_options(DecodeSettings)
@model_options
def command(texts, **kwargs) -> None:
    """Redact PII in TEXT... (or --file F.jsonl) and print a JSON array of
    {redacted_text, entities} per input, in order.

    The hash operator's key comes from the environment or --config only: NER_HASH_KEY."""
    model = model_settings(kwargs)
    settings = settings_from(RedactSettings, kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    io = settings_from(TextIOSettings, kwargs)
    inputs = read_texts(texts, io.file)
    service = None
    if settings.model_spans:
        from pipeline.service import NerService

        service = NerService.from_settings(model, decode)
    redactor = Redactor.from_settings(settings, service)
    result = [r.to_dict() for r in redactor.redact(inputs)]
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if io.pretty else 0) + b"\n")
