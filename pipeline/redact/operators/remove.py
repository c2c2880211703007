"""``remove``: delete the value (the text around it is left as it was)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Remove:
    name: str = "remove"
    redacts: bool = True

    def apply(self, value: str, label: str) -> str:
        return ""
