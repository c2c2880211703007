"""Payment card numbers: 13-19 digits (optionally grouped by single spaces or dashes), a known
network prefix (2-6, or JCB's 15-digit 1800/2131; 12-digit Maestro only with its own IINs) and a
valid Luhn checksum.

Candidates are runs of digit groups; inside a run every window of whole groups is tried,
longest first, so ``call 415 555 0132 4111 1111 1111 1111`` still yields the card."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipeline.redact.recognizers.base import RegexRecognizer

_GROUP = re.compile(r"[0-9]+")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: Maestro issuer prefixes that also issue 12-digit cards (a bare 12-digit run is too common otherwise).
MAESTRO_12 = ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763")


def _prefix_ok(digits: str) -> bool:
    if len(digits) == 12:
        return digits[:4] in MAESTRO_12
    if len(digits) == 15 and digits[:4] in ("1800", "2131"):  # JCB
        return True
    return 13 <= len(digits) <= 19 and digits[0] in "23456"


def _is_card(raw: str) -> bool:
    digits = raw.replace(" ", "").replace("-", "")
    return (
        _prefix_ok(digits)
        and not ("-" in raw and " " in raw)
        and len(set(digits)) > 1
        and luhn_ok(digits)
    )


class CardRecognizer(RegexRecognizer):
    name = "card"
    label = "CREDIT_CARD"
    score = 0.99
    patterns = (re.compile(r"(?<![\w-])[0-9]+(?:[ -][0-9]+)*(?![\w-])"),)  # a run of digit groups

    def spans(self, match: re.Match[str]) -> Iterator[tuple[int, int]]:
        """Card numbers among the run's groups: from each group, the longest window that is one."""
        text = match.string
        groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, match.start(), match.end())]
        i = 0
        while i < len(groups):
            for j in range(len(groups), i, -1):
                start, end = groups[i][0], groups[j - 1][1]
                if _is_card(text[start:end]):
                    yield start, end
                    i = j
                    break
            else:
                i += 1
