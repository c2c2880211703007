"""HTTP bodies of ``POST /``: the Hugging Face Inference API for token classification.

The request is what ``huggingface_hub.InferenceClient.token_classification`` sends to a URL
(``{"inputs": "text", "parameters": {...}}``, unset parameters left out), and what the hosted
Inference API and Inference Endpoints accept: ``inputs`` may also be a list of texts.
Parameters are the task's spec (``aggregation_strategy``, ``ignore_labels``, ``stride``);
any other key is refused (422 naming it) rather than silently ignored, so a client that asks
for something we do not do learns it at once. ``options`` (``use_cache``, ``wait_for_model``)
is accepted for older clients and has no effect: nothing is cached and the model is loaded
before the server reports ready.

The response is the transformers token-classification pipeline's: for one text a flat list,
for a list of texts one list per text. With aggregation ``none`` each item is a token
(``entity`` with its B-/I- label, ``score``, ``index``, ``word``, ``start``, ``end``);
otherwise an entity span (``entity_group``, ``score``, ``word``, ``start``, ``end``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from schemas.http import Aggregation, JsonBody


class HfParameters(BaseModel):
    """``parameters``: the token-classification task's parameters, nothing else."""

    model_config = ConfigDict(extra="forbid", strict=True)

    aggregation_strategy: Aggregation = Field(
        "none", description="As transformers' pipeline (default 'none': one item per token that is not ignored).")
    ignore_labels: list[str] = Field(default_factory=lambda: ["O"],
                                     description="Labels never reported (default ['O']).")
    stride: int | None = Field(
        None, ge=0, description="Overlap in tokens between the windows a long text is split into "
                                "(default: the server's; long texts are always windowed, never truncated).")


class HfOptions(BaseModel):
    """``options`` of the legacy Inference API: accepted, without effect here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    use_cache: bool | None = None
    wait_for_model: bool | None = None


class HfRequest(JsonBody):
    """``POST /``: strict, lone surrogates become U+FFFD, bounded depth (as every request body)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "inputs": "My name is John Smith", "parameters": {"aggregation_strategy": "simple"},
    }]})

    inputs: str | list[str] = Field(description="One text (flat list answered) or a list of texts (one list each).")
    parameters: HfParameters = Field(default_factory=HfParameters)
    options: HfOptions | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_shape(cls, value: Any) -> Any:
        """One error naming the bad element, not one per branch of the union."""
        if isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise PydanticCustomError("inputs_shape", "inputs must be a string or a list of strings",
                                      {"field": "inputs"})
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise PydanticCustomError("inputs_shape", "inputs[{index}] must be a string",
                                          {"index": i, "field": f"inputs[{i}]"})
        return value


class HfToken(BaseModel):
    """An item with aggregation ``none``."""

    entity: str
    score: float
    index: int = Field(description="Token position in the model input ([CLS] is 0), as transformers reports it.")
    word: str
    start: int
    end: int


class HfEntity(BaseModel):
    """An item with any other aggregation."""

    entity_group: str
    score: float
    word: str
    start: int
    end: int


HfItems = list[HfToken] | list[HfEntity]
HfResponse = HfItems | list[HfItems]
