"""US Social Security numbers written with separators (``123-45-6789``, ``123 45 6789``), minus the
ranges the SSA never issues (area 000, 666, 9xx; group 00; serial 0000). Bare 9-digit runs and
dotted ones (``123456789``, ``123.45.6789``) only next to an SSN context word (``SSN``,
``social security``, ``SS#``) a few words before them: on their own too many order numbers
look like them. The context window is bounded, so the check is linear in the text."""

from __future__ import annotations

import re

from pipeline.redact.recognizers.base import RegexRecognizer

_SEPARATED = re.compile(r"(?<![\w-])(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_BARE = re.compile(r"(?<![\w.-])(?!000|666|9)\d{3}(\.?)(?!00)\d{2}\1(?!0000)\d{4}(?![\w-]|\.\d)")
_CONTEXT = re.compile(r"\b(?:ssn|ss#|ss no|social security(?: number| no)?|soc\.? sec\.?)", re.IGNORECASE)
#: Characters before a bare number searched for a context word.
CONTEXT_CHARS = 40


class SsnRecognizer(RegexRecognizer):
    name = "ssn"
    label = "US_SSN"
    score = 0.85
    patterns = (_SEPARATED, _BARE)

    def validate(self, match: re.Match[str]) -> bool:
        if not match.group().isascii():  # \d also matches other scripts' digits
            return False
        if match.re is _SEPARATED:
            return True
        before = match.string[max(0, match.start() - CONTEXT_CHARS) : match.start()]
        return _CONTEXT.search(before) is not None
