"""Field policies: whole-field operators for structured values, no model involved.

``--field-policy customer.email=hash --field-policy customer.ssn=remove`` (config file: a map
``field_policy: {customer.email: hash}``) rewrites the whole value at each path with one of
the redaction operators (``pipeline.redact.operators``: replace, mask, hash, remove, keep),
like Kafka Connect's MaskField. The label an operator sees is the path's last key in upper
case (``<EMAIL>`` for ``customer.email`` with replace).

- strings are rewritten by the operator; null stays null; a path that matches nothing is fine;
- ``remove`` drops the key from a JSON object, and sets an Avro field to null (the field must be
  nullable: checked against the schema);
- any other type (a number, an object) is a :class:`FieldPolicyError` naming the path: the
  record is dead-lettered (where a schema is known at start, the mismatch is a start-up error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.records.avro_paths import check_path
from pipeline.records.errors import FieldPolicyConfigError, FieldPolicyError
from pipeline.records.paths import FieldPath, parse_paths
from pipeline.redact.errors import PolicyError
from pipeline.redact.operators import Operator, OperatorDefaults, OperatorSpec, build_operator


@dataclass(frozen=True)
class FieldPolicy:
    path: FieldPath
    operator: Operator

    @property
    def label(self) -> str:
        last = next((s for s in reversed(self.path.steps) if isinstance(s, str) and s != "*"), "FIELD")
        return last.upper()


@dataclass(frozen=True)
class FieldPolicies:
    policies: tuple[FieldPolicy, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, OperatorSpec] | None, defaults: OperatorDefaults) -> FieldPolicies:
        paths = parse_paths(list(spec or {}))
        out = []
        for path, op in zip(paths, (spec or {}).values(), strict=True):
            try:
                operator = build_operator(op, defaults)
            except PolicyError as exc:
                raise FieldPolicyConfigError(f"--field-policy {path.text}: {exc}") from exc
            if operator.name == "remove" and not path.ends_in_key:
                raise FieldPolicyConfigError(f"--field-policy {path.text}=remove: the path must end in a field name")
            out.append(FieldPolicy(path, operator))
        return cls(tuple(out))

    def __bool__(self) -> bool:
        return bool(self.policies)

    def check_schema(self, schema: dict) -> tuple[str, str] | None:
        """``(path, why)`` if a policy cannot apply to records of ``schema``; None if all can."""
        for policy in self.policies:
            name = policy.operator.name
            if name == "keep":
                continue
            if name == "remove":  # any type, as long as null is allowed
                problem = check_path(schema, policy.path, wants=None, nullable=True)
            else:
                problem = check_path(schema, policy.path, wants={"string"})
            if problem:
                return policy.path.text, f"--field-policy {policy.path.text}={name}: {problem}"
        return None

    def apply(self, tree: Any, avro: bool) -> bool:
        """Rewrite ``tree`` in place; True if anything changed."""
        changed = False
        for policy in self.policies:
            op = policy.operator
            if op.name == "keep":
                continue
            for match in list(policy.path.matches(tree)):
                if match.value is None:
                    continue
                if op.name == "remove":
                    match.set(None) if avro else match.delete()
                elif isinstance(match.value, str):
                    match.set(op.apply(match.value, policy.label))
                else:
                    raise FieldPolicyError(f"field policy {op.name} needs a string at {match.path}, got "
                                           f"{_kind(match.value)}", path=match.path)
                changed = True
        return changed


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an object" if isinstance(value, dict) else ("an array" if isinstance(value, list) else "a value")
