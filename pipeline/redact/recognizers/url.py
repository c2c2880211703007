"""URLs with a scheme (``https://``, ``ftp://``) or starting ``www.``; trailing punctuation and an
unbalanced closing bracket are left out, so ``(see https://x.org/a).`` yields ``https://x.org/a``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.redact.recognizers.base import RegexRecognizer

_TRAILING = ".,;:!?'\""


def _trim(url: str) -> str:
    """``url`` without trailing punctuation and unbalanced closing brackets, in one pass from
    the end (bracket counts are taken once and updated, so ``http://x.org/)))...`` is linear)."""
    opens = {")": url.count("("), "]": url.count("[")}
    closes = {")": url.count(")"), "]": url.count("]")}
    end = len(url)
    while end:
        last = url[end - 1]
        unbalanced = last in closes and opens[last] < closes[last]
        if last not in _TRAILING and not unbalanced:
            break
        if last in closes:
            closes[last] -= 1
        end -= 1
    return url[:end]


class UrlRecognizer(RegexRecognizer):
    name = "url"
    label = "URL"
    score = 0.8
    patterns = (re.compile(r"(?<![\w@])(?:(?:https?|ftps?|wss?)://|www\.)[^\s<>\"'`]+", re.IGNORECASE),)

    def spans(self, match: re.Match[str]) -> Iterable[tuple[int, int]]:
        url = _trim(match.group())
        if len(url) > len("www.") and "." in url.split("://", 1)[-1]:
            return ((match.start(), match.start() + len(url)),)
        return ()
