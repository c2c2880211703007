"""URLs with a scheme (``https://``, ``ftp://``) or starting ``www.``; trailing punctuation and an
unbalanced closing bracket are left out, so ``(see https://x.org/a).`` yields ``https://x.org/a``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.redact.recognizers.base import RegexRecognizer

_TRAILING = ".,;:!?'\""


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        unbalanced = last in ")]" and url.count("(" if last == ")" else "[") < url.count(last)
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


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
