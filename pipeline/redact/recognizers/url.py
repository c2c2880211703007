"""URLs with a scheme (``https://``, ``ftp://``) or starting ``www.``; trailing punctuation and an
unbalanced closing bracket are left out, so ``(see https://x.org/a).`` yields ``https://x.org/a``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

_URL = re.compile(r"(?<![\w@])(?:(?:https?|ftps?|wss?)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        unbalanced = last in ")]" and url.count("(" if last == ")" else "[") < url.count(last)
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


@dataclass(frozen=True)
class UrlRecognizer:
    name: str = "url"
    score: float = 0.8

    def find(self, text: str) -> list[Entity]:
        out = []
        for m in _URL.finditer(text):
            url = _trim(m.group())
            if len(url) > len("www.") and "." in url.split("://", 1)[-1]:
                out.append(entity("URL", m.start(), m.start() + len(url), self.score, self.name))
        return out
