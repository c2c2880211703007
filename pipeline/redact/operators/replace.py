"""``replace``: swap the value for a placeholder such as ``<EMAIL>``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Replace:
    """Placeholder from ``template`` (``{label}`` is the entity label), or the fixed ``value``."""

    template: str = "<{label}>"
    value: str | None = None
    name: str = "replace"
    redacts: bool = True

    def apply(self, value: str, label: str) -> str:
        if self.value is not None:
            return self.value
        return self.template.replace("{label}", label)
