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
from pipeline.redact import Redactor, RedactSettings


@click.command("redact")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="JSONL file with one {\"text\": ...} object per line (instead of TEXT arguments).")
@settings_options(RedactSettings)
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@model_options
def command(texts, file, pretty, **kwargs) -> None:
    """Redact PII in TEXT... (or --file F.jsonl) and print a JSON array of
    {redacted_text, entities} per input, in order."""
    model = model_settings(kwargs)
    settings = settings_from(RedactSettings, kwargs)
    inputs = read_texts(texts, file)
    service = None
    if settings.model_spans:
        from pipeline.config import DecodeSettings
        from pipeline.service import NerService

        service = NerService.from_settings(model, DecodeSettings.load(kwargs.get("config_file")))
    redactor = Redactor.from_settings(settings, service)
    result = [r.to_dict() for r in redactor.redact(inputs)]
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n")
