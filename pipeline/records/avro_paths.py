"""What an Avro schema allows at a field path: checked at start-up (schemaless Avro with
``--input-schema``) or once per writer schema (registry), so a text path on a ``long`` or a
``remove`` on a non-nullable field is refused before any record is rewritten.
"""

from __future__ import annotations

from typing import Any

from pipeline.records.paths import EVERY, FieldPath

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _names(schema: Any, out: dict[str, Any]) -> dict[str, Any]:
    """Named types (records, enums, fixed) by full name: fastavro writes each one once."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "error", "enum", "fixed") and "name" in node:
                out.setdefault(node["name"], node)
            stack.extend(f["type"] for f in node.get("fields", ()))
            for key in ("items", "values"):
                if key in node:
                    stack.append(node[key])
    return out


def _branches(node: Any, names: dict[str, Any]) -> list[Any]:
    """A schema node with unions flattened and names resolved."""
    out = []
    for branch in node if isinstance(node, list) else [node]:
        if isinstance(branch, str) and branch not in PRIMITIVES:
            branch = names.get(branch, branch)
        if isinstance(branch, dict) and branch.get("type") in PRIMITIVES and len(branch) == 1:
            branch = branch["type"]
        out.append(branch)
    return out


def type_name(node: Any) -> str:
    return node if isinstance(node, str) else str(node.get("type"))


def types_at(schema: dict, path: FieldPath) -> list[Any] | None:
    """The schema branches a path can reach (unions flattened), or None if the schema has no
    such field at all."""
    names = _names(schema, {})
    level = _branches(schema, names)
    for step in path.steps:
        nxt = []
        for node in level:
            if not isinstance(node, dict):
                continue
            kind = node.get("type")
            if isinstance(step, str) and step != EVERY:
                if kind in ("record", "error"):
                    nxt.extend(b for f in node["fields"] if f["name"] == step for b in _branches(f["type"], names))
                elif kind == "map":
                    nxt.extend(_branches(node["values"], names))
            elif kind == "array":
                nxt.extend(_branches(node["items"], names))
        if not nxt:
            return None
        level = nxt
    return level


def check_path(schema: dict, path: FieldPath, *, wants: set[str] | None, nullable: bool = False) -> str | None:
    """Why ``path`` cannot hold what the caller will write, or None if it can: every non-null
    branch must be one of ``wants`` (None: any); ``nullable`` asks for a ``null`` branch too."""
    branches = types_at(schema, path)
    if branches is None:
        return f"the Avro schema has no field {path.text}"
    kinds = {type_name(b) for b in branches}
    wrong = sorted(kinds - wants - {"null"}) if wants is not None else []
    if wrong:
        return f"{path.text} is {'/'.join(wrong)} in the Avro schema, not {'/'.join(sorted(wants or ()))}"
    if nullable and "null" not in kinds:
        return f"{path.text} is not nullable in the Avro schema"
    return None
