"""Redaction settings (flags > ``NER_*`` env > config file > defaults; see ``pipeline.config``).

``policy`` adds to or overrides the default policy (every PII label -> ``replace``), e.g. in
YAML ``policy: {EMAIL: hash, PHONE: {type: mask, keep_last: 4}, CITY: keep}``; from the
environment it is JSON (``NER_POLICY='{"EMAIL": "hash"}'``). List settings also accept a
comma-separated string (``NER_RECOGNIZERS=email,phone``). The hash key is a ``SecretStr``
and is turned into bytes only when the hash operator is built.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from pipeline.config import NerSettings
from pipeline.redact.recognizers import AVAILABLE, RECOGNIZERS

ConflictName = Literal["merge", "longest", "highest_score"]  # == STRATEGIES' keys (checked in the tests)


def _mapping(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return {}
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object mapping labels to operators ({exc.msg})") from exc
    return value


def _operator(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("{"):
        return _mapping(value)
    return value


def _names(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class RedactSettings(NerSettings):
    """How ``Redactor`` finds and rewrites PII."""

    policy: Annotated[dict[str, str | dict[str, Any]], NoDecode] = Field(
        default_factory=dict,
        description="Label -> operator overrides on top of the default policy (every PII label -> replace), "
                    "e.g. {\"EMAIL\": \"hash\", \"PHONE\": {\"type\": \"mask\", \"keep_last\": 4}}.",
    )
    default_operator: Annotated[str | dict[str, Any], NoDecode] = Field(
        "replace", description="Operator for labels the policy does not name: replace, mask, hash, remove, keep.",
    )
    hash_key: SecretStr | None = Field(
        None, description="Secret HMAC key for the hash operator (pseudonyms are stable for the same key)."
    )
    mask_char: str = Field("*", min_length=1, max_length=1, description="Character the mask operator writes.")
    recognizers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(RECOGNIZERS),
        description=f"Recognizers to run besides the model (any of {', '.join(AVAILABLE)}; spacy needs the "
                    "spacy extra); empty list for none.",
    )
    spacy_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["PERSON"],
        description="spaCy entity labels the spacy recognizer reports: PERSON (-> NAME), and GPE/LOC/FAC "
                    "(-> LOCATION), ORG (-> ORGANIZATION) when a policy wants them.",
    )
    conflict_strategy: ConflictName = Field(
        "merge", description="Overlap handling: merge (union, safest), longest, highest_score."
    )
    phone_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["US", "GB"], description="Regions whose national phone formats are recognised."
    )
    phone_leniency: Literal["possible", "valid", "strict_grouping"] = Field(
        "valid", description="phonenumbers leniency: possible (length only), valid (default), strict_grouping."
    )
    model_spans: bool = Field(True, description="Use the model's entity spans (off: pattern recognizers only).")
    redact_repeats: bool = Field(
        True, description="Propagation: also redact every further whole-word occurrence of a detected value in "
                          "the document (source \"propagated\"); names also word by word.",
    )
    propagate_ignore_case: bool = Field(
        False, description="Propagated names match case-insensitively (other values always match exactly)."
    )
    propagate_min_chars: int = Field(3, ge=1, description="Shortest detected value (or name word) that propagates.")
    allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Terms never redacted (case-insensitive, whole words), or regular expressions written "
                    "re:<pattern>; applied after detection, before propagation.",
    )
    deny: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description="Label -> terms (or re:<pattern>) always redacted with that label, e.g. "
                    "{\"CODE_NAME\": [\"Project Falcon\"]}.",
    )

    @field_validator("policy", mode="before")
    @classmethod
    def _parse_policy(cls, value: Any) -> Any:
        return _mapping(value)

    @field_validator("default_operator", mode="before")
    @classmethod
    def _parse_operator(cls, value: Any) -> Any:
        return _operator(value)

    @field_validator("deny", mode="before")
    @classmethod
    def _parse_deny(cls, value: Any) -> Any:
        return _mapping(value)

    @field_validator("allow", mode="before")
    @classmethod
    def _parse_allow(cls, value: Any) -> Any:
        return _names(value)

    @field_validator("allow", "deny", mode="after")
    @classmethod
    def _check_lists(cls, value: Any, info: Any) -> Any:
        from pipeline.redact.errors import PolicyError
        from pipeline.redact.term_lists import TermLists

        try:
            TermLists.build(**{info.field_name: value})  # a bad pattern fails at load, naming the field
        except PolicyError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("recognizers", "phone_regions", "spacy_labels", mode="before")
    @classmethod
    def _parse_names(cls, value: Any) -> Any:
        return _names(value)

    def hash_key_bytes(self) -> bytes:
        return self.hash_key.get_secret_value().encode("utf-8") if self.hash_key else b""
