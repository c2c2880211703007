"""Phone numbers, found and validated by Google's libphonenumber (the ``phonenumbers`` port), not
by hand-written regexes: it knows every country's numbering plan, so ``+44 20 7946 0958``,
``(415) 555-0132`` and ``415.555.0132`` are found and ``2023-11-05`` is not.

Numbers in international format are found whatever the regions; national formats are tried
for each region in ``regions`` (default US and GB). ``leniency`` is the library's: ``valid``
(default) needs a number that exists in the plan; ``possible`` only a plausible length.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

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
        for region in self.regions:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=LENIENCY[self.leniency]):
                key = (match.start, match.end)
                spans.setdefault(key, entity("PHONE", match.start, match.end, self.score, self.name))
        return sorted(spans.values(), key=lambda e: (e.start, e.end))
