"""E-mail addresses (Unicode local parts and domains; the domain needs a dot and a 2+ letter TLD),
and obfuscated ones (``john [at] example [dot] com``, ``john(at)example(dot)com``,
``john {at} example.com``), reported whole: a half-redacted address still names its owner.

Both patterns are linear: the local part is anchored after a non-address character, each
repetition of an obfuscated part starts with a bracket or a dot, and an obfuscated address has at
most seven dotted parts on each side of its ``at`` (so a run of ``a [dot] a [dot] ...`` costs a
bounded amount per word, not the rest of the text).
"""

from __future__ import annotations

import re

from pipeline.redact.recognizers.base import RegexRecognizer

_PLAIN = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)
_AT = r"\s?[\[({<]\s?at\s?[\])}>]\s?"
_DOT = r"(?:\s?[\[({<]\s?dot\s?[\])}>]\s?|\.)"
_OBFUSCATED = re.compile(
    r"(?<![\w.+-])[\w+-]+(?:" + _DOT + r"[\w+-]+){0,6}" + _AT
    + r"[^\W_][\w-]*(?:" + _DOT + r"[^\W_][\w-]*){0,6}" + _DOT + r"[^\W\d_]{2,}(?![\w-])",
    re.IGNORECASE,
)


class EmailRecognizer(RegexRecognizer):
    name = "email"
    label = "EMAIL"
    score = 0.95
    requires = "@[({<"
    patterns = (_PLAIN, _OBFUSCATED)
