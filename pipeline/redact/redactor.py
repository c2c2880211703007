"""``Redactor``: model spans + pattern spans -> anonymizer, for a batch of texts; the one entry
point of the CLI, the ``/redact`` route and the Kafka worker.

The span source is anything with ``entities(texts) -> list[list[Entity]]`` (``NerService``, a
fake in tests), or the caller passes the spans it has (``redact(..., model=...)``,
``redact_spans``); the redactor never imports the model. Nothing here logs per document, and
error messages name labels and offsets, never text. See docs/ARCHITECTURE.md (Redaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pipeline.redact.anonymizer import Redaction, anonymize, check_spans
from pipeline.redact.conflicts import ConflictStrategy, get_strategy
from pipeline.redact.errors import RedactError
from pipeline.redact.operators import OperatorDefaults, OperatorSpec
from pipeline.redact.policy import Policy, default_policy
from pipeline.redact.propagation import Propagation
from pipeline.redact.recognizers import Recognizer, build_recognizers
from pipeline.redact.settings import RedactSettings
from pipeline.redact.term_lists import TermLists
from pipeline.see_through import SeeThrough, see_through
from pipeline.spans import Entity


class SpanSource(Protocol):
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]: ...


class Redactor:
    """Finds PII (model + recognizers) and rewrites it by policy."""

    def __init__(
        self,
        span_source: SpanSource | None = None,
        recognizers: Sequence[Recognizer] = (),
        policy: Policy | None = None,
        *,
        conflict: str | ConflictStrategy = "merge",
        operator_defaults: OperatorDefaults | None = None,
        redact_repeats: bool = True,
        propagation: Propagation | None = None,
        lists: TermLists | None = None,
    ) -> None:
        self.span_source = span_source
        self.recognizers = list(recognizers)
        self.operator_defaults = operator_defaults or OperatorDefaults()
        self.policy = policy or default_policy(self.operator_defaults)
        self.conflict = get_strategy(conflict)
        self.propagation = (propagation or Propagation()) if redact_repeats else None
        self.lists = lists or TermLists()

    @classmethod
    def from_settings(cls, settings: RedactSettings, span_source: SpanSource | None = None) -> Redactor:
        """Build from settings; ``span_source`` (a ``NerService``) is ignored if ``model_spans`` is off."""
        defaults = OperatorDefaults(hash_key=settings.hash_key_bytes(), mask_char=settings.mask_char)
        policy = default_policy(defaults).with_overrides(settings.policy, settings.default_operator, defaults)
        recognizers = build_recognizers(settings.recognizers, phone_regions=settings.phone_regions,
                                        phone_leniency=settings.phone_leniency, spacy_labels=settings.spacy_labels)
        return cls(span_source if settings.model_spans else None, recognizers, policy,
                   conflict=settings.conflict_strategy, operator_defaults=defaults,
                   redact_repeats=settings.redact_repeats,
                   propagation=Propagation(settings.propagate_ignore_case, settings.propagate_min_chars),
                   lists=TermLists.build(settings.allow, settings.deny))

    def policy_with(self, overrides: Mapping[str, OperatorSpec] | None = None,
                    default: OperatorSpec | None = None) -> Policy:
        """This redactor's policy with per-request overrides (the hash key still comes from settings)."""
        if not overrides and default is None:
            return self.policy
        return self.policy.with_overrides(overrides, default, self.operator_defaults)

    def model_spans(self, texts: Sequence[str]) -> list[list[Entity]]:
        """The span source's entities, one list per text (empty lists without a span source)."""
        if self.span_source is None or not texts:
            return [[] for _ in texts]
        return _one_per_text(texts, self.span_source.entities(list(texts)))

    def detections(self, text: str, model_spans: Sequence[Entity], lists: TermLists | None = None) -> list[Entity]:
        """Every detection of one text, unresolved: the model's spans, the recognizers' (on the
        text and on its see-through view: ``pipeline.see_through``), allow/deny lists
        (``lists``: a request's, added to the configured ones), then propagated further
        occurrences of all of them, matched on the view. Offsets are into ``text``."""
        spans = check_spans(text, model_spans)
        view = see_through(text)
        for recognizer in self.recognizers:
            spans.extend(recognizer.find(text))
            if view is not None:
                spans.extend(_to_original(view, recognizer.find(view.plain)))
        active = self.lists.plus(lists) if lists else self.lists
        if active:
            spans = active.apply(text, spans)
        if self.propagation is not None:
            if view is None:
                spans.extend(self.propagation.find(text, spans))
            else:
                on_plain = [Entity(s.label, *view.to_plain(s.start, s.end), s.score, s.source) for s in spans]
                spans.extend(_to_original(view, self.propagation.find(view.plain, on_plain)))
        return spans

    def redact(self, texts: Sequence[str], policy: Policy | None = None, lists: TermLists | None = None, *,
               model: Sequence[Sequence[Entity]] | None = None) -> list[Redaction]:
        """One ``Redaction`` per text, in order. ``model``: the texts' model spans when the caller
        has them already (the HTTP batcher's); otherwise the span source is asked."""
        model = self.model_spans(texts) if model is None else _one_per_text(texts, model)
        return [self.redact_spans(text, spans, policy, lists) for text, spans in zip(texts, model, strict=True)]

    def redact_spans(self, text: str, model_spans: Sequence[Entity], policy: Policy | None = None,
                     lists: TermLists | None = None) -> Redaction:
        """Redact one text whose model spans are already known (the Kafka worker and the HTTP
        batcher have them): recognizers and propagation are added, the span source is not called.

        The result's ``entities`` are the document's one answer: the resolved detections (each
        with its ``source``), which the Kafka worker also publishes as the entity record."""
        return anonymize(text, self.detections(text, model_spans, lists), policy or self.policy, self.conflict)


def _one_per_text(texts: Sequence[str], model: Sequence[Sequence[Entity]]) -> Sequence[Sequence[Entity]]:
    """``model`` if it holds one span list per text: the one check of a span source's answer."""
    if len(model) != len(texts):
        raise RedactError(f"span source returned {len(model)} results for {len(texts)} texts")
    return model


def _to_original(view: SeeThrough, spans: Sequence[Entity]) -> list[Entity]:
    return [Entity(s.label, *view.to_original(s.start, s.end), s.score, s.source) for s in spans]
