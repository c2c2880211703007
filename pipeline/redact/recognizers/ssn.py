"""US Social Security numbers written with separators (``123-45-6789``, ``123 45 6789``), minus the
ranges the SSA never issues (area 000, 666, 9xx; group 00; serial 0000). Bare 9-digit runs are
not matched: too many order numbers look like them."""

from __future__ import annotations

import re

from pipeline.redact.recognizers.base import RegexRecognizer


class SsnRecognizer(RegexRecognizer):
    name = "ssn"
    label = "US_SSN"
    score = 0.85
    patterns = (re.compile(r"(?<![\w-])(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])"),)

    def validate(self, match: re.Match[str]) -> bool:
        return match.group().isascii()  # \d also matches other scripts' digits
