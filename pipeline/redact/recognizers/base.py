"""The recognizer contract and ``RegexRecognizer``, the one base every pattern recognizer declares.

A recognizer is text in, ``Entity`` spans out (``source="pattern:<name>"``). Recognizers cover
structured PII that a token classifier misses or splits (long digit runs, e-mail addresses cut
into sub-words). Each validates what it finds (Luhn, mod-97, ``ipaddress``) rather than trusting
a regex alone, and reports its own score: a checksum-validated match scores higher than a
format-only one.

As in Presidio's ``PatternRecognizer``, the loop (cheap pre-check, match, validate, trim, build
the span) lives once in ``RegexRecognizer.find``; a recognizer is a declaration: its name,
label, score, patterns and, where needed, a ``validate`` hook (``False`` drops a match) and a
``spans`` hook (the span(s) a match stands for: a URL without its trailing punctuation, the
card number among a run of digit groups, an IBAN cut at its country's length). ``phone`` is not
regex-shaped (libphonenumber's matcher finds and validates numbers), so it implements ``find``
itself and still satisfies ``Recognizer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol, runtime_checkable

from pipeline.spans import Entity


@runtime_checkable
class Recognizer(Protocol):
    name: str

    def find(self, text: str) -> list[Entity]:
        """Spans of ``text`` this recognizer is confident about, offsets into ``text``."""
        ...


def entity(label: str, start: int, end: int, score: float, name: str) -> Entity:
    return Entity(label, start, end, score, f"pattern:{name}")


class RegexRecognizer:
    """Spans matched by ``patterns`` and accepted by ``validate``, labelled ``label``.

    Subclasses declare class attributes and, optionally, override the hooks:

    - ``patterns``: compiled regexes; every match of each is a candidate;
    - ``requires``: characters of which at least one must be in the text (a cheap pre-check,
      e.g. ``"@"`` for e-mail), empty for none;
    - ``validate(match) -> bool``: checksum or library check; ``False`` drops the candidate;
    - ``spans(match) -> [(start, end), ...]``: the spans to report for a valid match (default:
      the match itself).

    Spans of one pattern never overlap: a match starting inside a span already reported is skipped.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    score: ClassVar[float]
    patterns: ClassVar[Sequence[re.Pattern[str]]]
    requires: ClassVar[str] = ""

    def validate(self, match: re.Match[str]) -> bool:
        return True

    def spans(self, match: re.Match[str]) -> Iterable[tuple[int, int]]:
        return ((match.start(), match.end()),)

    def find(self, text: str) -> list[Entity]:
        if self.requires and not any(ch in text for ch in self.requires):
            return []
        out: list[Entity] = []
        for pattern in self.patterns:
            reported = 0
            for match in pattern.finditer(text):
                if match.start() < reported or not self.validate(match):
                    continue
                for start, end in self.spans(match):
                    if end > start:
                        out.append(entity(self.label, start, end, self.score, self.name))
                        reported = max(reported, end)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, label={self.label!r})"
