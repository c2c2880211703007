"""Pattern recognizers, one module each, switched on and off by name.

Names: ``email``, ``phone``, ``card`` (Luhn), ``iban`` (mod-97), ``ssn`` (US), ``ip`` (v4/v6),
``url`` (the default set, ``RECOGNIZERS``), and ``spacy`` (spaCy's English NER for names; optional,
needs the ``spacy`` extra; imported only when asked for). Their spans join the model's before
conflict resolution, so a pattern span and a model span over the same number become one replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers.base import Recognizer, RegexRecognizer
from pipeline.redact.recognizers.card import CardRecognizer
from pipeline.redact.recognizers.email import EmailRecognizer
from pipeline.redact.recognizers.iban import IbanRecognizer
from pipeline.redact.recognizers.ip import IpRecognizer
from pipeline.redact.recognizers.phone import PhoneRecognizer
from pipeline.redact.recognizers.ssn import SsnRecognizer
from pipeline.redact.recognizers.url import UrlRecognizer

#: The default recognizers.
RECOGNIZERS: tuple[str, ...] = ("email", "phone", "card", "iban", "ssn", "ip", "url")
#: Every recognizer name ``build_recognizers`` accepts.
AVAILABLE: tuple[str, ...] = (*RECOGNIZERS, "spacy")


def build_recognizers(
    names: Iterable[str] = RECOGNIZERS,
    *,
    phone_regions: Sequence[str] = ("US", "GB"),
    phone_leniency: str = "valid",
    spacy_labels: Sequence[str] = ("PERSON",),
) -> list[Recognizer]:
    """Recognizers by name, in the order given; unknown names raise ``PolicyError``."""
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise PolicyError(f"unknown recognizers {unknown}; choose from {list(AVAILABLE)}", field="recognizers")
    factories = {
        "email": EmailRecognizer,
        "phone": lambda: PhoneRecognizer(tuple(r.upper() for r in phone_regions), phone_leniency),
        "card": CardRecognizer,
        "iban": IbanRecognizer,
        "ssn": SsnRecognizer,
        "ip": IpRecognizer,
        "url": UrlRecognizer,
        "spacy": lambda: _spacy(spacy_labels),
    }
    return [factories[n]() for n in names]


def _spacy(labels: Sequence[str]) -> Recognizer:
    from pipeline.redact.recognizers.spacy_ner import SpacyRecognizer  # imports spaCy: only when asked for

    return SpacyRecognizer(tuple(label.strip().upper() for label in labels))


__all__ = [
    "AVAILABLE",
    "RECOGNIZERS",
    "CardRecognizer",
    "EmailRecognizer",
    "IbanRecognizer",
    "IpRecognizer",
    "PhoneRecognizer",
    "Recognizer",
    "RegexRecognizer",
    "SsnRecognizer",
    "UrlRecognizer",
    "build_recognizers",
]
