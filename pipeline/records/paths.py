"""Field paths: which values of a user's record the stage reads or rewrites.

Grammar (``--text-fields``, ``--id-field``, ``--field-policy``)::

    path  := key ( "." key | "[*]" | "[" N "]" )*      e.g. customer.note, comments[*].text, lines[0]
    key   := one or more characters other than . [ ] and whitespace

``[*]`` is every element of an array, ``[N]`` one element. A path is matched against the
decoded record (dicts and lists, as JSON and fastavro produce them); a step that does not fit
the record (a missing key, an index past the end, a key on a list) matches nothing, which is
not an error: optional parts of a record are normal. What a match *holds* is the caller's
business (the record view refuses non-strings at text paths).

Each match carries its *concrete* path (``comments[2].text``): the name the entity records,
dead-letter messages and logs use, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ConfigError

EVERY = "*"
_STEP = re.compile(r"\.([^.\[\]\s]+)|\[(\*|\d+)\]")
_HEAD = re.compile(r"[^.\[\]\s]+")
#: Longest path accepted (a path is config, but it also names fields in dead-letter headers).
MAX_PATH_CHARS = 200


class PathError(ConfigError):
    """A configured field path does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A parsed path: ``steps`` are keys (str), indices (int) or :data:`EVERY`."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        text = text.strip()
        if not text or len(text) > MAX_PATH_CHARS:
            raise PathError(f"a field path must have 1 to {MAX_PATH_CHARS} characters, got {len(text)}")
        head = _HEAD.match(text)
        if head is None:
            raise PathError(f"field path {text!r} must start with a key (e.g. comments[*].text)")
        steps: list[str | int] = [head.group()]
        pos = head.end()
        while pos < len(text):
            step = _STEP.match(text, pos)
            if step is None:
                raise PathError(f"field path {text!r}: cannot read {text[pos:]!r} (use key.key, key[*] or key[N])")
            key, index = step.groups()
            steps.append(key if key is not None else (EVERY if index == EVERY else int(index)))
            pos = step.end()
        return cls(text, tuple(steps))

    @property
    def wildcard(self) -> bool:
        return EVERY in self.steps

    @property
    def ends_in_key(self) -> bool:
        return isinstance(self.steps[-1], str) and self.steps[-1] != EVERY

    def matches(self, record: Any) -> Iterator[Match]:
        """Every value this path reaches in ``record``, in document order (iterative: no recursion)."""
        level: list[tuple[str, Any, str | int | None, Any]] = [("", None, None, record)]
        for step in self.steps:
            nxt = []
            for name, _parent, _slot, value in level:
                if isinstance(step, str) and step != EVERY:
                    if isinstance(value, dict) and step in value:
                        nxt.append((f"{name}.{step}" if name else step, value, step, value[step]))
                elif isinstance(value, list):
                    indices = range(len(value)) if step == EVERY else ([step] if step < len(value) else [])
                    nxt.extend((f"{name}[{i}]", value, i, value[i]) for i in indices)
            level = nxt
        for name, parent, slot, value in level:
            yield Match(name, parent, slot, value)


@dataclass(slots=True)
class Match:
    """One value a path reached: its concrete path and where it lives (to write it back)."""

    path: str
    parent: Any  # the dict or list holding the value
    slot: str | int
    value: Any

    def set(self, value: Any) -> None:
        self.parent[self.slot] = value

    def delete(self) -> None:
        """Drop the key from its object (JSON ``remove``); list elements are set to null instead."""
        if isinstance(self.parent, dict):
            del self.parent[self.slot]
        else:
            self.parent[self.slot] = None


def parse_paths(paths: list[str] | tuple[str, ...]) -> tuple[FieldPath, ...]:
    """Parsed paths, in order, duplicates refused (a field would be scanned twice)."""
    parsed = tuple(FieldPath.parse(p) for p in paths)
    seen = set()
    for path in parsed:
        if path.text in seen:
            raise PathError(f"field path {path.text!r} is given twice")
        seen.add(path.text)
    return parsed
