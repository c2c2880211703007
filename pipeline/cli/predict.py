"""``ner-stage predict``: the inference path from the command line, printing BEI JSON."""

from __future__ import annotations

import sys

import click
import orjson

from pipeline.cli.inputs import read_texts
from pipeline.cli.options import model_options, model_settings, settings_from, settings_options
from pipeline.cli.text_io import PredictSettings, TextIOSettings
from pipeline.config import DecodeSettings
from pipeline.service import NerService, PredictOptions


@click.command("predict")
@click.argument("texts", nargs=-1)
@settings_options(TextIOSettings)
@settings_options(DecodeSettings)
@settings_options(PredictSettings)
@model_options
def command(texts, **kwargs) -> None:
    """Classify TEXT... (or --file F.jsonl) and print a JSON array with one array of
    /predict_tokens items per input, in order (--aggregation none: every token with all label
    scores)."""
    settings = model_settings(kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    request = settings_from(PredictSettings, kwargs)
    io = settings_from(TextIOSettings, kwargs)
    inputs = read_texts(texts, io.file)
    service = NerService.from_settings(settings)
    options = PredictOptions(
        aggregation=decode.aggregation, raw_scores=request.raw_scores, threshold=decode.threshold,
        label_thresholds=decode.label_thresholds, ignore_labels=decode.ignored,
        merge_adjacent=decode.merge_adjacent, truncate=request.truncate,
        truncation_direction=request.truncation_direction,
    )
    result = service.predict(inputs, options)
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 if io.pretty else 0) + b"\n")
