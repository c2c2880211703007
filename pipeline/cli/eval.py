"""``ner-stage eval FILE``: entity-level P/R/F1 of the model on a labelled JSONL file."""

from __future__ import annotations

import json

import click

from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.config import DecodeSettings, read_config_file
from pipeline.eval import read_gold, score
from pipeline.service import NerService, PredictOptions


@click.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--label-map", type=click.Path(exists=True, dir_okay=False), default=None,
              help="YAML/JSON mapping of model labels to gold labels (null drops a label).")
@settings_options(DecodeSettings)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@model_options
def command(file, label_map, as_json, **kwargs) -> None:
    """Score predictions on FILE (JSONL of {"text", "spans": [{"start", "end", "label"}]})
    with exact span + label matching, per label and micro-averaged."""
    settings = model_settings(kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    mapping = read_config_file(label_map) if label_map else {}
    docs = read_gold(file)
    service = NerService.from_settings(settings)
    options = PredictOptions(aggregation=decode.aggregation, threshold=decode.threshold,
                             label_thresholds=decode.label_thresholds, merge_adjacent=decode.merge_adjacent,
                             ignore_labels=tuple(decode.ignore_labels))
    predicted = [[(e.start, e.end, e.label) for e in ents]
                 for ents in service.entities([d.text for d in docs], options)]
    report = score([d.spans for d in docs], predicted, mapping)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'label':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label, row in report["per_label"].items():
        click.echo(f"{label:<22}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>9}")
    m = report["micro"]
    click.echo(f"{'micro avg':<22}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9}")
