"""Settings that only one-shot commands read: where ``predict``/``redact`` take texts from and
how they print JSON, ``predict``'s BEI request options, what ``eval`` scores, how ``export``
exports. Settings like any other, so each is a flag, an ``NER_*`` variable and a config key
(``NER_PRETTY=true``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.config import NerSettings


class TextIOSettings(NerSettings):
    """Input file and output form."""

    file: str | None = Field(
        None, description="JSONL file with one {\"text\": ...} object per line (instead of TEXT arguments).")
    pretty: bool = Field(False, description="Indent the JSON output.")


class PredictSettings(NerSettings):
    """The per-request options of ``/predict_tokens`` (BEI's) as command defaults."""

    raw_scores: bool = Field(False, description="With --aggregation none: raw logits instead of probabilities.")
    truncate: bool = Field(False, description="Truncate long texts to the model window instead of windowing.")
    truncation_direction: Literal["Right", "Left"] = Field("Right", description="Which end --truncate keeps.")


class EvalSettings(NerSettings):
    """What ``ner-stage eval`` scores and how it reports."""

    spans: Literal["published", "model"] = Field(
        "published", description="What is scored: 'published', the entities the worker and /redact publish (model "
                                 "spans joined with the pattern recognizers, name parts merged, redaction settings "
                                 "applied); 'model', the model's entity spans alone.")
    label_map: str | None = Field(
        None, description="YAML/JSON mapping of predicted labels to gold labels (null drops a label).")
    json_report: bool = Field(False, description="Print the full report as JSON.")


class ExportSettings(NerSettings):
    """How ``ner-stage export`` turns a checkpoint into a bundle."""

    opset: int = Field(17, ge=11, description="ONNX opset version.")
    atol: float = Field(1e-3, gt=0, description="Largest allowed |ONNX - PyTorch| logit difference on the "
                                                "verification texts.")
    optimize: bool = Field(False, description="Also write an onnxruntime-optimised graph (fused attention etc.).")
    quantize_int8: bool = Field(False, description="Also write an int8 dynamically quantised graph and use it; "
                                                   "reports the logit drift.")
    bundle_name: str | None = Field(None, description="Model name recorded in bundle.json (default: the HF_DIR "
                                                      "name).")
