"""JSON values from the outside world, made safe to hold, store and send back.

Python's ``json`` module accepts more than UTF-8 JSON can carry back out: a lone UTF-16
surrogate (``"\\ud800"``) decodes into a ``str`` that no UTF-8 encoder (orjson, pydantic, Kafka
producers, the Rust tokenizer) will write; a 30-digit integer, ``NaN`` and ``Infinity`` parse
but orjson and most JSON readers (JavaScript: anything past 2**53) cannot round-trip them; and
nesting is bounded only by the interpreter's recursion limit.

Every front door (HTTP bodies, JSON Kafka records) replaces each lone surrogate by U+FFFD,
one code point for one, so every character offset computed afterwards is an offset into what
the client sent. Values that are echoed back (job metadata) must also be I-JSON (RFC 7493):
finite numbers, integers within +-(2**53 - 1). :func:`inspect` walks a value without
recursion, so a hostile depth cannot crash the walk itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: I-JSON's exactly representable integers (what a JavaScript client or a double can hold).
MAX_SAFE_INT = 2**53 - 1


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in every string (dict keys too) replaced by U+FFFD.

    Containers are copied only when something inside them changed. Recursive: call it on
    values whose depth :func:`inspect` has bounded."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, list):
        items = [replace_lone_surrogates(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = [(replace_lone_surrogates(k), replace_lone_surrogates(v)) for k, v in value.items()]
        changed = any(k is not k0 or v is not v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True))
        return dict(pairs) if changed else value
    return value


@dataclass(frozen=True)
class JsonProblem:
    """Why a value was refused: the path of the offending part (``a.b[3]``), what is wrong,
    and the limit it broke."""

    field: str
    message: str
    limit: Any


def _path(root: str, link: tuple | None) -> str:
    """``a.b[3]`` from the chain of (parent link, key) pairs that led to a value."""
    keys: list = []
    while link is not None:
        link, key = link
        keys.append(key)
    out = root
    for key in reversed(keys):
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def inspect(value: Any, *, root: str, max_depth: int, numbers: bool = False) -> tuple[JsonProblem | None, bool]:
    """Walk ``value`` breadth-first without recursion. Returns the first problem (a container
    nested deeper than ``max_depth`` below ``root``; with ``numbers``, a non-finite float or an
    integer outside I-JSON's range) and whether any string holds a lone surrogate. Paths are
    built only for a problem (this runs on every request body)."""
    search = _LONE_SURROGATE.search
    surrogates = False
    level: list[tuple[Any, tuple | None]] = [(value, None)]
    depth = 0
    while level:
        deeper: list[tuple[Any, tuple | None]] = []
        for item, link in level:
            if isinstance(item, str):
                surrogates = surrogates or search(item) is not None
            elif isinstance(item, dict):
                if depth >= max_depth:
                    return JsonProblem(_path(root, link), f"nested more than {max_depth} levels deep", max_depth), \
                        surrogates
                for key, child in item.items():
                    surrogates = surrogates or (isinstance(key, str) and search(key) is not None)
                    deeper.append((child, (link, key)))
            elif isinstance(item, list):
                if depth >= max_depth:
                    return JsonProblem(_path(root, link), f"nested more than {max_depth} levels deep", max_depth), \
                        surrogates
                deeper.extend((child, (link, i)) for i, child in enumerate(item))
            elif numbers and isinstance(item, float) and not math.isfinite(item):
                return JsonProblem(_path(root, link), "must be a finite number", None), surrogates
            elif numbers and isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_SAFE_INT:
                return JsonProblem(_path(root, link), f"integers must be within +-{MAX_SAFE_INT} (I-JSON)",
                                   MAX_SAFE_INT), surrogates
        level = deeper
        depth += 1
    return None, surrogates
