"""``ner-stage predict``: the inference path from the command line, printing BEI JSON."""

from __future__ import annotations

import sys

import click
import orjson

from pipeline.cli.inputs import read_texts
from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.config import DecodeSettings
from pipeline.service import NerService, PredictOptions


@click.command("predict")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False),
              help="JSONL file with one {\"text\": ...} object per line (instead of TEXT arguments).")
@settings_options(DecodeSettings)
@click.option("--raw-scores", is_flag=True, help="With --aggregation none: raw logits instead of probabilities.")
@click.option("--truncate", is_flag=True, help="Truncate long texts to the model window instead of windowing.")
@click.option("--truncation-direction", type=click.Choice(["Right", "Left"]), default="Right", show_default=True,
              help="Which end --truncate keeps.")
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@model_options
def command(texts, file, raw_scores, truncate, truncation_direction, pretty, **kwargs) -> None:
    """Classify TEXT... (or --file F.jsonl) and print a JSON array with one array of
    /predict_tokens items per input, in order (--aggregation none: every token with all label
    scores)."""
    settings = model_settings(kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    inputs = read_texts(texts, file)
    service = NerService.from_settings(settings)
    options = PredictOptions(
        aggregation=decode.aggregation, raw_scores=raw_scores, threshold=decode.threshold,
        label_thresholds=decode.label_thresholds, ignore_labels=tuple(decode.ignore_labels),
        merge_adjacent=decode.merge_adjacent, truncate=truncate, truncation_direction=truncation_direction,
    )
    result = service.predict(inputs, options)
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n")
