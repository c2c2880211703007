"""One micro-batch, records in -> output records out: decode, tokenize, infer, redact, encode.

No Kafka client here (records only need ``topic() partition() offset() key() value()
headers() timestamp()``), so every per-record rule is testable without a broker.

Why two steps: :meth:`BatchProcessor.prepare` runs when records arrive, decoding them and
tokenizing all texts of a poll in ONE ``NerService.encode`` call; the token counts feed the
micro-batcher's budget and the encodings are reused by inference, so a text is tokenized
once. :meth:`BatchProcessor.run` then does ONE ``NerService.infer`` for the batch and turns
logits into entities exactly as ``NerService.entities`` does (same options, same decode
functions), so Kafka results equal the service's for the same text.

Failure isolation: anything that is the record's fault becomes a dead letter for that record
only. If the batch's engine call fails, each document is retried alone to find the culprit;
if every one fails, the engine is broken and :class:`InferenceError` stops the batch instead
of dead-lettering good records. Redaction and output encoding fall back per record likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from pipeline.errors import InputError
from pipeline.kafka.dead_letters import dead_letter
from pipeline.kafka.documents import Document, Source, entity_record, read_document, redacted_record
from pipeline.kafka.errors import InferenceError, RecordFailedError
from pipeline.redact import Redactor, RedactSettings
from pipeline.service import ENTITY_ENCODING, NerService
from pipeline.spans import Entity
from pipeline.tokenize import EncodedText
from schemas.codec import Codec, utc_now
from schemas.errors import RecordError

log = structlog.get_logger(__name__)

ENTITIES, REDACTED, DEAD_LETTER = "entities", "redacted", "dead_letter"


@dataclass(slots=True)
class Pending:
    """A consumed record on its way through the stage."""

    msg: Any  # confluent_kafka.Message (or a test double with the same methods)
    source: Source
    doc: Document | None = None
    encoded: EncodedText | None = None
    error: BaseException | None = None

    @property
    def tokens(self) -> int:
        """Padded tokens (``NerService.cost``), the unit of every token budget."""
        return NerService.cost([self.encoded]) if self.encoded is not None else 0


@dataclass(slots=True)
class Output:
    """One record to produce; ``partition`` is the input partition (for null-key pinning)."""

    kind: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    partition: int
    item: Pending | None = None


class _KnownSpans:
    """Span source that hands the redactor the entities this batch already computed, so the
    model runs once per document for both output topics."""

    def __init__(self) -> None:
        self.spans: list[list[Entity]] = []

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        return self.spans


def _failed(exc: BaseException) -> RecordFailedError:
    error = RecordFailedError(f"{type(exc).__name__}: {exc}"[:500])
    error.__cause__ = exc
    return error


class BatchProcessor:
    """Turns consumed records into output records for the configured topics."""

    def __init__(self, service: NerService, codec: Codec, *, entities_topic: str | None, redacted_topic: str | None,
                 dlq_topic: str | None, max_text_chars: int, redact: RedactSettings | None = None) -> None:
        self.service = service
        self.codec = codec
        self.entities_topic = entities_topic
        self.redacted_topic = redacted_topic
        self.dlq_topic = dlq_topic
        self.max_text_chars = max_text_chars
        self.model = (service.bundle.name, service.bundle.revision)
        self._known = _KnownSpans()
        self.redactor = Redactor.from_settings(redact or RedactSettings(), self._known) if redacted_topic else None

    # -- on arrival ----------------------------------------------------------------------

    def prepare(self, msgs: Sequence[Any]) -> list[Pending]:
        """Decode and validate each record, then tokenize every valid text in one call."""
        pending = []
        for msg in msgs:
            item = Pending(msg, Source(msg.topic(), msg.partition(), msg.offset()))
            try:
                item.doc = read_document(self.codec, msg.value(), item.source.topic, self.max_text_chars)
            except (RecordError, InputError) as exc:
                item.error = exc
            pending.append(item)
        valid = [p for p in pending if p.doc is not None]
        if valid and (self.entities_topic or self.redacted_topic):
            try:
                encoded = self.service.encode([p.doc.text for p in valid], ENTITY_ENCODING)
            except Exception:  # one bad text: find it by encoding alone
                encoded = []
                for p in valid:
                    try:
                        (one,) = self.service.encode([p.doc.text], ENTITY_ENCODING)
                    except Exception as exc:
                        p.error, p.doc, one = (exc if isinstance(exc, InputError) else _failed(exc)), None, None
                    encoded.append(one)
            for p, enc in zip(valid, encoded, strict=True):
                p.encoded = enc
        return pending

    # -- per batch -----------------------------------------------------------------------

    def run(self, batch: Sequence[Pending]) -> list[Output]:
        """Output records for the batch, in input order (a record's outputs stay together)."""
        docs = [p for p in batch if p.error is None and p.encoded is not None]
        entities = self._entities(docs) if docs else []
        docs, entities = self._keep_ok(docs, entities)
        redactions = self._redactions(docs, entities) if self.redactor is not None and docs else [None] * len(docs)
        results = {id(p): (ents, red) for p, ents, red in zip(docs, entities, redactions, strict=True)}
        processed_at = utc_now()
        outputs: list[Output] = []
        for p in batch:
            if id(p) in results and p.error is None:
                ents, red = results[id(p)]
                try:
                    outputs.extend(self._outputs(p, ents, red, processed_at))
                    continue
                except RecordError as exc:
                    p.error = exc
            if p.error is not None and self.dlq_topic:
                outputs.append(self.dead_letter(p))
            elif p.error is not None:
                log.warning("kafka.record_dropped", error=type(p.error).__name__, topic=p.source.topic,
                            partition=p.source.partition, offset=p.source.offset)
        return outputs

    def _entities(self, docs: list[Pending]) -> list[list[Entity] | None]:
        service = self.service
        try:
            logits = service.infer([p.encoded for p in docs])
        except Exception as exc:
            logits = []
            for p in docs:
                try:
                    logits.extend(service.infer([p.encoded]))
                except Exception as one:
                    p.error = _failed(one)
                    logits.append(None)
            if len(docs) > 1 and all(p.error is not None for p in docs):
                raise InferenceError(f"the engine failed on every record of a batch: {type(exc).__name__}") from exc
        out: list[list[Entity] | None] = []
        for p, doc_logits in zip(docs, logits, strict=True):
            if doc_logits is None:
                out.append(None)
                continue
            try:
                out.append(service.doc_entities(p.encoded, doc_logits))
            except Exception as exc:
                p.error = _failed(exc)
                out.append(None)
        return out

    @staticmethod
    def _keep_ok(docs, entities):
        kept = [(p, e) for p, e in zip(docs, entities, strict=True) if p.error is None]
        return [p for p, _ in kept], [e for _, e in kept]

    def _redactions(self, docs: list[Pending], entities: list[list[Entity]]) -> list:
        redactor, known = self.redactor, self._known
        known.spans = entities
        try:
            return redactor.redact([p.doc.text for p in docs])
        except Exception:
            out = []
            for p, ents in zip(docs, entities, strict=True):
                known.spans = [ents]
                try:
                    (one,) = redactor.redact([p.doc.text])
                except Exception as exc:
                    p.error, one = _failed(exc), None
                out.append(one)
            return out
        finally:
            known.spans = []

    def _outputs(self, p: Pending, ents: list[Entity], redaction, processed_at) -> list[Output]:
        """Both output records of one document; encoded before either is produced, so a
        document gets both outputs or a dead letter, never half."""
        msg, out = p.msg, []
        key, headers = msg.key(), msg.headers()
        if self.entities_topic:
            record = entity_record(p.doc, p.source, ents, self.model, processed_at)
            value = self.codec.encode(record, "entity_result", self.entities_topic)
            out.append(Output(ENTITIES, self.entities_topic, key, value, headers, p.source.partition, p))
        if self.redacted_topic and redaction is not None:
            record = redacted_record(p.doc, redaction.text, redaction.entities)
            value = self.codec.encode(record, "redacted_document", self.redacted_topic)
            out.append(Output(REDACTED, self.redacted_topic, key, value, headers, p.source.partition, p))
        return out

    def dead_letter(self, p: Pending) -> Output:
        """The dead letter for a record whose ``error`` is set (the original bytes + error headers)."""
        msg = p.msg
        kind, stamp = msg.timestamp()
        letter = dead_letter(msg.key(), msg.value(), msg.headers(), p.error, p.source, stamp if kind else None)
        return Output(DEAD_LETTER, self.dlq_topic, letter.key, letter.value, letter.headers, p.source.partition, p)
