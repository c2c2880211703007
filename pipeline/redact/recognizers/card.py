"""Payment card numbers: 13-19 digits (optionally grouped by single spaces or dashes), a known
network prefix (2-6, or JCB's 15-digit 1800/2131; 12-digit Maestro only with its own IINs) and a
valid Luhn checksum.

Candidates are runs of digit groups; inside a run every window of whole groups holding 12 to 19
digits is tried, longest first, so ``call 415 555 0132 4111 1111 1111 1111`` still yields the
card. The work is linear in the run's length by construction: prefix tables over the run's
digits give any window's Luhn sum, separators and "all one digit" in O(1), and from each group
at most 8 windows (12..19 digits) are looked at, so ``1 1 1 ...`` costs a few microseconds a
group whatever its length (it was every window, each rebuilt: cubic)."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import accumulate

from pipeline.redact.recognizers.base import RegexRecognizer

_GROUP = re.compile(r"[0-9]+")
#: Card number lengths (ISO/IEC 7812; 12 only for Maestro's own IINs).
MIN_DIGITS, MAX_DIGITS = 12, 19
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: a doubled digit's contribution


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _DOUBLED[d] if i % 2 else d
    return total % 10 == 0


#: Maestro issuer prefixes that also issue 12-digit cards (a bare 12-digit run is too common otherwise).
MAESTRO_12 = ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763")


def _prefix_ok(digits: str) -> bool:
    """``digits``: the number (or, from ``_Run``, its first four digits padded by its length)."""
    if len(digits) == 12:
        return digits[:4] in MAESTRO_12
    if len(digits) == 15 and digits[:4] in ("1800", "2131"):  # JCB
        return True
    return 13 <= len(digits) <= 19 and digits[0] in "23456"


class _Run:
    """One run of digit groups (``4111 1111 1111 1111``, ``1-1-1-...``) with prefix tables, so
    that a window of groups ``[i, j)`` is checked in O(1): its digit count, whether it mixes
    ``-`` and space separators, whether it is one digit repeated, and its Luhn sum."""

    def __init__(self, text: str, start: int, end: int) -> None:
        groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, start, end)]
        self.spans = groups
        self.digits = digits = "".join(text[a:b] for a, b in groups)
        #: digit offset of group k's first digit (k = len(groups): the total)
        self.offsets = list(accumulate((b - a for a, b in groups), initial=0))
        #: dashes among the separators before groups 1..k
        self.dashes = list(accumulate((text[a - 1] == "-" for a, _ in groups[1:]), initial=0))
        values = [ord(c) - 48 for c in digits]
        #: Luhn sums of digits[:k] with even (resp. odd) positions doubled
        self.luhn = (
            list(accumulate((_DOUBLED[v] if p % 2 == 0 else v for p, v in enumerate(values)), initial=0)),
            list(accumulate((_DOUBLED[v] if p % 2 else v for p, v in enumerate(values)), initial=0)),
        )
        #: start of the stretch of one repeated digit that position p belongs to
        same = [0] * len(digits)
        for p in range(1, len(digits)):
            same[p] = same[p - 1] if digits[p] == digits[p - 1] else p
        self.same = same

    def is_card(self, i: int, j: int) -> bool:
        """Do groups ``[i, j)`` form a card number?"""
        a, b = self.offsets[i], self.offsets[j]
        dashes, separators = self.dashes[j - 1] - self.dashes[i], j - 1 - i
        return (
            _prefix_ok(self.digits[a : a + 4].ljust(b - a, "0"))
            and not (0 < dashes < separators)  # one kind of separator: all spaces or all dashes
            and self.same[b - 1] > a  # not one digit repeated
            and (self.luhn[b % 2][b] - self.luhn[b % 2][a]) % 10 == 0  # the last digit is never doubled
        )

    def longest_card(self, i: int) -> int:
        """End group (exclusive) of the longest card number starting at group ``i``, or ``i``."""
        if self.digits[self.offsets[i]] not in "123456":  # no card network starts otherwise
            return i
        base = self.offsets[i]
        lo = bisect_left(self.offsets, base + MIN_DIGITS, i + 1)
        hi = bisect_right(self.offsets, base + MAX_DIGITS, i + 1)
        for j in range(hi - 1, lo - 1, -1):
            if self.is_card(i, j):
                return j
        return i


class CardRecognizer(RegexRecognizer):
    name = "card"
    label = "CREDIT_CARD"
    score = 0.99
    patterns = (re.compile(r"(?<![\w-])[0-9]+(?:[ -][0-9]+)*(?![\w-])"),)  # a run of digit groups

    def spans(self, match: re.Match[str]) -> Iterator[tuple[int, int]]:
        """Card numbers among the run's groups: from each group, the longest window that is one."""
        if match.group().isdigit():  # one group (most runs): no tables to build
            digits = match.group()
            if _prefix_ok(digits) and len(set(digits)) > 1 and luhn_ok(digits):
                yield match.span()
            return
        run = _Run(match.string, match.start(), match.end())
        i = 0
        while i < len(run.spans):
            j = run.longest_card(i)
            if j > i:
                yield run.spans[i][0], run.spans[j - 1][1]
                i = j
            else:
                i += 1
