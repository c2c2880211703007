"""US Social Security numbers written with separators (``123-45-6789``, ``123 45 6789``), minus the
ranges the SSA never issues (area 000, 666, 9xx; group 00; serial 0000). Bare 9-digit runs are
not matched: too many order numbers look like them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

_SSN = re.compile(r"(?<![\w-])(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")


@dataclass(frozen=True)
class SsnRecognizer:
    name: str = "ssn"
    score: float = 0.85

    def find(self, text: str) -> list[Entity]:
        return [entity("US_SSN", m.start(), m.end(), self.score, self.name) for m in _SSN.finditer(text)
                if m.group().isascii()]
