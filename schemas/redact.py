"""HTTP bodies of ``POST /redact`` (pydantic; the wire contract for any client).

Request: ``{"inputs": ["text", ...] | "text", "policy": {label: operator spec}?,
"default_operator": spec?, "allow": [term | "re:pattern"]?,
"deny": {label: [term | "re:pattern"]}?}``; an operator spec is a name (``"hash"``) or
``{"type": "mask", "char": "#", "keep_last": 4}``. Response: one item per input, in order,
``{"redacted_text", "entities": [{"label", "start", "end", "score", "source"}]}`` with offsets
into the original input (Unicode code points, as Python counts
characters).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from schemas.http import JsonBody

OperatorSpecBody = str | dict[str, Any]


class RedactRequest(JsonBody):
    """Strict like every request body; lone surrogates become U+FFFD (offsets unchanged)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: list[str] = Field(..., min_length=1,
                              description="Texts to redact (a single string is accepted too); at most the "
                                          "server's max_inputs, each at most max_text_chars (see /info).")
    policy: dict[str, OperatorSpecBody] | None = Field(
        None, description="Per-label operator overrides on top of the server's policy, e.g. {\"EMAIL\": \"hash\"}."
    )
    default_operator: OperatorSpecBody | None = Field(
        None, description="Operator for labels the policy does not name (default: the server's)."
    )
    allow: list[str] | None = Field(
        None, max_length=1000,
        description="Terms never redacted in this request (case-insensitive, whole words) or re:<pattern>; added "
                    "to the server's allow list.",
    )
    deny: dict[str, list[str]] | None = Field(
        None, description="Label -> terms (or re:<pattern>) always redacted with that label in this request, "
                          "e.g. {\"CODE_NAME\": [\"Falcon\"]}; added to the server's deny list.",
    )

    @field_validator("inputs", mode="before")
    @classmethod
    def _single(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RedactedEntity(BaseModel):
    label: str
    start: int = Field(..., description="Character offset into the original input.")
    end: int
    score: float
    source: str = Field(..., description="'model', 'model:recall' (or 'model:recall:<rule>'), 'pattern:<name>', "
                                         "'propagated', 'deny', or several joined with '+'.")


class RedactedItem(BaseModel):
    redacted_text: str
    entities: list[RedactedEntity]


class RedactResponse(RootModel[list[RedactedItem]]):
    """One item per input, in order."""
