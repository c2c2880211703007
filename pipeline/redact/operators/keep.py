"""``keep``: leave the value in place but still report the entity (e.g. keep CITY for analytics)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keep:
    name: str = "keep"
    redacts: bool = False

    def apply(self, value: str, label: str) -> str:
        return value
