"""NerService: the one inference path behind the CLI, the HTTP API and the Kafka worker.

texts -> tokenize (windows or truncation) -> engine in token-budget batches -> merge windows
-> decode (HF pipeline semantics, thresholds) -> BEI items or entity spans. Its stages are
public so the front doors batch across requests and records; every token budget counts in
:meth:`NerService.padded_tokens`. See docs/ARCHITECTURE.md (One path, three front doors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, get_args

import numpy as np

from engines import Engine, EngineBatch, ModelBundle, engine_from_settings, load_bundle
from pipeline.decode import (
    Prediction,
    TokenView,
    aggregate,
    apply_thresholds,
    merge_adjacent,
    softmax,
    span_items,
    to_entities,
    token_items,
)
from pipeline.errors import InputError, TextTooLongError
from pipeline.recall import DEFAULT_RECALL_THRESHOLDS, recall_predictions, screen
from pipeline.see_through import see_through
from pipeline.spans import Entity
from pipeline.tokenize import Direction, EncodedText, TextEncoder
from schemas.http import Aggregation

if TYPE_CHECKING:
    from pipeline.config import DecodeSettings, ModelSettings

#: The aggregation strategies, as ``/predict_tokens`` names them (``schemas.http.Aggregation``).
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)


@dataclass(frozen=True)
class PredictOptions:
    """Per-call decoding options (the /predict_tokens request fields plus our additions)."""

    aggregation: str = "none"
    raw_scores: bool = False
    truncate: bool = False
    truncation_direction: Direction = "Right"
    threshold: float | None = None
    label_thresholds: Mapping[str, float] = field(default_factory=dict)
    ignore_labels: tuple[str, ...] = ("O",)
    #: Join touching same-label spans after aggregation (see ``decode.merge_adjacent``).
    merge_adjacent: bool = False
    #: Entity spans only: words joining an entity below argmax (see ``pipeline.recall``); empty
    #: for /predict_tokens, so BEI/HF semantics are unchanged there.
    recall_thresholds: Mapping[str, float] = field(default_factory=dict)
    #: Overlap in tokens between windows of a long text (None: the service's configured stride).
    stride: int | None = None
    #: Entity spans only: the model reads the text through escapes, markup and invisible
    #: characters (``pipeline.see_through``); offsets are still into the original text.
    see_through: bool = False

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise InputError(f"aggregation_strategy must be one of {AGGREGATIONS}", field="aggregation_strategy")
        if self.truncation_direction not in ("Right", "Left"):
            raise InputError("truncation_direction must be 'Right' or 'Left'", field="truncation_direction")


#: How texts are encoded for entity spans (Kafka, redaction): never truncated, long texts windowed.
ENTITY_ENCODING = PredictOptions(truncate=False, see_through=True)


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One engine sequence: window ``window`` of document ``doc``, prefix + content + suffix ids.
    The unit of scheduling: long requests are many units, interleaved with others'."""

    doc: int
    window: int
    ids: np.ndarray


@dataclass(frozen=True, slots=True)
class BatchStats:
    """One engine call, reported to listeners (metrics)."""

    sequences: int
    padded_tokens: int
    real_tokens: int
    seconds: float


class NerService:
    """Token classification for lists of texts, shared by every front door."""

    def __init__(
        self,
        bundle: ModelBundle,
        engine: Engine,
        *,
        stride: int = 64,
        max_batch_size: int = 64,
        max_chars: int = 1_000_000,
        entity_options: PredictOptions | None = None,
    ) -> None:
        self.bundle = bundle
        self.engine = engine
        self.labels = bundle.labels
        self.encoder = TextEncoder(bundle.tokenizer_path, engine.max_seq_len)
        self.stride = stride
        self.max_batch_size = max_batch_size
        self.max_chars = max_chars
        self.entity_options = entity_options or PredictOptions(
            aggregation="first", merge_adjacent=True, recall_thresholds=DEFAULT_RECALL_THRESHOLDS)
        self._listeners: list[Callable[[BatchStats], None]] = []

    @classmethod
    def from_settings(cls, model: ModelSettings, decode: DecodeSettings | None = None) -> NerService:
        """Load the bundle and engine named by settings, warmed up unless disabled."""
        bundle = load_bundle(model.model)
        engine = engine_from_settings(bundle, model)
        if model.warmup:
            engine.warmup()
        entity_options = None
        if decode is not None:
            entity_options = PredictOptions(
                aggregation=decode.aggregation,
                merge_adjacent=decode.merge_adjacent,
                threshold=decode.threshold,
                label_thresholds=dict(decode.label_thresholds),
                ignore_labels=decode.ignored,
                recall_thresholds=dict(decode.recall_thresholds),
            )
        return cls(bundle, engine, stride=model.stride, max_batch_size=model.max_batch_size,
                   max_chars=model.max_text_chars, entity_options=entity_options)

    def add_batch_listener(self, listener: Callable[[BatchStats], None]) -> None:
        self._listeners.append(listener)

    # -- stages ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Content tokens of a text (for token budgets upstream)."""
        return self.encoder.count_tokens(text)

    def encode(self, texts: Sequence[str], options: PredictOptions | None = None) -> list[EncodedText]:
        options = options or PredictOptions()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"inputs[{i}] must be a string", field=f"inputs[{i}]")
            if len(text) > self.max_chars:
                raise TextTooLongError(f"inputs[{i}] has {len(text)} characters; the limit is {self.max_chars}",
                                       field=f"inputs[{i}]", limit=self.max_chars)
        views = [see_through(t) for t in texts] if options.see_through else [None] * len(texts)
        docs = self.encoder.encode(
            [t if v is None else v.plain for t, v in zip(texts, views, strict=True)], truncate=options.truncate,
            direction=options.truncation_direction, stride=self.stride if options.stride is None else options.stride,
        )
        for doc, view in zip(docs, views, strict=True):
            doc.seen_through = view
        return docs

    @staticmethod
    def padded_tokens(widths: Sequence[int]) -> int:
        """THE cost function: padded tokens of one engine call over sequences of these widths
        (rows x widest row). Every token budget counts in it: ``infer``'s packing, the HTTP
        batcher's work units and the Kafka micro-batcher's documents (via :meth:`cost`)."""
        return len(widths) * max(widths, default=0)

    @staticmethod
    def cost(docs: Sequence[EncodedText]) -> int:
        """Padded tokens of encoded documents, each document's windows as one engine call."""
        return sum(NerService.padded_tokens(doc.widths) for doc in docs)

    def units(self, docs: Sequence[EncodedText]) -> list[WorkUnit]:
        """The engine sequences (one per window) of these documents, in document order."""
        return [WorkUnit(d, w, self.encoder.sequence(doc, w))
                for d, doc in enumerate(docs) if doc.n_tokens for w in range(len(doc.windows))]

    def pack(self, units: Sequence[WorkUnit]) -> list[list[WorkUnit]]:
        """Units sorted by length and cut greedily into engine calls under ``max_batch_tokens``
        padded tokens and ``max_batch_size`` rows, so one long text does not pad short ones."""
        ordered = sorted(units, key=lambda u: -len(u.ids))
        budget = self.engine.max_batch_tokens
        chunks: list[list[WorkUnit]] = []
        for unit in ordered:
            chunk = chunks[-1] if chunks else None
            if (chunk is None or len(chunk) >= self.max_batch_size
                    or self.padded_tokens([len(chunk[0].ids)] * (len(chunk) + 1)) > budget):
                chunks.append([unit])
            else:
                chunk.append(unit)
        return chunks

    def run_units(self, units: Sequence[WorkUnit]) -> list[np.ndarray]:
        """ONE engine call over these units; logits ``[len(unit.ids), n_labels]`` per unit. The
        only stage the HTTP batcher's engine thread runs."""
        batch = EngineBatch.from_sequences([u.ids for u in units], self.encoder.pad_id)
        started = time.perf_counter()
        logits = self.engine.run(batch)
        elapsed = time.perf_counter() - started
        stats = BatchStats(len(units), batch.padded_tokens, sum(len(u.ids) for u in units), elapsed)
        for listener in self._listeners:
            listener(stats)
        return [logits[row, : len(u.ids)] for row, u in enumerate(units)]

    def merge(self, docs: Sequence[EncodedText], window_logits: Mapping[tuple[int, int], np.ndarray]
              ) -> list[np.ndarray]:
        """Logits ``[n_tokens, n_labels]`` per document from its windows' logits (keyed by
        ``(doc, window)``): each token reads the window where it has the most context."""
        head = len(self.encoder.prefix)
        out = []
        for d, doc in enumerate(docs):
            if not doc.n_tokens:
                out.append(np.zeros((0, len(self.labels)), dtype=np.float32))
            elif len(doc.windows) == 1:
                out.append(window_logits[(d, 0)][head : head + doc.n_tokens])
            else:
                merged = np.empty((doc.n_tokens, len(self.labels)), dtype=np.float32)
                for w in range(len(doc.windows)):
                    mask = doc.owner == w
                    merged[mask] = window_logits[(d, w)][head + doc.position[mask]]
                out.append(merged)
        return out

    def infer(self, docs: Sequence[EncodedText]) -> list[np.ndarray]:
        """Logits ``[n_tokens, n_labels]`` per document, windows merged (units, packed, run, merged)."""
        window_logits: dict[tuple[int, int], np.ndarray] = {}
        for chunk in self.pack(self.units(docs)):
            for unit, logits in zip(chunk, self.run_units(chunk), strict=True):
                window_logits[(unit.doc, unit.window)] = logits
        return self.merge(docs, window_logits)

    def view(self, doc: EncodedText) -> TokenView:
        return TokenView(doc.text, doc.ids, doc.offsets, doc.tokens, self.encoder.subword_prefix, self.encoder.unk_id)

    def predictions(self, doc: EncodedText, logits: np.ndarray, options: PredictOptions) -> list[Prediction]:
        """Aggregated (or per-token argmax) predictions after thresholds, HF semantics."""
        view, probs = self.view(doc), softmax(logits)
        preds = aggregate(view, probs, options.aggregation, self.labels, options.ignore_labels)
        if options.merge_adjacent and options.aggregation != "none":
            preds = merge_adjacent(preds, doc.text)
        if options.recall_thresholds and options.aggregation != "none":
            preds = screen(preds, doc.text)
            extra = recall_predictions(view, probs, self.labels, options.recall_thresholds, preds)
            if extra:
                preds = sorted(preds + extra, key=lambda p: p.start)
        return apply_thresholds(preds, options.threshold, options.label_thresholds)

    def items(self, doc: EncodedText, logits: np.ndarray, options: PredictOptions) -> list[dict]:
        """BEI ``/predict_tokens`` items for one document."""
        view = self.view(doc)
        if options.aggregation == "none" and options.threshold is None and not options.label_thresholds:
            return token_items(view, logits if options.raw_scores else softmax(logits), self.labels)
        return span_items(view, self.predictions(doc, logits, options))

    # -- front doors --------------------------------------------------------------------

    def predict(self, texts: Sequence[str], options: PredictOptions | None = None) -> list[list[dict]]:
        """``/predict_tokens`` for a list of texts: one list of items per text, in order."""
        options = options or PredictOptions()
        docs = self.encode(texts, options)
        return [self.items(doc, logits, options) for doc, logits in zip(docs, self.infer(docs), strict=True)]

    def entities(self, texts: Sequence[str], options: PredictOptions | None = None) -> list[list[Entity]]:
        """Entity spans per text (labels without B-/I-); long texts are windowed, never truncated."""
        docs = self.encode(texts, ENTITY_ENCODING)
        return [self.doc_entities(doc, logits, options) for doc, logits in zip(docs, self.infer(docs), strict=True)]

    def doc_entities(self, doc: EncodedText, logits: np.ndarray, options: PredictOptions | None = None) -> list[Entity]:
        """Entity spans of one encoded text (for callers that batch ``infer`` themselves: the
        Kafka worker, the HTTP batcher). Spans need aggregation, so ``none`` means ``first``."""
        options = options or self.entity_options
        if options.aggregation == "none":
            options = replace(options, aggregation="first")
        found = to_entities(self.predictions(doc, logits, options))
        view = doc.seen_through
        if view is None:
            return found
        return [replace(e, start=s, end=t) for e in found for s, t in (view.to_original(e.start, e.end),)]
