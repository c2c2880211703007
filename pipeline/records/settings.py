"""How the stage reads a user's record and writes the result (flags > ``NER_*`` > config file).

``NER_TEXT_FIELDS=subject,body,comments[*].text``, ``NER_ID_FIELD=ticket_id``,
``NER_REDACTED_MODE=in-place``, ``NER_FIELD_POLICY='{"customer.email": "hash"}'`` (a map in a
config file; ``--field-policy PATH=OPERATOR`` repeatable on the command line).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from pipeline.config import NerSettings
from pipeline.redact.settings import _mapping, _names, _operator

RedactedMode = Literal["envelope", "in-place"]


class RecordSettings(NerSettings):
    """The record view: which strings of a record are scanned, and what the redacted topic gets."""

    text_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["text"],
        description="Paths of the string fields to scan, comma-separated: dotted keys (customer.note), [*] every "
                    "array element (comments[*].text), [N] one element. The default, text, is the {id, text} "
                    "document contract.")
    id_field: str | None = Field(
        None, description="Path of the record id, or @key (the record key as UTF-8) or @offset (topic/partition/"
                          "offset) (default id; @offset with --format text). A record without one gets @offset.")
    redacted_mode: RedactedMode = Field(
        "envelope", description="envelope: the redacted topic gets {id, text, entities}; in-place: the input record "
                                "itself, only the scanned strings (and field-policy values) rewritten.")
    field_policy: Annotated[dict[str, str | dict[str, Any]], NoDecode] = Field(
        default_factory=dict,
        description="PATH=OPERATOR whole-field operators (hash, mask, remove, replace, keep) for structured values, "
                    "applied in in-place mode without the model, e.g. customer.email=hash.")
    input_schema: str | None = Field(
        None, description="Writer schema (.avsc) of schemaless Avro input records read with --text-fields.")

    @field_validator("text_fields", mode="before")
    @classmethod
    def _parse_paths(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("field_policy", mode="before")
    @classmethod
    def _parse_policies(cls, value: Any) -> Any:
        value = _mapping(value)
        return {k: _operator(v) for k, v in value.items()} if isinstance(value, dict) else value

    @property
    def in_place(self) -> bool:
        return self.redacted_mode == "in-place"
