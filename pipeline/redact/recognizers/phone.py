"""Phone numbers, found and validated by Google's libphonenumber (the ``phonenumbers`` port), not
by hand-written regexes: it knows every country's numbering plan, so ``+44 20 7946 0958``,
``(415) 555-0132`` and ``415.555.0132`` are found and ``2023-11-05`` is not.

Numbers in international format are found whatever the regions; national formats are tried
for each region in ``regions`` (default US and GB). ``leniency`` is the library's: ``valid``
(default) needs a number that exists in the plan; ``possible`` only a plausible length.

libphonenumber's matcher is linear (its candidates are bounded: 20 digit blocks, 4 punctuation
marks each) but each candidate costs up to ~20 ``parse`` calls of ~0.1 ms in pure Python, so a
text of short digit groups (``1/1/1/...``) costs ~0.2 ms a character. The work is therefore
budgeted: per region, at most ``BUDGET_BASE + len(text) // BUDGET_CHARS`` parse attempts
(numbers found and candidates refused together). Past the budget the rest of the text is not
given to libphonenumber and fails closed: every run of at least ``FALLBACK_DIGITS`` digits joined
by phone punctuation becomes a ``PHONE`` span with ``FALLBACK_SCORE`` (a document that dense in
numbers loses some numbers to over-redaction, never a phone number to the output).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

#: Parse attempts allowed per region: a base plus one per ``BUDGET_CHARS`` characters.
BUDGET_BASE = 256
BUDGET_CHARS = 64
#: Past the budget: runs of digits (at most two phone punctuation marks between two digits) with
#: at least this many digits are reported, with this score.
FALLBACK_DIGITS = 7
FALLBACK_SCORE = 0.5
_RUN = re.compile(r"\+?[0-9](?:[ ./()\-\u00a0]{0,2}[0-9])*")

LENIENCY = {
    "possible": phonenumbers.Leniency.POSSIBLE,
    "valid": phonenumbers.Leniency.VALID,
    "strict_grouping": phonenumbers.Leniency.STRICT_GROUPING,
}


@dataclass(frozen=True)
class PhoneRecognizer:
    regions: tuple[str, ...] = ("US", "GB")
    leniency: str = "valid"
    name: str = "phone"
    score: float = 0.85

    def __post_init__(self) -> None:
        if self.leniency not in LENIENCY:
            raise PolicyError(f"phone leniency must be one of {sorted(LENIENCY)}", field="phone_leniency")
        supported = phonenumbers.SUPPORTED_REGIONS
        unknown = [r for r in self.regions if r not in supported]
        if unknown or not self.regions:
            raise PolicyError(f"unknown phone regions {unknown}; use ISO 3166 codes such as US, GB, DE",
                              field="phone_regions")

    def find(self, text: str) -> list[Entity]:
        if sum(c.isdigit() for c in text) < 5:
            return []
        spans: dict[tuple[int, int], Entity] = {}
        budget = BUDGET_BASE + len(text) // BUDGET_CHARS
        for region in self.regions:
            matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=LENIENCY[self.leniency],
                                                      max_tries=budget)
            found, scanned_to = 0, 0
            for match in matcher:
                key = (match.start, match.end)
                spans.setdefault(key, entity("PHONE", match.start, match.end, self.score, self.name))
                found, scanned_to = found + 1, match.end
                if found + _refused(matcher, budget) >= budget:
                    break
            if found + _refused(matcher, budget) >= budget:  # out of budget: the rest fails closed
                for run in _RUN.finditer(text, scanned_to):
                    if sum(c.isdigit() for c in run.group()) >= FALLBACK_DIGITS:
                        key = run.span()
                        spans.setdefault(key, Entity("PHONE", *key, FALLBACK_SCORE, f"pattern:{self.name}"))
        return sorted(spans.values(), key=lambda e: (e.start, e.end))


def _refused(matcher: phonenumbers.PhoneNumberMatcher, budget: int) -> int:
    """Candidates the matcher has refused so far: ``max_tries`` minus what it has left (the
    library keeps the count in ``_max_tries``; ``tests/unit/redact/test_phone_budget.py`` pins that)."""
    return budget - matcher._max_tries
