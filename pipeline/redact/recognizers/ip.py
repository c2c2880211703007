"""IPv4 and IPv6 addresses: regex candidates, validated by the standard library's ``ipaddress``
(which rejects ``999.1.1.1``, leading zeros and clock times such as ``10:30:00``)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pipeline.redact.recognizers.base import entity
from pipeline.spans import Entity

_V4 = re.compile(r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_V6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"  # hex groups (an empty one is "::")
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?"  # an embedded IPv4 tail (::ffff:10.0.0.1)
    r"(?![\w:]|\.\d)"
)


@dataclass(frozen=True)
class IpRecognizer:
    name: str = "ip"
    score: float = 0.9

    def find(self, text: str) -> list[Entity]:
        out = []
        for m in _V4.finditer(text):
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            out.append(entity("IP_ADDRESS", m.start(), m.end(), self.score, self.name))
        if ":" in text:
            for m in _V6.finditer(text):
                candidate = m.group()
                if not any(c in "0123456789abcdefABCDEF" for c in candidate):
                    continue
                try:
                    ipaddress.IPv6Address(candidate)
                except ValueError:
                    continue
                out.append(entity("IP_ADDRESS", m.start(), m.end(), self.score, self.name))
        return out
