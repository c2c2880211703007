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
from pipeline.records.settings import RecordSettings
from pipeline.redact import Redactor, RedactSettings


@click.command("redact")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="JSONL file with one {\"text\": ...} object per line (instead of TEXT arguments); with "
                   "--text-fields, any JSON record per line.")
@settings_options(RecordSettings, only=("text_fields", "id_field", "redacted_mode", "field_policy"),
                  multi=("field_policy",))
@settings_options(RedactSettings)
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@model_options
def command(texts, file, pretty, **kwargs) -> None:
    """Redact PII in TEXT... (or --file F.jsonl) and print a JSON array of
    {redacted_text, entities} per input, in order.

    With --text-fields (e.g. subject,body,comments[*].text) each --file line is any JSON record;
    --redacted-mode in-place prints the records themselves with only those strings redacted."""
    from pipeline.records.build import build_view, uses_contract

    model = model_settings(kwargs)
    settings = settings_from(RedactSettings, kwargs)
    records = settings_from(RecordSettings, kwargs)
    view = None
    if not uses_contract(records, "json"):
        if not file:
            raise click.UsageError("--text-fields, --id-field, --redacted-mode and --field-policy read --file records")
        view = build_view(records, "json", max_chars=model.max_chars, redact=settings)
    inputs = read_texts(texts, file) if view is None else []
    service = None
    if settings.model_spans:
        from pipeline.config import DecodeSettings
        from pipeline.service import NerService

        service = NerService.from_settings(model, DecodeSettings.load(kwargs.get("config_file")))
    redactor = Redactor.from_settings(settings, service)
    if view is not None:
        from pipeline.cli.records_file import redact_records

        result = redact_records(file, view, redactor)
    else:
        result = [r.to_dict() for r in redactor.redact(inputs)]
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n")
