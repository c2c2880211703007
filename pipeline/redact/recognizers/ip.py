"""IPv4 and IPv6 addresses: regex candidates, validated by the standard library's ``ipaddress``
(which rejects ``999.1.1.1``, leading zeros and clock times such as ``10:30:00``)."""

from __future__ import annotations

import ipaddress
import re

from pipeline.redact.recognizers.base import RegexRecognizer

# not followed by a Debian revision or suffix (``1.2.5.1-1``, ``1.2.3.4+dfsg``, ``1.2.3.4~rc1``): a
# version; a range's second address (``10.0.0.1-10.0.0.9``) has a dot after its digits, so it stays
_V4 = re.compile(r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d|-\d+(?![\d.])|[+~][A-Za-z0-9])")
_V6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"  # hex groups (an empty one is "::")
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?"  # an embedded IPv4 tail (::ffff:10.0.0.1)
    r"(?![\w:]|\.\d)"
)
_VERSION_BEFORE = re.compile(r"(?:version|release|[^\w]v)(?:\s+(?:to|is|of|now))?[\s:=]*\(?$", re.IGNORECASE)
_HEX = frozenset("0123456789abcdefABCDEF")


class IpRecognizer(RegexRecognizer):
    name = "ip"
    label = "IP_ADDRESS"
    score = 0.9
    requires = ".:"
    patterns = (_V4, _V6)

    def validate(self, match: re.Match[str]) -> bool:
        candidate = match.group()
        if _VERSION_BEFORE.search(match.string, max(0, match.start() - 24), match.start()):
            return False  # "Standards-Version: 4.5.0.2", "version 1.2.7.1": a version, not an address
        try:
            if match.re is _V4:
                ipaddress.IPv4Address(candidate)
            elif not _HEX.intersection(candidate):
                return False
            else:
                ipaddress.IPv6Address(candidate)
        except ValueError:
            return False
        return True
