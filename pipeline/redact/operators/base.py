"""The operator contract: how one detected value is rewritten.

Operators see the value and its label only, never the rest of the document, so they are
trivially testable and cannot leak context. ``redacts`` tells the anonymizer whether the
operator removes the original value (every operator except ``keep``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Operator(Protocol):
    name: str
    redacts: bool

    def apply(self, value: str, label: str) -> str:
        """The replacement for ``value`` (a span of the original text labelled ``label``)."""
        ...
