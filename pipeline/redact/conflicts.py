"""Overlapping and adjacent spans -> one non-overlapping, sorted list, by a named strategy.

Model spans and pattern spans overlap (the model sees ``(415) 555-0132``, the phone matcher
``+1 (415) 555-0132``) and names arrive in pieces (``GIVEN_NAME`` + ``SURNAME``, or sub-word
fragments). Each replacement must cover exactly one resolved span, so this runs before any
operator. Two steps, as in Presidio's anonymizer:

1. Overlaps, by ``overlap``:
   - ``union``: overlapping spans become one span covering all of them (labelled by the
     longest, then highest-scoring member). Nothing any detector flagged is left visible,
     which is why the default strategy, ``merge``, uses it.
   - ``longest`` / ``highest_score``: the best span (greedily) wins the overlapping characters
     and keeps its label; each losing span is clipped to its characters outside the winners
     and kept with its own label (Presidio's ``remove_intersections``). Cleaner labels than
     ``union``, and still nothing any detector flagged is left visible.
   In every strategy a span whose operator would keep the value (``keep``) never wins an
   overlap against one that redacts it (the caller passes ``redacts``): otherwise a value
   flagged as a PHONE could survive because a longer CITY span over it is kept.
2. Neighbours: spans separated only by a little whitespace (or nothing) whose labels are in
   the same group merge into one. ``GIVEN_NAME`` + ``SURNAME`` -> ``NAME``; address parts ->
   ``ADDRESS`` (address parts also across one comma: ``Baker Street, London``; names do not, so
   ``Ann Lee, Bob Ray`` stays two names); same-label pieces keep their label. Overlaps are always resolved; a neighbour
   merge can be vetoed by the caller (see ``resolve``).

A merged span scores the maximum of its members and its ``source`` lists every member's
source, sorted and joined with ``+`` (``model+pattern:phone``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pipeline.redact.errors import PolicyError
from pipeline.spans import LABEL_GROUPS, Entity

DEFAULT_GROUPS: Mapping[str, str] = LABEL_GROUPS

#: ``(left label, right label, merged label) -> bool``: may these neighbours become one span?
Mergeable = Callable[[str, str, str], bool]


@dataclass(frozen=True)
class ConflictStrategy:
    name: str
    overlap: Literal["union", "longest", "highest_score"]
    merge_neighbours: bool = True
    groups: Mapping[str, str] = field(default_factory=lambda: DEFAULT_GROUPS)
    #: Longest whitespace run (no line break) that still joins two neighbours.
    max_gap: int = 3
    #: Groups whose neighbours also join across one comma (``221B Baker Street, London``).
    comma_groups: frozenset[str] = frozenset({"ADDRESS"})


STRATEGIES: dict[str, ConflictStrategy] = {
    "merge": ConflictStrategy("merge", "union"),
    "longest": ConflictStrategy("longest", "longest"),
    "highest_score": ConflictStrategy("highest_score", "highest_score"),
}


def get_strategy(strategy: str | ConflictStrategy) -> ConflictStrategy:
    if isinstance(strategy, ConflictStrategy):
        return strategy
    try:
        return STRATEGIES[strategy]
    except KeyError:
        raise PolicyError(f"unknown conflict strategy {strategy!r}; choose one of {sorted(STRATEGIES)}",
                          field="conflict_strategy") from None


def _rank(span: Entity) -> tuple:
    """Best first: longer, higher score, earlier, then label (for a deterministic order)."""
    return (-(span.end - span.start), -span.score, span.start, span.label)


def _sources(spans: Iterable[Entity]) -> str:
    return "+".join(sorted({part for s in spans for part in s.source.split("+")}))


def _union(spans: list[Entity], key: Callable[[Entity], tuple]) -> list[Entity]:
    out: list[Entity] = []
    cluster: list[Entity] = []
    end = -1
    for span in spans:  # sorted by start
        if cluster and span.start < end:
            cluster.append(span)
            end = max(end, span.end)
            continue
        if cluster:
            out.append(_join(cluster, min(cluster, key=key).label))
        cluster, end = [span], span.end
    if cluster:
        out.append(_join(cluster, min(cluster, key=key).label))
    return out


def _greedy(spans: list[Entity], key: Callable[[Entity], tuple]) -> list[Entity]:
    """Best span first wins its characters; later spans keep only what is still free.

    Linear by construction (each character is claimed once): ``taken[p]`` points towards the
    first free position at or after ``p`` (a union-find with path compression), so a span's
    free pieces are found without comparing it to every span kept before it (which was
    quadratic in the number of spans)."""
    if not spans:
        return []
    taken = list(range(max(s.end for s in spans) + 1))

    def free_from(p: int) -> int:
        root = p
        while taken[root] != root:
            root = taken[root]
        while taken[p] != root:
            taken[p], p = root, taken[p]
        return root

    kept: list[Entity] = []
    for span in sorted(spans, key=key):
        p = free_from(span.start)
        while p < span.end:
            start = p
            while p < span.end and taken[p] == p:
                taken[p] = p + 1
                p += 1
            kept.append(Entity(span.label, start, p, span.score, span.source))
            p = free_from(p)
    return sorted(kept, key=lambda s: (s.start, s.end))


def _join(spans: list[Entity], label: str) -> Entity:
    if len(spans) == 1:
        return spans[0]
    return Entity(label, min(s.start for s in spans), max(s.end for s in spans), max(s.score for s in spans),
                  _sources(spans))


def _neighbours(
    spans: list[Entity], text: str, strategy: ConflictStrategy, mergeable: Mergeable | None
) -> list[Entity]:
    out: list[Entity] = []
    for span in spans:
        if out:
            prev = out[-1]
            gap = text[prev.end : span.start]
            group = strategy.groups.get(prev.label, prev.label)
            label = prev.label if prev.label == span.label else group
            if group in strategy.comma_groups and gap.count(",") == 1:
                gap = gap.replace(",", "", 1)
            if (
                len(gap) <= strategy.max_gap
                and (not gap or (gap.isspace() and "\n" not in gap and "\r" not in gap))
                and group == strategy.groups.get(span.label, span.label)
                and (mergeable is None or mergeable(prev.label, span.label, label))
            ):
                out[-1] = _join([prev, span], label)
                continue
        out.append(span)
    return out


def resolve(
    spans: Iterable[Entity],
    text: str,
    strategy: str | ConflictStrategy = "merge",
    mergeable: Mergeable | None = None,
    redacts: Callable[[str], bool] | None = None,
) -> list[Entity]:
    """Non-overlapping spans sorted by start; empty spans are dropped. Every character inside
    an input span is inside an output span. ``mergeable`` can veto a neighbour merge (the
    anonymizer vetoes one that would change a label's operator); ``redacts(label)`` says
    whether a label's operator hides the value (labels that do win overlaps)."""
    strategy = get_strategy(strategy)
    ordered = sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, s.end))
    hides = redacts or (lambda label: True)
    if strategy.overlap == "union":
        resolved = _union(ordered, lambda s: (not hides(s.label), *_rank(s)))
    elif strategy.overlap == "longest":
        resolved = _greedy(ordered, lambda s: (not hides(s.label), *_rank(s)))
    else:
        resolved = _greedy(ordered, lambda s: (not hides(s.label), -s.score, *_rank(s)))
    return _neighbours(resolved, text, strategy, mergeable) if strategy.merge_neighbours else resolved
