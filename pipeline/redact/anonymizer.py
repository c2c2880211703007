"""The anonymizer: ``(text, spans)`` + policy -> redacted text and the entities applied.

It never sees the model or the recognizers (as in Presidio's anonymizer), so the same code
redacts spans from any source and is tested without one. Offsets in and out are character
offsets into the ORIGINAL text; the redacted text is built in one left-to-right pass over the
resolved, non-overlapping spans, so multi-byte characters cannot shift anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.redact.conflicts import ConflictStrategy, resolve
from pipeline.redact.errors import RedactError
from pipeline.redact.policy import Policy, default_policy
from pipeline.spans import Entity


@dataclass(frozen=True, slots=True)
class Redaction:
    """One document's result. ``entities`` are the resolved spans, offsets into the original."""

    text: str
    entities: tuple[Entity, ...]

    def to_dict(self) -> dict:
        return {
            "redacted_text": self.text,
            "entities": [{**e.to_dict(), "source": e.source} for e in self.entities],
        }


def check_spans(text: str, spans: Iterable[Entity]) -> list[Entity]:
    """Spans as a list, after checking that each lies inside ``text`` (no text in the message)."""
    out = list(spans)
    for i, span in enumerate(out):
        if not (0 <= span.start <= span.end <= len(text)):
            raise RedactError(f"span {i} ({span.label}) has offsets {span.start}..{span.end} outside a text of "
                              f"{len(text)} characters", field=f"spans[{i}]")
    return out


def _same_operator(policy: Policy):
    """Neighbours merge only if both labels and the merged label share one operator: with
    ``{GIVEN_NAME: keep}`` a first name stays visible instead of vanishing into ``<NAME>``."""

    def mergeable(left: str, right: str, merged: str) -> bool:
        op = policy.operator_for(left)
        return op == policy.operator_for(right) == policy.operator_for(merged)

    return mergeable


def anonymize(
    text: str,
    spans: Iterable[Entity],
    policy: Policy | None = None,
    conflict: str | ConflictStrategy = "merge",
) -> Redaction:
    """Resolve overlaps/neighbours, then rewrite each span with its label's operator.

    Overlapping spans are always resolved so that every character any detector flagged lies
    in exactly one rewritten entity (``merge``: the whole union at once; ``longest`` /
    ``highest_score``: the winner plus the clipped rest of the others), and a label whose
    operator is ``keep`` never wins an overlap. Touching neighbours merge only when
    ``_same_operator`` allows.
    """
    policy = policy or default_policy()
    resolved = resolve(check_spans(text, spans), text, conflict, _same_operator(policy),
                       lambda label: policy.operator_for(label).redacts)
    pieces: list[str] = []
    cursor = 0
    for span in resolved:
        pieces.append(text[cursor : span.start])
        pieces.append(policy.operator_for(span.label).apply(text[span.start : span.end], span.label))
        cursor = span.end
    pieces.append(text[cursor:])
    return Redaction("".join(pieces), tuple(resolved))
