"""The record view: between the codec and ``NerService``, it turns a user's record into ONE
document and writes the redacted strings back into the record.

Reading (:meth:`RecordView.read`): the ``--text-fields`` paths pick the strings to scan; they
are joined, in path order, with :data:`SEPARATOR` (a blank line: no detector and no neighbour
merge crosses a line break) into the document text the model and the recognizers see. So one
record is one document: the model runs once per record, and a value detected in one field is
propagated to every other field (``pipeline.redact.propagation`` works on the joined text).
``--max-text-chars`` bounds the sum over the fields (with the blank lines between them). A path
that matches nothing is fine; a match that is neither a string nor null is a
:class:`FieldTypeError` naming the path.

Redacting (:meth:`RecordView.redact`): detections on the joined text are clipped to each
field and anonymized field by field, so every entity lies in one field (``field`` + offsets
into that field's string) and the field's redacted string is exact. The envelope's redacted
text is the fields' redacted strings joined the same way (offsets into the joined original).

Writing in place (:meth:`RecordView.write`): each changed string is set back at its concrete
path and the record is encoded in its own format (``formats.py``); a record in which nothing
changed is passed on as its original bytes.

The default view (``--text-fields text``, envelope, id ``id``) is today's ``{"id", "text"}``
document contract, read by the contract reader the caller passes (validation unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError, TextTooLongError
from pipeline.records.avro_paths import check_path
from pipeline.records.errors import FieldPolicyError, FieldTypeError, IdFieldError
from pipeline.records.formats import TEXT_FIELD, Decoded, RecordFormat
from pipeline.records.paths import FieldPath, Match, parse_paths
from pipeline.records.policies import FieldPolicies
from pipeline.redact.anonymizer import Redaction, anonymize
from pipeline.spans import Entity

SEPARATOR = "\n\n"
KEY, OFFSET = "@key", "@offset"
DEFAULT_FIELD = "text"


@dataclass(frozen=True, slots=True)
class Scanned:
    """One scanned string: its concrete path and where it sits in the document text."""

    path: str
    start: int
    end: int
    match: Match | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Document:
    """What the model sees of one record: an id and one text (the scanned fields, joined)."""

    id: str
    text: str
    fields: tuple[Scanned, ...] = ()
    decoded: Decoded | None = field(default=None, compare=False)
    rewritten: bool = False  # a field policy changed the record

    def scanned(self) -> tuple[Scanned, ...]:
        return self.fields or (Scanned(DEFAULT_FIELD, 0, len(self.text)),)


@dataclass(frozen=True, slots=True)
class FieldRedaction:
    field: Scanned
    text: str  # the field's original string
    redaction: Redaction  # offsets into that string


@dataclass(frozen=True, slots=True)
class RecordRedaction:
    """A record's result: per field, and joined (the envelope's text, offsets into ``Document.text``)."""

    text: str
    entities: tuple[Entity, ...]
    fields: tuple[FieldRedaction, ...]


ContractReader = Callable[[bytes | None, str], Document]


def _clip(entity: Entity, start: int, end: int) -> Entity | None:
    lo, hi = max(entity.start, start), min(entity.end, end)
    return Entity(entity.label, lo - start, hi - start, entity.score, entity.source) if lo < hi else None


class RecordView:
    """See the module docstring. Built once per worker by :func:`build_view`."""

    def __init__(self, *, text_fields: Sequence[str] = (DEFAULT_FIELD,), id_field: str | None = None,
                 fmt: RecordFormat | None = None, in_place: bool = False,
                 policies: FieldPolicies | None = None, max_chars: int = 100_000,
                 contract: ContractReader | None = None, schema: dict | None = None) -> None:
        self.paths = parse_paths(list(text_fields))
        self.id_field = id_field or (OFFSET if fmt is not None and fmt.name == "text" else "id")
        self.id_path = None if self.id_field in (KEY, OFFSET) else FieldPath.parse(self.id_field)
        self.fmt = fmt
        self.in_place = in_place
        self.policies = policies or FieldPolicies()
        self.max_chars = max_chars
        self.contract = contract
        self._checked: set[int | None] = set()
        if fmt is None and contract is None:
            raise ConfigError("a record view needs a record format or the document contract reader")
        if self.policies and not in_place:
            raise ConfigError("--field-policy rewrites the input record: it needs --redacted-mode in-place")
        clash = {p.text for p in self.paths} & {p.path.text for p in self.policies.policies}
        if clash:
            raise ConfigError(f"{sorted(clash)[0]} is both a text field and a field policy path")
        if fmt is not None and fmt.name == "text" and [p.text for p in self.paths] != [TEXT_FIELD]:
            raise ConfigError(f"--format text has one field, {TEXT_FIELD}; --text-fields cannot name others")
        if schema is not None:
            self._check_schema(schema, startup=True)
            self._checked.add(None)

    @property
    def document_contract(self) -> bool:
        return self.fmt is None

    # -- reading ----------------------------------------------------------------------------

    def read(self, value: bytes | None, key: bytes | None, topic: str, partition: int, offset: int) -> Document:
        """One record -> one document; raises a record error (dead letter) naming the path."""
        if self.fmt is None:
            return self.contract(value, topic)
        decoded = self.fmt.decode(value)
        if decoded.schema is not None and decoded.schema_id not in self._checked:
            self._check_schema(decoded.schema, startup=False)
            self._checked.add(decoded.schema_id)
        rewritten = self.policies.apply(decoded.tree, avro=decoded.schema is not None) if self.policies else False
        pieces: list[str] = []
        fields: list[Scanned] = []
        pos = 0
        for path in self.paths:
            for match in path.matches(decoded.tree):
                text = match.value
                if text is None or text == "":
                    continue  # nothing to scan (and nothing to write back)
                if not isinstance(text, str):
                    raise FieldTypeError(f"the value at {match.path} is not a string", path=match.path)
                if fields:
                    pos += len(SEPARATOR)
                fields.append(Scanned(match.path, pos, pos + len(text), match))
                pieces.append(text)
                pos += len(text)
                if pos > self.max_chars:  # checked as it grows: a record of a million fields stops here
                    raise TextTooLongError(f"the scanned fields have more than {self.max_chars} characters (with "
                                           "the blank lines between them)", field="text")
        doc_id = self._id(decoded.tree, key, topic, partition, offset)
        return Document(doc_id, SEPARATOR.join(pieces), tuple(fields), decoded, rewritten)

    def _id(self, tree: Any, key: bytes | None, topic: str, partition: int, offset: int) -> str:
        fallback = f"{topic}/{partition}/{offset}"
        if self.id_field == OFFSET:
            return fallback
        if self.id_field == KEY:
            if key is None:
                return fallback
            try:
                return key.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise IdFieldError("the record key is not valid UTF-8 (--id-field @key)", path=KEY) from exc
        found = next(self.id_path.matches(tree), None)
        if found is None or found.value is None:
            return fallback
        if isinstance(found.value, str):
            return found.value
        if isinstance(found.value, int) and not isinstance(found.value, bool):
            return str(found.value)
        raise IdFieldError(f"the id at {found.path} is not a string or an integer", path=found.path)

    def _check_schema(self, schema: dict, *, startup: bool) -> None:
        """Text paths must be strings (a path the schema lacks just matches nothing); field
        policies must fit (see ``policies.py``)."""
        found = next(((p.text, f"--text-fields {problem}") for p in self.paths
                      if (problem := check_path(schema, p, wants={"string"})) and "has no field" not in problem), None)
        found = found or self.policies.check_schema(schema)
        if found is None:
            return
        path, problem = found
        if startup:
            raise ConfigError(problem)
        raise FieldPolicyError(f"the record's writer schema does not fit: {problem}", path=path)

    # -- redacting and writing --------------------------------------------------------------

    def redact(self, doc: Document, redactor: Any, model_spans: Sequence[Entity]) -> RecordRedaction:
        """Redact the record with ``redactor`` (a ``pipeline.redact.Redactor``): detections on the
        whole document text, anonymized field by field (one field: ``redact_spans`` as it is)."""
        fields = doc.scanned()
        if len(fields) == 1 and fields[0].start == 0 and fields[0].end == len(doc.text):
            one = redactor.redact_spans(doc.text, model_spans)
            return RecordRedaction(one.text, one.entities, (FieldRedaction(fields[0], doc.text, one),))
        detections = redactor.detections(doc.text, model_spans)
        out, texts, entities = [], [], []
        for f in fields:
            text = doc.text[f.start : f.end]
            local = [c for c in (_clip(e, f.start, f.end) for e in detections) if c is not None]
            red = anonymize(text, local, redactor.policy, redactor.conflict)
            out.append(FieldRedaction(f, text, red))
            texts.append(red.text)
            entities.extend(Entity(e.label, e.start + f.start, e.end + f.start, e.score, e.source)
                            for e in red.entities)
        return RecordRedaction(SEPARATOR.join(texts), tuple(entities), tuple(out))

    def write(self, doc: Document, redaction: RecordRedaction) -> bytes | None:
        """The input record with its scanned strings redacted, in its own format; None when
        nothing changed (send the original bytes)."""
        assert doc.decoded is not None, "in-place output needs a decoded record"
        changed = doc.rewritten
        for part in redaction.fields:
            if part.redaction.text != part.text and part.field.match is not None:
                part.field.match.set(part.redaction.text)
                changed = True
        return doc.decoded.encode(doc.decoded.tree) if changed else None


def entity_items(redaction: RecordRedaction) -> list[dict]:
    """The entity record's ``entities``: offsets into each field's own string, with ``field``."""
    return [
        {"label": e.label, "start": e.start, "end": e.end, "text": part.text[e.start : e.end],
         "score": round(float(e.score), 6), "source": e.source, "field": part.field.path}
        for part in redaction.fields for e in part.redaction.entities
    ]
