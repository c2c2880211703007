"""Operators, one small module each, and the one way to build them from a spec.

A spec is an operator name (``"replace"``) or a mapping with ``type`` and the operator's
parameters (``{"type": "mask", "char": "#", "keep_last": 4}``); the same shape works in a
config file, on the command line (JSON) and in a ``/redact`` request. Secrets (the hash key)
never come from a spec: they come from settings through ``OperatorDefaults``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.redact.errors import PolicyError
from pipeline.redact.operators.base import Operator
from pipeline.redact.operators.hash import Hash
from pipeline.redact.operators.keep import Keep
from pipeline.redact.operators.mask import Mask
from pipeline.redact.operators.remove import Remove
from pipeline.redact.operators.replace import Replace

OPERATORS: dict[str, type] = {"replace": Replace, "mask": Mask, "hash": Hash, "remove": Remove, "keep": Keep}
#: Parameters a spec may set, per operator (everything else is rejected, so typos fail loudly).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "replace": ("template", "value"),
    "mask": ("char", "keep_last"),
    "hash": ("digest_chars", "template"),
    "remove": (),
    "keep": (),
}

OperatorSpec = str | Mapping[str, Any]


@dataclass(frozen=True)
class OperatorDefaults:
    """Settings-level inputs to operators: the HMAC key and the default mask character."""

    hash_key: bytes = field(default=b"", repr=False)
    mask_char: str = "*"


def build_operator(spec: OperatorSpec | Operator, defaults: OperatorDefaults | None = None) -> Operator:
    """An operator from a name or ``{"type": name, **params}`` (an operator is returned as is)."""
    if isinstance(spec, Operator):
        return spec
    defaults = defaults or OperatorDefaults()
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping):
        params = dict(spec)
        name = params.pop("type", None)
        if not isinstance(name, str):
            raise PolicyError("operator spec needs a 'type' naming the operator", field="type")
    else:
        raise PolicyError(f"operator spec must be a name or a mapping, not {type(spec).__name__}")
    if name not in OPERATORS:
        raise PolicyError(f"unknown operator {name!r}; choose one of {sorted(OPERATORS)}", field="type")
    unknown = sorted(set(params) - set(PARAMETERS[name]))
    if unknown:
        raise PolicyError(f"operator {name!r} does not take {unknown}; it takes {list(PARAMETERS[name])}")
    for key, value in params.items():
        wanted = int if key in ("keep_last", "digest_chars") else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise PolicyError(f"operator {name!r}: {key!r} must be {wanted.__name__}", field=key)
    if name == "mask":
        params.setdefault("char", defaults.mask_char)
    if name == "hash":
        params["key"] = defaults.hash_key
    return OPERATORS[name](**params)


__all__ = ["OPERATORS", "Hash", "Keep", "Mask", "Operator", "OperatorDefaults", "OperatorSpec", "Remove",
           "Replace", "build_operator"]
