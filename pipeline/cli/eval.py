"""``ner-stage eval FILE``: entity-level P/R/F1 on a labelled JSONL file.

By default it scores what ships: the entities the Kafka worker and ``/redact`` publish (the
redactor's resolved spans, e.g. one merged ``NAME`` for "John Smith"), built from the same
model, decode and redaction settings; ``--spans model`` scores the model's spans alone."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.cli.text_io import EvalSettings
from pipeline.config import DecodeSettings, read_config_file
from pipeline.eval import read_gold, score
from pipeline.redact import Redactor, RedactSettings
from pipeline.service import NerService


@click.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@settings_options(EvalSettings, aliases={"json_report": "json"})
@settings_options(DecodeSettings)
@settings_options(RedactSettings)
@model_options
def command(file, **kwargs) -> None:
    """Score predictions on FILE (JSONL of {"text", "spans": [{"start", "end", "label"}]})
    with exact span + label matching, per label and micro-averaged.

    --spans published (default) scores what the worker and /redact publish; the hash operator's
    key, if the policy uses it, comes from the environment or --config only: NER_HASH_KEY."""
    settings = model_settings(kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    redact = settings_from(RedactSettings, kwargs)
    options = settings_from(EvalSettings, kwargs)
    if options.label_map and not Path(options.label_map).is_file():
        raise click.BadParameter(f"{options.label_map}: no such file", param_hint="--label-map")
    mapping = read_config_file(options.label_map) if options.label_map else {}
    docs = read_gold(file)
    service = NerService.from_settings(settings, decode)
    texts = [d.text for d in docs]
    if options.spans == "published":
        entities = [r.entities for r in Redactor.from_settings(redact, service).redact(texts)]
    else:
        entities = service.entities(texts)
    predicted = [[(e.start, e.end, e.label) for e in ents] for ents in entities]
    report = score([d.spans for d in docs], predicted, mapping)
    if options.json_report:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'label':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label, row in report["per_label"].items():
        click.echo(f"{label:<22}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>9}")
    m = report["micro"]
    click.echo(f"{'micro avg':<22}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9}")
