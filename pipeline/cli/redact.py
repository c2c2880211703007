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
from pipeline.records.settings import RecordSettings
from pipeline.redact import Redactor, RedactSettings


@click.command("redact")
@click.argument("texts", nargs=-1)
@settings_options(TextIOSettings)
@settings_options(RecordSettings, only=("text_fields", "id_field", "redacted_mode", "field_policy"),
                  multi=("field_policy",))
@settings_options(RedactSettings)
@settings_options(DecodeSettings)
@model_options
def command(texts, **kwargs) -> None:
    """Redact PII in TEXT... (or --file F.jsonl) and print a JSON array of
    {redacted_text, entities} per input, in order.

    With --text-fields (e.g. subject,body,comments[*].text) each --file line is any JSON record;
    --redacted-mode in-place prints the records themselves with only those strings redacted.
    The hash operator's key comes from the environment or --config only: NER_HASH_KEY."""
    from pipeline.records.build import build_view, uses_contract

    model = model_settings(kwargs)
    settings = settings_from(RedactSettings, kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    io = settings_from(TextIOSettings, kwargs)
    records = settings_from(RecordSettings, kwargs)
    view = None
    if not uses_contract(records, "json"):
        if not io.file:
            raise click.UsageError("--text-fields, --id-field, --redacted-mode and --field-policy read --file records")
        view = build_view(records, "json", max_chars=model.max_text_chars, redact=settings)
    inputs = read_texts(texts, io.file) if view is None else []
    service = None
    if settings.model_spans:
        from pipeline.service import NerService

        service = NerService.from_settings(model, decode)
    redactor = Redactor.from_settings(settings, service)
    if view is not None:
        from pipeline.cli.records_file import redact_records

        result = redact_records(io.file, view, redactor)
    else:
        result = [r.to_dict() for r in redactor.redact(inputs)]
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if io.pretty else 0) + b"\n")
