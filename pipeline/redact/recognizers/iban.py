"""IBANs, compact or in groups of four (``DE89 3704 0044 0532 0130 00``), validated by the ISO 13616
mod-97 check. The country's registered length decides where the IBAN ends, so an upper-case
word after it (``... 0130 00 AND``) is not swallowed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.redact.recognizers.base import RegexRecognizer

#: IBAN length per country (SWIFT IBAN registry).
LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_BODY = re.compile(r"[A-Z0-9]")


def mod97_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _end(text: str, start: int, length: int) -> int | None:
    """End offset after ``length`` IBAN characters, allowing single spaces between them."""
    i, taken = start, 0
    while taken < length:
        if i < len(text) and text[i] == " " and taken and i + 1 < len(text) and text[i + 1] != " ":
            i += 1
        if i >= len(text) or not _BODY.match(text, i) or not text[i].isascii():
            return None
        i += 1
        taken += 1
    if i < len(text) and (text[i].isalnum() or text[i] == "_"):
        return None
    return i


class IbanRecognizer(RegexRecognizer):
    name = "iban"
    label = "IBAN"
    score = 0.99
    #: A country code and check digits; the body is read by ``spans`` up to the country's length.
    patterns = (re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})(?= ?[A-Z0-9])"),)

    def validate(self, match: re.Match[str]) -> bool:
        return match.group(1) in LENGTHS

    def spans(self, match: re.Match[str]) -> Iterable[tuple[int, int]]:
        end = _end(match.string, match.start(), LENGTHS[match.group(1)])
        if end is not None and mod97_ok(match.string[match.start() : end].replace(" ", "")):
            return ((match.start(), end),)
        return ()
