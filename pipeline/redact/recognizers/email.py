"""E-mail addresses (Unicode local parts and domains; the domain needs a dot and a 2+ letter TLD)."""

from __future__ import annotations

import re

from pipeline.redact.recognizers.base import RegexRecognizer


class EmailRecognizer(RegexRecognizer):
    name = "email"
    label = "EMAIL"
    score = 0.95
    requires = "@"
    patterns = (re.compile(
        r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
        r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
        r"@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
    ),)
