"""Policy: which operator rewrites which label, with a default for every other label.

The default policy redacts everything (default operator ``replace``), so a label the model
or a recognizer adds later is redacted, not leaked: keeping a value takes an explicit
``keep``. Labels are compared without a ``B-``/``I-`` prefix and case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.redact.errors import PolicyError
from pipeline.redact.operators import Operator, OperatorDefaults, OperatorSpec, build_operator

#: PII labels of the default model (arcjet rampart), after stripping B-/I-.
MODEL_LABELS: tuple[str, ...] = (
    "GIVEN_NAME", "SURNAME", "EMAIL", "PHONE", "URL", "TAX_ID", "BANK_ACCOUNT", "ROUTING_NUMBER",
    "GOVERNMENT_ID", "PASSPORT", "DRIVERS_LICENSE", "BUILDING_NUMBER", "STREET_NAME",
    "SECONDARY_ADDRESS", "CITY", "STATE", "ZIP_CODE",
)
#: Labels made by merging neighbours (see ``conflicts``) and by the pattern recognizers.
GROUP_LABELS: tuple[str, ...] = ("NAME", "ADDRESS")
PATTERN_LABELS: tuple[str, ...] = ("CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")
PII_LABELS: tuple[str, ...] = MODEL_LABELS + GROUP_LABELS + PATTERN_LABELS


def normalise_label(label: str) -> str:
    label = label.strip().upper()
    if label[:2] in ("B-", "I-"):
        label = label[2:]
    return label


@dataclass(frozen=True)
class Policy:
    """Labels -> operators, plus the operator for labels not listed."""

    operators: Mapping[str, Operator] = field(default_factory=dict)
    default: Operator = field(default_factory=lambda: build_operator("replace"))

    def operator_for(self, label: str) -> Operator:
        return self.operators.get(normalise_label(label), self.default)

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, OperatorSpec] | None = None,
        default: OperatorSpec = "replace",
        defaults: OperatorDefaults | None = None,
    ) -> Policy:
        """Build from ``{label: operator spec}`` (see ``operators.build_operator``)."""
        operators = {}
        for label, op in (spec or {}).items():
            if not isinstance(label, str) or not normalise_label(label):
                raise PolicyError("policy labels must be non-empty strings", field="policy")
            operators[normalise_label(label)] = build_operator(op, defaults)
        return cls(operators, build_operator(default, defaults))

    def with_overrides(
        self,
        spec: Mapping[str, OperatorSpec] | None,
        default: OperatorSpec | None = None,
        defaults: OperatorDefaults | None = None,
    ) -> Policy:
        """This policy with some labels (and optionally the default) replaced, e.g. per request."""
        override = Policy.from_spec(spec, default or "replace", defaults)
        return Policy({**self.operators, **override.operators}, override.default if default else self.default)


def default_policy(defaults: OperatorDefaults | None = None) -> Policy:
    """Every label -> ``replace`` (so every PII label of ``PII_LABELS``, and any label added later).

    No label is listed explicitly, so a different default operator (``NER_DEFAULT_OPERATOR``
    or a request's ``default_operator``) applies to every label the overrides do not name."""
    return Policy.from_spec({}, "replace", defaults)
