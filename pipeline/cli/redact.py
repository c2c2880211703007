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
from pipeline.cli.options import model_options, model_settings
from pipeline.redact import RECOGNIZERS, Redactor, RedactSettings


@click.command("redact")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="JSONL file with one {\"text\": ...} object per line (instead of TEXT arguments).")
@click.option("--policy", default=None,
              help="JSON object of label -> operator overrides on top of the default policy (every PII label -> "
                   "replace), e.g. '{\"EMAIL\": \"hash\", \"PHONE\": {\"type\": \"mask\", \"keep_last\": 4}}'. "
                   "[NER_POLICY]")
@click.option("--default-operator", default=None,
              help="Operator for labels the policy does not name: replace, mask, hash, remove, keep, or a JSON "
                   "spec. [NER_DEFAULT_OPERATOR]")
@click.option("--mask-char", default=None, help="Character the mask operator writes (default *). [NER_MASK_CHAR]")
@click.option("--recognizers", default=None,
              help=f"Comma-separated pattern recognizers to run (default all: {','.join(RECOGNIZERS)}); '' for "
                   "none. [NER_RECOGNIZERS]")
@click.option("--conflict-strategy", type=click.Choice(["merge", "longest", "highest_score"]), default=None,
              help="Overlapping spans: merge (union, default), longest, highest_score. [NER_CONFLICT_STRATEGY]")
@click.option("--phone-regions", default=None,
              help="Comma-separated regions for national phone formats (default US,GB). [NER_PHONE_REGIONS]")
@click.option("--phone-leniency", type=click.Choice(["possible", "valid", "strict_grouping"]), default=None,
              help="How sure phonenumbers must be (default valid). [NER_PHONE_LENIENCY]")
@click.option("--model-spans/--no-model-spans", default=None,
              help="Use the model's spans (default on); off runs the pattern recognizers only and loads no model. "
                   "[NER_MODEL_SPANS]")
@click.option("--redact-repeats/--no-redact-repeats", default=None,
              help="Also redact other verbatim occurrences of detected values (default on). [NER_REDACT_REPEATS]")
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@model_options
def command(texts, file, policy, default_operator, mask_char, recognizers, conflict_strategy, phone_regions,
            phone_leniency, model_spans, redact_repeats, pretty, **kwargs) -> None:
    """Redact PII in TEXT... (or --file F.jsonl) and print a JSON array of
    {redacted_text, entities} per input, in order."""
    model = model_settings(kwargs)
    settings = RedactSettings.load(
        kwargs.get("config_file"), policy=policy, default_operator=default_operator, mask_char=mask_char,
        recognizers=recognizers, conflict_strategy=conflict_strategy, phone_regions=phone_regions,
        phone_leniency=phone_leniency, model_spans=model_spans, redact_repeats=redact_repeats,
    )
    inputs = read_texts(texts, file)
    service = None
    if settings.model_spans:
        from pipeline.config import DecodeSettings
        from pipeline.service import NerService

        service = NerService.from_settings(model, DecodeSettings.load(kwargs.get("config_file")))
    redactor = Redactor.from_settings(settings, service)
    result = [r.to_dict() for r in redactor.redact(inputs)]
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n")
