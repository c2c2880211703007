"""Logits -> predictions, with the exact semantics of transformers' token-classification pipeline.

``aggregate`` mirrors ``TokenClassificationPipeline.postprocess`` for fast WordPiece/BPE
tokenizers step by step (gather_pre_entities -> aggregate -> group_entities -> filter), so
spans, labels and scores match it on the same logits (``tests/golden`` checks this). What
we add on top happens *after* that: thresholds (global and per label) and BEI item format.

Two outputs:
- ``token_items``: aggregation ``none`` in BEI's ``/predict_tokens`` shape, one item per
  content token with the full score distribution (probabilities, or logits with raw_scores);
- ``aggregate``: entity spans (``simple|first|average|max``), or per-token argmax entities
  for ``none`` as the HF pipeline returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.spans import Entity


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax computed as transformers does (float32, max-shifted)."""
    maxes = np.max(logits, axis=-1, keepdims=True)
    shifted = np.exp(logits - maxes)
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True, slots=True)
class TokenView:
    """What decoding needs to know about one text's tokens."""

    text: str
    ids: np.ndarray
    offsets: np.ndarray
    tokens: Sequence[str]
    subword_prefix: str | None
    unk_id: int | None


@dataclass(slots=True)
class Prediction:
    """A token-level or aggregated prediction (HF pipeline fields, our offsets)."""

    label: str
    score: float
    start: int
    end: int
    token_id: int
    scores: np.ndarray | None = None  # the distribution for token-level items
    index: int = -1  # content-token index of the first token
    source: str = "model"  # "model:recall" for words added by ``pipeline.recall``


def _is_subword(view: TokenView, i: int, word: str, start: int, end: int) -> bool:
    if view.subword_prefix:
        is_sub = len(word) != len(view.text[start:end])
    else:  # HF's fallback heuristic for tokenizers without a continuing-subword prefix
        is_sub = start > 0 and " " not in view.text[start - 1 : start + 1]
    if view.unk_id is not None and int(view.ids[i]) == view.unk_id:
        return False
    return is_sub


def _pre_entities(view: TokenView, scores: np.ndarray) -> list[dict]:
    out = []
    for i in range(len(view.ids)):
        start, end = int(view.offsets[i, 0]), int(view.offsets[i, 1])
        word = view.tokens[i]
        out.append({
            "word": word, "scores": scores[i], "start": start, "end": end, "index": i,
            "is_subword": _is_subword(view, i, word, start, end), "token_id": int(view.ids[i]),
        })
    return out


def _aggregate_word(group: list[dict], strategy: str, labels: Sequence[str]) -> dict:
    if strategy == "first":
        scores = group[0]["scores"]
        idx = int(scores.argmax())
        score = scores[idx]
    elif strategy == "max":
        best = max(group, key=lambda e: e["scores"].max())
        idx = int(best["scores"].argmax())
        score = best["scores"][idx]
    elif strategy == "average":
        mean = np.nanmean(np.stack([e["scores"] for e in group]), axis=0)
        idx = int(mean.argmax())
        score = mean[idx]
    else:
        raise ValueError(f"invalid word aggregation strategy {strategy!r}")
    return {"entity": labels[idx], "score": score, "start": group[0]["start"], "end": group[-1]["end"],
            "token_id": group[0]["token_id"], "index": group[0]["index"]}


def _aggregate_words(pre: list[dict], strategy: str, labels: Sequence[str]) -> list[dict]:
    words, group = [], None
    for entity in pre:
        if group is None:
            group = [entity]
        elif entity["is_subword"]:
            group.append(entity)
        else:
            words.append(_aggregate_word(group, strategy, labels))
            group = [entity]
    if group is not None:
        words.append(_aggregate_word(group, strategy, labels))
    return words


def _tag(label: str) -> tuple[str, str]:
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def _group(entities: list[dict]) -> list[dict]:
    groups, current = [], []
    for entity in entities:
        if current:
            bi, tag = _tag(entity["entity"])
            _, last_tag = _tag(current[-1]["entity"])
            if tag == last_tag and bi != "B":
                current.append(entity)
                continue
            groups.append(_group_sub(current))
        current = [entity]
    if current:
        groups.append(_group_sub(current))
    return groups


def _nanmean(values: list) -> float:
    """``np.nanmean`` of a short list of scalars without numpy's per-call overhead."""
    kept = [float(v) for v in values if v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def _group_sub(entities: list[dict]) -> dict:
    return {
        "entity_group": entities[0]["entity"].split("-", 1)[-1],
        "score": _nanmean([e["score"] for e in entities]),
        "start": entities[0]["start"], "end": entities[-1]["end"],
        "token_id": entities[0]["token_id"], "index": entities[0]["index"],
    }


def aggregate(view: TokenView, scores: np.ndarray, strategy: str, labels: Sequence[str],
              ignore_labels: Sequence[str] = ("O",)) -> list[Prediction]:
    """HF pipeline post-processing on probability ``scores`` ``[n_tokens, n_labels]``."""
    pre = _pre_entities(view, scores)
    if strategy in ("none", "simple"):
        entities = []
        for p in pre:
            idx = int(p["scores"].argmax())
            entities.append({"entity": labels[idx], "score": p["scores"][idx], "start": p["start"],
                             "end": p["end"], "token_id": p["token_id"], "index": p["index"]})
    else:
        entities = _aggregate_words(pre, strategy, labels)
    if strategy != "none":
        entities = _group(entities)
    ignored = set(ignore_labels)
    out = []
    for e in entities:
        label = e.get("entity_group", e.get("entity"))
        if label in ignored:
            continue
        out.append(Prediction(label, float(e["score"]), e["start"], e["end"], e["token_id"], index=e["index"]))
    return out


def apply_thresholds(preds: list[Prediction], threshold: float | None,
                     label_thresholds: Mapping[str, float]) -> list[Prediction]:
    """Drop predictions below the label's threshold (or the global one)."""
    if threshold is None and not label_thresholds:
        return preds
    kept = []
    for p in preds:
        bare = _tag(p.label)[1]
        limit = label_thresholds.get(p.label, label_thresholds.get(bare, threshold))
        if limit is None or p.score >= limit:
            kept.append(p)
    return kept


def merge_adjacent(preds: list[Prediction], text: str, gap: str = "") -> list[Prediction]:
    """Join same-label spans that touch (or are separated only by characters in ``gap``).

    Our addition after HF semantics: models trained with ``B-`` on every word piece (the
    default rampart model labels ``john``, ``.``, ``smith``... of an e-mail each ``B-EMAIL``)
    otherwise return one fragment per piece. The merged score is the mean of the parts'.
    """
    merged: list[Prediction] = []
    parts: list[int] = []
    for p in preds:
        if merged:
            last = merged[-1]
            between = text[last.end : p.start]
            if _tag(p.label)[1] == _tag(last.label)[1] and p.start >= last.end and all(c in gap for c in between):
                parts[-1] += 1
                last.score += (p.score - last.score) / parts[-1]
                last.end = p.end
                continue
        merged.append(Prediction(p.label, p.score, p.start, p.end, p.token_id, index=p.index))
        parts.append(1)
    return merged


def token_items(view: TokenView, values: np.ndarray, labels: Sequence[str]) -> list[dict]:
    """BEI ``/predict_tokens`` items for aggregation ``none``: every token, every label."""
    rows = values.tolist()
    return [
        {
            "token": view.tokens[i],
            "token_id": int(view.ids[i]),
            "start": int(view.offsets[i, 0]),
            "end": int(view.offsets[i, 1]),
            "results": dict(zip(labels, rows[i], strict=True)),
        }
        for i in range(len(view.ids))
    ]


def span_items(view: TokenView, preds: list[Prediction]) -> list[dict]:
    """BEI items for aggregated spans: the span's text as ``token``, label without B-/I-."""
    return [
        {"token": view.text[p.start : p.end], "token_id": p.token_id, "start": p.start, "end": p.end,
         "results": {p.label: p.score}}
        for p in preds
    ]


def to_entities(preds: list[Prediction]) -> list[Entity]:
    return [Entity(_tag(p.label)[1], p.start, p.end, p.score, p.source) for p in preds]
