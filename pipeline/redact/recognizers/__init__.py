"""Pattern recognizers, one module each, switched on and off by name.

Names: ``email``, ``phone``, ``card`` (Luhn), ``iban`` (mod-97), ``ssn`` (US), ``ip`` (v4/v6),
``url``. Their spans join the model's before conflict resolution, so a pattern span and a
model span over the same number become one replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers.base import Recognizer
from pipeline.redact.recognizers.card import CardRecognizer
from pipeline.redact.recognizers.email import EmailRecognizer
from pipeline.redact.recognizers.iban import IbanRecognizer
from pipeline.redact.recognizers.ip import IpRecognizer
from pipeline.redact.recognizers.phone import PhoneRecognizer
from pipeline.redact.recognizers.ssn import SsnRecognizer
from pipeline.redact.recognizers.url import UrlRecognizer

RECOGNIZERS: tuple[str, ...] = ("email", "phone", "card", "iban", "ssn", "ip", "url")


def build_recognizers(
    names: Iterable[str] = RECOGNIZERS,
    *,
    phone_regions: Sequence[str] = ("US", "GB"),
    phone_leniency: str = "valid",
) -> list[Recognizer]:
    """Recognizers by name, in the order given; unknown names raise ``PolicyError``."""
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in names if n not in RECOGNIZERS]
    if unknown:
        raise PolicyError(f"unknown recognizers {unknown}; choose from {list(RECOGNIZERS)}", field="recognizers")
    factories = {
        "email": EmailRecognizer,
        "phone": lambda: PhoneRecognizer(tuple(r.upper() for r in phone_regions), phone_leniency),
        "card": CardRecognizer,
        "iban": IbanRecognizer,
        "ssn": SsnRecognizer,
        "ip": IpRecognizer,
        "url": UrlRecognizer,
    }
    return [factories[n]() for n in names]


__all__ = ["RECOGNIZERS", "CardRecognizer", "EmailRecognizer", "IbanRecognizer", "IpRecognizer",
           "PhoneRecognizer", "Recognizer", "SsnRecognizer", "UrlRecognizer", "build_recognizers"]
