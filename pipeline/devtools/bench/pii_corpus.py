"""Synthetic PII corpora for ``bench redact``: texts with every planted value's type and offsets.

Three corpora, each reproducible from ``(n, seed)``:

- ``business``: the original bench corpus's templates (Faker en_US/en_GB, short business
  messages), for docs/s on the kind of text the earlier figures used.
- ``dev``: the development corpus the recall thresholds were chosen on: the business messages
  plus prose that does not look like a form (dialogue transcripts with repeated speakers, song
  reviews, news sentences, lists of founders), names from Faker's en, de, cs, es, no and hr
  locales.
- ``heldout``: for checking, never for tuning: a different generator (mimesis, other locales),
  other templates (meeting minutes, chat logs, citations, match reports, letters), other seed.

No recognizer is built from these generators' name lists (that would measure the generator).

Templates hold placeholders ``{kind}`` or ``{kind:ref}``; the same ``ref`` in one document
repeats one value (a speaker on several lines), and ``{first:r}`` / ``{last:r}`` after ``{name:r}``
are that person's given name / surname. Kinds: ``name`` (given + surname), ``first``,
``last``, ``email``, ``phone``, ``card``, ``iban``, ``ssn``, ``address``, ``ip``; ``first`` and
``last`` are reported as type ``name``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.devtools.bench.pii_templates import BUSINESS, DEV_PROSE, FILLER, HELDOUT, HELDOUT_FILLER

TYPES: tuple[str, ...] = ("name", "email", "phone", "card", "iban", "ssn", "address", "ip")
CORPORA: tuple[str, ...] = ("business", "dev", "heldout")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")
_KIND_TYPE = {"first": "name", "last": "name"}


class Planted(NamedTuple):
    kind: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    text: str
    #: Planted values in order of appearance, with their offsets into ``text``.
    planted: tuple[Planted, ...]
    #: ``(start, end)`` of tokens that are never PII (bug numbers, versions, paths: the real
    #: corpus); a redaction touching one is a false positive.
    technical: tuple[tuple[int, int], ...] = ()


Values = Callable[[str], str]


def _fill(templates: list[str], values: Values, filler: tuple[str, ...], rng: random.Random) -> Document:
    text, planted, refs = "", [], {}
    for template in templates:
        if text:
            text += " " if "\n" not in template else "\n\n"
        pos = 0
        for match in _PLACEHOLDER.finditer(template):
            text += template[pos : match.start()]
            kind, ref = match.group(1), match.group(2)
            value = refs.get((kind, ref)) if ref else None
            if value is None and ref and kind in ("first", "last") and ("name", ref) in refs:
                first, _, last = refs[("name", ref)].partition(" ")  # the same person's given name / surname
                value = first if kind == "first" else last
            if value is None:
                value = values(kind)
                if ref:
                    refs[(kind, ref)] = value
            planted.append(Planted(_KIND_TYPE.get(kind, kind), value, len(text), len(text) + len(value)))
            text += value
            pos = match.end()
        text += template[pos:]
        if rng.random() < 0.5:
            text += " " + rng.choice(filler)
    return Document(text, tuple(planted))


def _by_kind(makers: dict[str, Callable[[], str]]) -> Values:
    def value(kind: str) -> str:
        if kind not in makers:
            raise ValueError(f"unknown PII kind {kind!r}")
        return makers[kind]()

    return value


def _faker_values(seed: int, locales: tuple[str, ...], rng: random.Random) -> Callable[[], Values]:
    from faker import Faker

    fakers = {loc: Faker(loc) for loc in locales}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed * 1000 + i)
    us = fakers["en_US"]

    def for_doc() -> Values:
        fake = fakers[rng.choice(locales)]
        contact = fakers[rng.choice(("en_US", "en_US", "en_GB"))]  # phones, addresses: US/UK formats

        def card() -> str:
            digits = us.credit_card_number()
            if rng.random() < 0.5 and len(digits) == 16:  # half written in groups of four
                return " ".join(digits[i : i + 4] for i in range(0, 16, 4))
            return digits

        return _by_kind({
            "name": lambda: f"{fake.first_name()} {fake.last_name()}", "first": fake.first_name,
            "last": fake.last_name, "email": fake.email, "phone": contact.phone_number, "card": card,
            "iban": contact.iban, "ssn": us.ssn, "ip": us.ipv4_public,
            "address": lambda: f"{contact.street_address()}, {contact.city()}".replace("\n", ", "),
        })


    return for_doc


def business(n: int, seed: int = 5) -> list[Document]:
    """The original ``bench redact`` corpus (same texts for the same ``n`` and ``seed``)."""
    rng = random.Random(seed)
    values = _faker_values(seed, ("en_US", "en_GB"), rng)
    docs = []
    for _ in range(n):
        # the original corpus drew the locale first (en_US twice as often), then 1-3 templates
        for_doc = values()
        docs.append(_fill(rng.sample(BUSINESS, rng.randint(1, 3)), for_doc, FILLER, rng))
    return docs


def dev(n: int, seed: int = 5) -> list[Document]:
    """Business messages and prose, names from six Faker locales."""
    rng = random.Random(seed)
    values = _faker_values(seed, ("en_US", "en_GB", "de_DE", "cs_CZ", "es_ES", "no_NO", "hr_HR"), rng)
    docs = []
    for _ in range(n):
        pool = DEV_PROSE if rng.random() < 0.6 else BUSINESS
        docs.append(_fill(rng.sample(pool, rng.randint(1, 2)), values(), FILLER, rng))
    return docs


def _iban(rng: random.Random) -> str:
    """A valid German or British IBAN (mod-97 check digits computed here)."""
    country, body = rng.choice((("DE", lambda: "".join(rng.choices("0123456789", k=18))),
                                ("GB", lambda: "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=4))
                                 + "".join(rng.choices("0123456789", k=14)))))
    bban = body()
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(digits) % 97:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def heldout(n: int, seed: int = 2027) -> list[Document]:
    """Held-out corpus: mimesis, other locales and templates. Not for tuning."""
    from mimesis import Address, Internet, Locale, Payment, Person

    rng = random.Random(seed)
    locales = (Locale.EN, Locale.EN, Locale.EN_GB, Locale.FR, Locale.IT, Locale.PL, Locale.NL, Locale.SV,
               Locale.PT, Locale.TR, Locale.SK, Locale.FI)
    people = {loc: Person(loc, seed=seed + i) for i, loc in enumerate(locales)}
    places = {loc: Address(loc, seed=seed + 100 + i) for i, loc in enumerate((Locale.EN, Locale.EN_GB))}
    payment, internet = Payment(seed=seed), Internet(seed=seed)
    docs = []
    for _ in range(n):
        person = people[rng.choice(locales)]
        place_locale = rng.choice((Locale.EN, Locale.EN_GB))
        place, phone_person = places[place_locale], people[place_locale]

        value = _by_kind({
            "name": person.full_name, "first": person.first_name, "last": person.last_name,
            "email": person.email, "phone": phone_person.phone_number, "card": payment.credit_card_number,
            "iban": lambda: _iban(rng), "ssn": lambda: _ssn(rng), "ip": internet.ip_v4,
            "address": lambda place=place: f"{place.address()}, {place.city()}",
        })
        docs.append(_fill(rng.sample(HELDOUT, rng.randint(1, 2)), value, HELDOUT_FILLER, rng))
    return docs


def corpus(name: str, n: int, seed: int | None = None) -> list[Document]:
    """``n`` documents of corpus ``name`` (``business``, ``dev`` or ``heldout``)."""
    makers = {"business": business, "dev": dev, "heldout": heldout}
    if name not in makers:
        raise ValueError(f"unknown corpus {name!r}; choose one of {CORPORA}")
    return makers[name](n) if seed is None else makers[name](n, seed)
