"""The recognizer contract: text in, ``Entity`` spans out (``source="pattern:<name>"``).

Recognizers cover structured PII that a token classifier misses or splits (long digit runs,
e-mail addresses cut into sub-words). Each validates what it finds (Luhn, mod-97,
``ipaddress``, ``phonenumbers``) rather than trusting a regex alone, and reports its own score:
a checksum-validated match scores higher than a format-only one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pipeline.spans import Entity


@runtime_checkable
class Recognizer(Protocol):
    name: str

    def find(self, text: str) -> list[Entity]:
        """Spans of ``text`` this recognizer is confident about, offsets into ``text``."""
        ...


def entity(label: str, start: int, end: int, score: float, name: str) -> Entity:
    return Entity(label, start, end, score, f"pattern:{name}")
