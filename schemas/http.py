"""HTTP bodies: BEI-compatible ``/predict_tokens`` plus async jobs, as pydantic models.

These models are the contract shown at ``/docs``. The request accepts BEI's shape as-is
(``inputs`` as ``[["text"], ...]``) and the simpler ``["text", ...]``. Unknown fields are
refused (422 naming the field): a misspelt option (``aggregation_stratgy``) would otherwise
change nothing, silently. Every field BEI documents is known here; BEI's upstream, Hugging Face
text-embeddings-inference, ignores unknown fields (its serde request structs do not deny them),
so a client that sends extra fields to BEI must drop them for this server. Our additions (``threshold``,
``label_thresholds``, ``ignore_labels``, ``merge_adjacent``) default to BEI's behaviour.
Runtime limits (inputs per request, characters per text) are settings, checked by the server,
so they are not baked into the schema.

Bodies are strict: JSON types are not coerced (``"yes"`` is not a boolean, ``"0.5"`` not a
number), scores are finite and within [0, 1], and contradictory options are refused rather than
silently ignored. Every string has its lone surrogates replaced by U+FFFD (same length, so
offsets stay valid; see :mod:`schemas.text`) before anything else sees it, and no part of a body
may nest deeper than :data:`MAX_BODY_DEPTH`. ``metadata`` is echoed back in job statuses and
callbacks, so it must be I-JSON no deeper than :data:`MAX_METADATA_DEPTH` and at most
:data:`MAX_METADATA_BYTES` once serialized.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from schemas.text import inspect, replace_lone_surrogates

Aggregation = Literal["none", "simple", "first", "average", "max"]
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
DeliveryState = Literal["none", "pending", "delivered", "failed"]
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=True)]

#: Deepest nesting of lists/objects anywhere in a request body.
MAX_BODY_DEPTH = 32
#: Deepest nesting of lists/objects inside ``metadata`` (the metadata object itself is one).
MAX_METADATA_DEPTH = 16
#: Largest ``metadata``, serialized as compact JSON.
MAX_METADATA_BYTES = 64 * 1024


class JsonBody(BaseModel):
    """A request body: bounded depth, lone surrogates replaced, no type coercion."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _safe_strings(cls, data: Any) -> Any:
        """Runs before field validation: refuse hostile nesting (naming where), then replace
        lone surrogates everywhere, so the rest of the server only ever sees encodable text."""
        if not isinstance(data, dict):
            return data
        problem, surrogates = inspect(data, root="", max_depth=MAX_BODY_DEPTH)
        if problem is not None:
            field = problem.field.lstrip(".") or "body"
            raise PydanticCustomError("json_depth", "{problem}",
                                      {"field": field, "problem": problem.message, "limit": problem.limit})
        return replace_lone_surrogates(data) if surrogates else data


class PredictRequest(JsonBody):
    """``POST /predict_tokens``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "inputs": [["Apple is looking at buying U.K. startup for $1 billion"]],
        "truncate": True, "raw_scores": False, "aggregation_strategy": "max",
    }]})

    inputs: list[list[str]] | list[str] | str = Field(
        description="Texts to classify: BEI's [[\"text\"], ...] (one text per inner list), [\"text\", ...] or one "
                    "string. The response has one list per text, in order.")
    raw_scores: bool = Field(
        False, description="With aggregation 'none': raw logits instead of probabilities (with any other "
                           "aggregation_strategy it is refused: spans carry probabilities).")
    truncate: bool = Field(
        False, description="Cut texts longer than the model window. When false (default) long texts are not "
                           "truncated: they are processed in overlapping windows and every token is scored.")
    truncation_direction: Literal["Right", "Left"] = Field("Right", description="Which end truncate removes.")
    aggregation_strategy: Aggregation = Field(
        "none", description="'none': every token with every label's score; otherwise entity spans as in "
                            "transformers' token-classification pipeline (labels without B-/I-).")
    threshold: Score | None = Field(None, description="(ner-stage) Drop predictions scoring below this.")
    label_thresholds: dict[str, Score] = Field(
        default_factory=dict, description="(ner-stage) Per-label minimum scores, e.g. {\"EMAIL\": 0.8}.")
    ignore_labels: list[str] = Field(default_factory=lambda: ["O"],
                                     description="(ner-stage) Labels never reported as spans.")
    merge_adjacent: bool = Field(
        False, description="(ner-stage) Join touching same-label spans after aggregation (off for BEI parity).")

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_shape(cls, value: Any) -> Any:
        """One clear error naming the bad element, instead of one error per branch of the union."""
        if isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise PydanticCustomError(
                "inputs_shape", "inputs must be a string, a list of strings or a list of one-string lists",
                {"field": "inputs"})
        nested = bool(value) and isinstance(value[0], list)
        for i, item in enumerate(value):
            ok = (isinstance(item, list) and all(isinstance(t, str) for t in item)) if nested else isinstance(item, str)
            if not ok:
                shape = "a list of strings" if nested else "a string"
                raise PydanticCustomError(
                    "inputs_shape", "inputs[{index}] must be {shape}, like inputs[0]",
                    {"index": i, "shape": shape, "field": f"inputs[{i}]"})
        return value

    @model_validator(mode="after")
    def _raw_scores_need_tokens(self) -> PredictRequest:
        if self.raw_scores and self.aggregation_strategy != "none":
            raise PydanticCustomError(
                "raw_scores_aggregation",
                "raw logits exist per token only: use aggregation_strategy 'none', or drop raw_scores",
                {"field": "raw_scores", "expected": "'none'"})
        return self


class PredictItem(BaseModel):
    """A token (aggregation 'none') or an entity span (other strategies)."""

    token: str = Field(description="The token, or the span's text.")
    token_id: int = Field(description="Vocabulary id (of the span's first token).")
    start: int = Field(description="Start character offset into the input text.")
    end: int = Field(description="End character offset (exclusive).")
    results: dict[str, float] = Field(description="Label -> score (all labels for 'none'; the span's otherwise).")


PredictResponse = list[list[PredictItem]]


class AsyncPredictRequest(PredictRequest):
    """``POST /async/predict_tokens``: a predict body plus where to deliver the result."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "inputs": [["My name is John Smith"]], "aggregation_strategy": "first",
        "callback_url": "https://example.com/ner-callback", "metadata": {"batch": "42"},
    }]})

    callback_url: str | None = Field(
        None, description="http(s) URL POSTed {job_id, status, result|error, metadata} when the job ends; "
                          "signed with HMAC-SHA256 (see X-Ner-Signature).")
    metadata: dict[str, Any] | None = Field(
        None, description=f"Echoed back in the job and the callback. I-JSON (finite numbers, integers within "
                          f"+-(2**53-1)), at most {MAX_METADATA_DEPTH} levels deep and {MAX_METADATA_BYTES} bytes.")

    @field_validator("metadata")
    @classmethod
    def _echoable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        problem, _ = inspect(value, root="metadata", max_depth=MAX_METADATA_DEPTH, numbers=True)
        if problem is not None:
            raise PydanticCustomError("metadata_value", "{problem}",
                                      {"field": problem.field, "problem": problem.message, "limit": problem.limit})
        size = len(orjson.dumps(value))
        if size > MAX_METADATA_BYTES:
            raise PydanticCustomError(
                "metadata_size", "{size} bytes as JSON; the limit is {limit}",
                {"field": "metadata", "size": size, "limit": MAX_METADATA_BYTES})
        return value


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong.")
    error_type: str = Field(description="Machine-readable category.")
    field: str | None = Field(None, description="The request field at fault, if any.")
    limit: Any = Field(None, description="The limit that was exceeded, if any.")


class JobAccepted(BaseModel):
    job_id: str
    status: JobState
    status_url: str


class CallbackStatus(BaseModel):
    url: str | None
    status: DeliveryState
    attempts: int
    last_error: str | None = None


class JobStatus(BaseModel):
    job_id: str
    status: JobState
    created_at: float
    updated_at: float
    result: list[list[PredictItem]] | None = None
    error: ErrorBody | None = None
    metadata: dict[str, Any] | None = None
    callback: CallbackStatus


class Info(BaseModel):
    model: str
    revision: str
    engine: str
    labels: list[str]
    max_tokens: int = Field(description="Model window in tokens (special tokens included).")
    max_batch_tokens: int
    max_inputs: int
    max_text_chars: int
    max_body_bytes: int
    async_callbacks: bool = Field(description="Whether callbacks can be signed (a callback secret is set).")
    version: str


class Health(BaseModel):
    status: str
