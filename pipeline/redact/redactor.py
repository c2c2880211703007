"""``Redactor``: model spans + pattern spans -> anonymizer, for a batch of texts.

The one entry point the CLI, the HTTP route and the Kafka worker use. The span source is
anything with ``entities(texts) -> list[list[Entity]]`` (``NerService``, or a fake in tests);
the redactor never imports the model, so redaction can be tested and run pattern-only.

Nothing here logs per document (structlog's default prints to stdout, which would corrupt
``ner-stage redact``'s JSON); callers count documents and entities in their metrics. Error
messages name labels and offsets, never text, span values or output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from pipeline.redact.anonymizer import Redaction, anonymize, check_spans
from pipeline.redact.conflicts import ConflictStrategy, get_strategy
from pipeline.redact.errors import RedactError
from pipeline.redact.operators import OperatorDefaults, OperatorSpec
from pipeline.redact.policy import Policy, default_policy
from pipeline.redact.recognizers import Recognizer, build_recognizers
from pipeline.redact.settings import RedactSettings
from pipeline.spans import Entity

#: Shortest detected value whose other occurrences are redacted too (``redact_repeats``).
MIN_REPEAT_CHARS = 4


class SpanSource(Protocol):
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]: ...


def repeats(text: str, spans: Sequence[Entity]) -> list[Entity]:
    """Other whole-word verbatim occurrences of detected values (a name the model caught once
    is redacted everywhere in the document), with ``source="repeat"``."""
    found: list[Entity] = []
    covered = {(s.start, s.end) for s in spans}
    seen: set[str] = set()
    for span in sorted(spans, key=lambda s: -s.score):
        value = text[span.start : span.end]
        if len(value.strip()) < MIN_REPEAT_CHARS or value in seen:
            continue
        seen.add(value)
        start = text.find(value)
        while start != -1:
            end = start + len(value)
            whole = (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())
            if whole and (start, end) not in covered:
                found.append(Entity(span.label, start, end, span.score, "repeat"))
            start = text.find(value, start + 1)
    return found


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
    ) -> None:
        self.span_source = span_source
        self.recognizers = list(recognizers)
        self.operator_defaults = operator_defaults or OperatorDefaults()
        self.policy = policy or default_policy(self.operator_defaults)
        self.conflict = get_strategy(conflict)
        self.redact_repeats = redact_repeats

    @classmethod
    def from_settings(cls, settings: RedactSettings, span_source: SpanSource | None = None) -> Redactor:
        """Build from settings; ``span_source`` (a ``NerService``) is ignored if ``model_spans`` is off."""
        defaults = OperatorDefaults(hash_key=settings.hash_key_bytes(), mask_char=settings.mask_char)
        policy = default_policy(defaults).with_overrides(settings.policy, settings.default_operator, defaults)
        recognizers = build_recognizers(settings.recognizers, phone_regions=settings.phone_regions,
                                        phone_leniency=settings.phone_leniency)
        return cls(span_source if settings.model_spans else None, recognizers, policy,
                   conflict=settings.conflict_strategy, operator_defaults=defaults,
                   redact_repeats=settings.redact_repeats)

    def policy_with(self, overrides: Mapping[str, OperatorSpec] | None = None,
                    default: OperatorSpec | None = None) -> Policy:
        """This redactor's policy with per-request overrides (the hash key still comes from settings)."""
        if not overrides and default is None:
            return self.policy
        return self.policy.with_overrides(overrides, default, self.operator_defaults)

    def spans(self, texts: Sequence[str]) -> list[list[Entity]]:
        """All detected spans per text (model, then recognizers, then repeats), unresolved."""
        if self.span_source is not None and texts:
            model = self.span_source.entities(list(texts))
            if len(model) != len(texts):
                raise RedactError(f"span source returned {len(model)} results for {len(texts)} texts")
        else:
            model = [[] for _ in texts]
        return [self._with_patterns(text, found) for text, found in zip(texts, model, strict=True)]

    def _with_patterns(self, text: str, model_spans: Sequence[Entity]) -> list[Entity]:
        spans = check_spans(text, model_spans)
        for recognizer in self.recognizers:
            spans.extend(recognizer.find(text))
        if self.redact_repeats:
            spans.extend(repeats(text, spans))
        return spans

    def redact(self, texts: Sequence[str], policy: Policy | None = None) -> list[Redaction]:
        """One ``Redaction`` per text, in order (model spans from the span source)."""
        policy = policy or self.policy
        return [anonymize(text, spans, policy, self.conflict)
                for text, spans in zip(texts, self.spans(texts), strict=True)]

    def redact_spans(self, text: str, model_spans: Sequence[Entity], policy: Policy | None = None) -> Redaction:
        """Redact one text whose model spans are already known (the Kafka worker has them from the
        entities output): recognizers and repeats are added, the span source is not called."""
        return anonymize(text, self._with_patterns(text, model_spans), policy or self.policy, self.conflict)
