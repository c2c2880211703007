"""Recall-oriented decoding for entity spans (Kafka, redaction): sub-argmax entities count too.

The default model often gives a name in running prose real but sub-argmax probability
(``founders: Bašić, Smith and Schmitt``: ``O`` wins with 0.83-0.95 while the name labels hold
the rest). Argmax decoding leaves such a word visible; a redaction stage would rather hide it.
So on top of the HF-exact predictions, a word that no prediction covers joins an entity when
the probability mass of that entity's labels (``B-X`` plus ``I-X``) reaches a per-label
threshold. A threshold's key is a bare label (``PHONE``) or a group of labels (``NAME`` =
given name + surname, ``ADDRESS`` = the address parts: ``spans.LABEL_GROUPS``); a group's mass
is the sum over its labels and the word takes the group's most probable label, so neighbours
still merge into ``<NAME>``/``<ADDRESS>``.

A word is a first token and its continuing sub-words (HF's word grouping); its mass is the
maximum over its tokens. Mass is necessary, not sufficient: what a word may join by context
and shape (names capitalised, numbers in addresses only near an address, technical tokens
never) is decided in one place, ``pipeline.recall_context``, which also screens the argmax
names and address parts (``screen``) on this path.

Words found this way carry ``source="model:recall"`` and the mass as their score, or
``model:recall:<rule>`` when a context rule admitted them (``model:recall:address-context``).
``/predict_tokens`` never uses this (its options have no recall thresholds), so BEI and Hugging
Face semantics are unchanged there.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.decode import Prediction, TokenView, _is_subword
from pipeline.recall_context import admit_recall, screen_argmax
from pipeline.spans import LABEL_GROUPS

#: Source of an entity that recall decoding added (argmax entities keep ``model``).
RECALL_SOURCE = "model:recall"

#: Defaults chosen on the development corpus (``ner-stage bench redact --corpus dev``, seed 5);
#: see docs/ARCHITECTURE.md for the sweep. Labels not listed are decoded by argmax only.
DEFAULT_RECALL_THRESHOLDS: Mapping[str, float] = {"NAME": 0.01, "ADDRESS": 0.02, "PHONE": 0.1}

Columns = tuple[float, list[int], dict[str, list[int]], str]


def _columns(labels: Sequence[str], thresholds: Mapping[str, float]) -> list[Columns]:
    """Per threshold key: (threshold, label columns summed, {bare label: its columns}, key)."""
    keys: dict[str, Columns] = {}
    for j, label in enumerate(labels):
        if label[:2] not in ("B-", "I-"):
            continue
        bare = label[2:]
        key = bare if bare in thresholds else LABEL_GROUPS.get(bare)
        if key is None or key not in thresholds:
            continue
        entry = keys.setdefault(key, (float(thresholds[key]), [], {}, key))
        entry[1].append(j)
        entry[2].setdefault(bare, []).append(j)
    return list(keys.values())


def recall_predictions(
    view: TokenView,
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
    found: Sequence[Prediction],
) -> list[Prediction]:
    """Words outside ``found`` whose entity mass reaches its threshold, one ``Prediction`` each."""
    if not thresholds or not len(probs):
        return []
    columns = _columns(labels, thresholds)
    if not columns:
        return []
    mass = np.stack([probs[:, cols].sum(axis=1) for _, cols, _, _ in columns], axis=1)  # [tokens, keys]
    limits = np.array([limit for limit, _, _, _ in columns], dtype=mass.dtype)
    hits = np.flatnonzero((mass >= limits).any(axis=1))
    if not len(hits):
        return []
    covered = sorted((p.start, p.end) for p in found)
    places = [(p.start, p.end) for p in found if LABEL_GROUPS.get(p.label) == "ADDRESS"
              and any(ch.isalpha() for ch in view.text[p.start : p.end])]
    names = sorted(p.start for p in found if LABEL_GROUPS.get(p.label) == "NAME")
    out: list[Prediction] = []
    last_word_end = -1
    n = len(view.ids)
    for i in hits.tolist():
        if i < last_word_end:
            continue
        first = i
        while first > 0 and _subword(view, first):
            first -= 1
        end = i + 1
        while end < n and _subword(view, end):
            end += 1
        last_word_end = end
        start_char, end_char = int(view.offsets[first, 0]), int(view.offsets[end - 1, 1])
        if _overlaps(covered, start_char, end_char):
            continue
        word_mass = mass[first:end].max(axis=0)
        ratio = word_mass / limits
        k = int(ratio.argmax())
        if ratio[k] < 1.0:
            continue
        _, _, by_label, key = columns[k]
        rule = admit_recall(LABEL_GROUPS.get(key, key), view.text, start_char, end_char, float(word_mass[k]), places,
                            names)
        if rule is None:
            continue
        label = max(by_label, key=lambda bare: float(probs[first:end][:, by_label[bare]].sum(axis=1).max()))
        out.append(Prediction(label, float(word_mass[k]), start_char, end_char, int(view.ids[first]), index=first,
                              source=f"{RECALL_SOURCE}:{rule}" if rule else RECALL_SOURCE))
    return out


def screen(preds: Sequence[Prediction], text: str) -> list[Prediction]:
    """Argmax predictions minus names and address parts of technical shape
    (``recall_context.screen_argmax``); entity path only, never ``/predict_tokens``."""
    return [p for p in preds if screen_argmax(p.label, text, p.start, p.end)]


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Does ``[start, end)`` overlap one of ``spans`` (sorted, non-overlapping)? Binary search,
    so a long document with thousands of entities stays linear-ish."""
    i = bisect.bisect_right(spans, (start, float("inf"))) - 1
    return (i >= 0 and spans[i][1] > start) or (i + 1 < len(spans) and spans[i + 1][0] < end)


def _subword(view: TokenView, i: int) -> bool:
    start, end = int(view.offsets[i, 0]), int(view.offsets[i, 1])
    return _is_subword(view, i, view.tokens[i], start, end)
