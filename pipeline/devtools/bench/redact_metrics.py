"""What ``bench redact`` counts, from the planted values' offsets and the redacted spans' offsets.

Every system reports the spans it rewrote as offsets into the original text, so everything is
counted by position, per planted occurrence (a speaker named on three lines is three values):

- ``leak_rate``: planted values left wholly visible (no character redacted) / planted;
- ``partial_leak_rate``: planted values with at least one word (3+ letters or digits) left
  wholly visible (``Juan <NAME>`` for ``Juan Carlos Ruiz``) / planted;
- ``over_redaction``: characters outside every planted value that were redacted / characters
  outside every planted value (template words, punctuation and spaces count; so do values the
  generator did not plant, such as dates or "10:42");
- ``technical_touched_rate``: tokens marked never-PII (bug numbers, versions, paths: the real
  corpus) with at least one character redacted / such tokens;
- ``sources``: per detector (a merged span counts for each of its ``+``-joined sources): spans,
  planted values it touched, values ONLY it touched (what it adds), non-PII characters it covered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.devtools.bench.pii_corpus import TYPES, Document

#: A redacted span: (start, end, source), offsets into the original text.
Span = tuple[int, int, str]
_WORD = re.compile(r"\w{3,}")


def _mask(length: int, spans: Sequence[Span]) -> bytearray:
    covered = bytearray(length)
    for start, end, _ in spans:
        covered[start:end] = b"\x01" * (end - start)
    return covered


def leak_rates(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> dict[str, dict[str, float]]:
    """Per type: planted count, leak rate, partial leak rate."""
    counts = {t: [0, 0, 0] for t in TYPES}
    for doc, found in zip(docs, spans, strict=True):
        covered = _mask(len(doc.text), found)
        for p in doc.planted:
            row = counts[p.kind]
            row[0] += 1
            row[1] += not any(covered[p.start : p.end])
            row[2] += any(not any(covered[p.start + m.start() : p.start + m.end()]) for m in _WORD.finditer(p.value))
    return {t: {"planted": n, "leak_rate": leaked / n if n else 0.0, "partial_leak_rate": partial / n if n else 0.0}
            for t, (n, leaked, partial) in counts.items()}


def _pii_mask(doc: Document) -> bytearray:
    return _mask(len(doc.text), [(p.start, p.end, "") for p in doc.planted])


def over_redaction(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Share of non-PII characters redacted."""
    outside = redacted = 0
    for doc, found in zip(docs, spans, strict=True):
        pii, covered = _pii_mask(doc), _mask(len(doc.text), found)
        outside += len(doc.text) - sum(pii)
        redacted += sum(1 for p, c in zip(pii, covered, strict=True) if c and not p)
    return {"non_pii_chars": outside, "redacted_non_pii_chars": redacted,
            "over_redaction": redacted / outside if outside else 0.0}


def by_source(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> dict[str, dict[str, int]]:
    """Per detector: spans, planted values touched, values only it touched, non-PII chars covered."""
    out: dict[str, dict[str, int]] = {}
    for doc, found in zip(docs, spans, strict=True):
        pii = _pii_mask(doc)
        touched: list[set[str]] = [set() for _ in doc.planted]
        for start, end, source in found:
            parts = source.split("+")
            hits = [i for i, p in enumerate(doc.planted) if p.start < end and start < p.end]
            non_pii = sum(1 for i in range(start, end) if not pii[i])
            for part in parts:
                row = out.setdefault(part, {"spans": 0, "values_touched": 0, "values_only_this": 0,
                                            "non_pii_chars": 0})
                row["spans"] += 1
                row["non_pii_chars"] += non_pii
            for i in hits:
                touched[i].update(parts)
        for sources in touched:
            for part in sources:
                out[part]["values_touched"] += 1
            if len(sources) == 1:
                out[next(iter(sources))]["values_only_this"] += 1
    return dict(sorted(out.items()))


def technical_touched(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> dict[str, float | int]:
    """Technical tokens (never PII: bug numbers, versions, paths) with at least one character
    redacted, and the share of them; only corpora that mark such tokens have any."""
    total = touched = 0
    for doc, found in zip(docs, spans, strict=True):
        if not doc.technical:
            continue
        covered = _mask(len(doc.text), found)
        total += len(doc.technical)
        touched += sum(1 for start, end in doc.technical if any(covered[start:end]))
    return {"technical_tokens": total, "technical_touched": touched,
            "technical_touched_rate": touched / total if total else 0.0}


def score(docs: Sequence[Document], spans: Sequence[Sequence[Span]]) -> dict:
    return {"types": leak_rates(docs, spans), **over_redaction(docs, spans), **technical_touched(docs, spans),
            "sources": by_source(docs, spans)}
