"""One micro-batch, records in -> output records out: decode, tokenize, infer, redact, encode.

No Kafka client here, so every per-record rule is testable without a broker. Two steps:
:meth:`BatchProcessor.prepare` decodes records as they arrive and tokenizes a poll's texts in
ONE call (the counts feed the batcher's token budget; the encodings are reused), and
:meth:`BatchProcessor.run` does ONE ``NerService.infer`` per batch, decoded as
``NerService.entities`` does, so Kafka results equal the service's; redaction reuses those
entities, so the model runs once per document for both outputs. A record error dead-letters
that record only; anything else is a stage error that stops the worker before the batch
commits, unless ``on_error="dead-letter"`` retries the failing step record by record
(docs/ARCHITECTURE.md, "Kafka stage"; docs/OPERATIONS.md, "Errors").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import structlog

from pipeline.errors import InputError
from pipeline.kafka.dead_letters import DeadLetters, without_ours
from pipeline.kafka.documents import Source, entity_record, read_document, redacted_record
from pipeline.kafka.errors import InferenceError, OutputRefusedError, ProcessingError, RecordFailedError
from pipeline.kafka.records import DEAD_LETTER, ENTITIES, REDACTED, Output, Pending
from pipeline.records.view import RecordView
from pipeline.redact import Redactor, RedactSettings
from pipeline.service import ENTITY_ENCODING, NerService
from pipeline.spans import Entity
from schemas.codec import Codec, utc_now
from schemas.errors import RecordError, RegistryError

log = structlog.get_logger(__name__)

__all__ = ["DEAD_LETTER", "ENTITIES", "REDACTED", "BatchProcessor", "OnError", "Output", "Pending"]

OnError = Literal["stop", "dead-letter"]


def _failed(exc: BaseException) -> RecordFailedError:
    error = RecordFailedError("processing failed for this record alone", cause=type(exc).__name__)
    error.__cause__ = exc
    return error


class BatchProcessor:
    """Turns consumed records into output records for the configured topics."""

    def __init__(self, service: NerService, codec: Codec, *, entities_topic: str | None, redacted_topic: str | None,
                 dlq_topic: str | None, max_text_chars: int, redact: RedactSettings | None = None,
                 on_error: OnError = "stop", view: RecordView | None = None) -> None:
        self.service = service
        self.codec = codec
        self.view = view or RecordView(max_chars=max_text_chars, contract=self._read_contract)
        self.entities_topic = entities_topic
        self.redacted_topic = redacted_topic
        self.dlq_topic = dlq_topic
        self.max_text_chars = max_text_chars
        self.tolerant = on_error == "dead-letter"
        self.model = (service.bundle.name, service.bundle.revision)
        self.letters = DeadLetters(dlq_topic)  # the worker sizes it to its producer and the topic
        redact = redact or RedactSettings()
        # One answer per document: both output records come from the redactor's merged detections.
        self.redactor = Redactor.from_settings(redact)
        self._model_spans = redact.model_spans

    def _read_contract(self, value: bytes | None, topic: str):
        return read_document(self.codec, value, topic, self.max_text_chars)

    # -- on arrival ----------------------------------------------------------------------

    def prepare(self, msgs: Sequence[Any]) -> list[Pending]:
        """Decode and validate each record, then tokenize every valid text in one call."""
        pending = []
        for msg in msgs:
            item = Pending(msg, Source(msg.topic(), msg.partition(), msg.offset()))
            try:
                item.doc = self.view.read(msg.value(), msg.key(), *item.key)
            except (RecordError, InputError) as exc:
                item.error = exc
            pending.append(item)
        valid = [p for p in pending if p.doc is not None]
        if valid and (self.entities_topic or self.redacted_topic):
            encode = self.service.encode
            try:
                encoded = encode([p.doc.text for p in valid], ENTITY_ENCODING)
            except Exception as exc:  # a text the tokenizer rejects: find it by encoding alone
                self._stage_error(exc, "tokenizing")
                encoded = self._one_by_one(valid, lambda p: encode([p.doc.text], ENTITY_ENCODING)[0], "tokenizing",
                                           (InputError,))
            for p, enc in zip(valid, encoded, strict=True):
                p.encoded = enc
                if p.error is not None:
                    p.doc = None
        return pending

    # -- per batch -----------------------------------------------------------------------

    def run(self, batch: Sequence[Pending]) -> list[Output]:
        """Output records for the batch, in input order (a record's outputs stay together)."""
        docs = [p for p in batch if p.error is None and p.encoded is not None]
        entities = self._entities(docs) if docs else []
        docs, entities = self._keep_ok(docs, entities)
        redactions = self._redactions(docs, entities)
        results = {id(p): (ents, red) for p, ents, red in zip(docs, entities, redactions, strict=True)}
        processed_at = utc_now()
        outputs: list[Output] = []
        for p in batch:
            if id(p) in results and p.error is None:
                try:
                    outputs.extend(self._outputs(p, *results[id(p)], processed_at))
                    continue
                except RecordError as exc:  # e.g. an id the output format cannot carry
                    p.error = exc
                except Exception as exc:
                    self._stage_error(exc, "encoding outputs", ())
                    p.error = _failed(exc)
            if p.error is not None:  # refused earlier (exactly-once, aborted): none of its outputs went out
                letter = self.letters.letter(p, set() if isinstance(p.error, OutputRefusedError) else None)
                if letter is not None:
                    outputs.append(letter)
        return outputs

    def _stage_error(self, exc: Exception, step: str, record_errors: tuple[type, ...] = (InputError,)) -> None:
        """Stop (``on_error=stop``): raise :class:`ProcessingError`; tolerant: return (the caller
        retries record by record). ``record_errors`` (a rejected text) always return; a Schema
        Registry failure always raises (it is never one record's fault)."""
        if isinstance(exc, RegistryError) or (not self.tolerant and not isinstance(exc, record_errors)):
            raise ProcessingError(f"{step} failed: {type(exc).__name__} (a stage error, not a record's fault; "
                                  "see the cause in the traceback)") from exc

    def _one_by_one(self, items: list[Pending], step: Callable[[Pending], Any], what: str,
                    record_errors: tuple[type, ...] = ()) -> list:
        """``step`` per record; a record it fails for gets the error (stage errors stop, unless tolerant)."""
        out = []
        for p in items:
            try:
                out.append(step(p))
            except Exception as exc:
                self._stage_error(exc, what, record_errors)
                p.error = exc if isinstance(exc, record_errors) else _failed(exc)
                out.append(None)
        return out

    def _entities(self, docs: list[Pending]) -> list[list[Entity] | None]:
        service = self.service
        try:
            logits = service.infer([p.encoded for p in docs])
        except Exception as exc:
            if not self.tolerant:
                raise InferenceError(f"the engine failed on a batch: {type(exc).__name__}") from exc
            logits = self._one_by_one(docs, lambda p: service.infer([p.encoded])[0], "inference")
            if len(docs) > 1 and all(p.error is not None for p in docs):
                raise InferenceError(f"the engine failed on every record of a batch: {type(exc).__name__}") from exc
        by_id = {id(p): lg for p, lg in zip(docs, logits, strict=True)}
        ok = [p for p in docs if p.error is None]
        found = self._one_by_one(ok, lambda p: service.doc_entities(p.encoded, by_id[id(p)]), "decoding entities")
        by_id = {id(p): ents for p, ents in zip(ok, found, strict=True)}
        return [by_id.get(id(p)) for p in docs]

    @staticmethod
    def _keep_ok(docs, entities):
        kept = [(p, e) for p, e in zip(docs, entities, strict=True) if p.error is None]
        return [p for p, _ in kept], [e for _, e in kept]

    def _redactions(self, docs: list[Pending], entities: list[list[Entity]]) -> list:
        """Redaction from the entities already found (span-in: the model is not run again)."""
        redactor, use_model, view = self.redactor, self._model_spans, self.view
        spans = {id(p): ents for p, ents in zip(docs, entities, strict=True)}

        return self._one_by_one(docs, lambda p: view.redact(p.doc, redactor, spans[id(p)] if use_model else []),
                                "redaction")

    def _outputs(self, p: Pending, ents: list[Entity], redaction, processed_at) -> list[Output]:
        """Both output records of one document; encoded before either is produced, so a
        document gets both outputs or a dead letter, never half."""
        msg, out = p.msg, []
        key, headers = msg.key(), without_ours(msg.headers())
        if self.entities_topic:
            record = entity_record(p.doc, p.source, redaction, self.model, processed_at)
            value = self.codec.encode(record, "entity_result", self.entities_topic)
            out.append(Output(ENTITIES, self.entities_topic, key, value, headers, p.source.partition, p))
        if self.redacted_topic and self.view.in_place:  # the input record itself, rewritten
            value = self.view.write(p.doc, redaction)
            out.append(Output(REDACTED, self.redacted_topic, key, msg.value() if value is None else value, headers,
                              p.source.partition, p, pinned=True))
        elif self.redacted_topic:
            record = redacted_record(p.doc, redaction.text, redaction.entities)
            value = self.codec.encode(record, "redacted_document", self.redacted_topic)
            out.append(Output(REDACTED, self.redacted_topic, key, value, headers, p.source.partition, p))
        return out
