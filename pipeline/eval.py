"""Entity-level evaluation: exact span + type precision/recall/F1 per label.

Gold files are JSONL ``{"text": ..., "spans": [{"start", "end", "label"}]}``. A prediction
counts only if its start, end and label all equal a gold span's (the CoNLL/seqeval "exact"
criterion, on character spans rather than tags, so it works for any tokenizer). A label
mapping translates model labels to the gold scheme (or drops them when mapped to null).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError


@dataclass(frozen=True)
class GoldDoc:
    text: str
    spans: frozenset[tuple[int, int, str]]


def read_gold(path: str | Path) -> list[GoldDoc]:
    docs = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                spans = frozenset((int(s["start"]), int(s["end"]), str(s["label"])) for s in row.get("spans", []))
                docs.append(GoldDoc(str(row["text"]), spans))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}:{number}: expected {{text, spans:[{{start,end,label}}]}} ({exc})",
                                 field="file") from exc
    return docs


def score(gold: Iterable[frozenset], predicted: Iterable[Iterable[tuple[int, int, str]]],
          mapping: Mapping[str, str | None] | None = None) -> dict:
    """Per-label and micro-averaged precision/recall/F1 of exact span matches."""
    mapping = mapping or {}
    tp, fp, fn = Counter(), Counter(), Counter()
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        mapped = set()
        for start, end, label in pred_spans:
            target = mapping.get(label, label)
            if target is not None:
                mapped.add((start, end, target))
        for span in mapped & gold_spans:
            tp[span[2]] += 1
        for span in mapped - gold_spans:
            fp[span[2]] += 1
        for span in gold_spans - mapped:
            fn[span[2]] += 1
    labels = sorted(set(tp) | set(fp) | set(fn))
    per_label = {label: _prf(tp[label], fp[label], fn[label]) for label in labels}
    return {"per_label": per_label, "micro": _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))}


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
