"""E-mail addresses (Unicode local parts and domains; the domain needs a dot and a 2+ letter TLD)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)


@dataclass(frozen=True)
class EmailRecognizer:
    name: str = "email"
    score: float = 0.95

    def find(self, text: str) -> list[Entity]:
        if "@" not in text:
            return []
        return [entity("EMAIL", m.start(), m.end(), self.score, self.name) for m in _EMAIL.finditer(text)]
