"""``ner-stage redact --file`` with a record view: each JSON line is a user's record.

With ``--text-fields`` (or ``--redacted-mode in-place`` / ``--field-policy``) the lines are read
through the same record view as the Kafka worker (``pipeline.records``): one record is one
document, and the output array holds, per line, the record itself redacted in place, or
``{"id", "redacted_text", "entities"}`` (each entity with ``field`` and offsets into that
field's string; the scanned fields' redacted strings joined by a blank line). A line that is
not a usable record stops the command naming the line and the path (exit 2); nothing is
printed half.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from pipeline.errors import InputError
from pipeline.records.view import RecordView, entity_items
from schemas.errors import RecordError


def redact_records(file: str, view: RecordView, redactor) -> list:
    docs = []
    with Path(file).open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                docs.append((line, view.read(line, None, Path(file).name, 0, number)))
            except (RecordError, InputError) as exc:
                path = getattr(exc, "path", None)
                raise click.BadParameter(f"line {number}: {type(exc).__name__}" + (f" at {path}" if path else ""),
                                         param_hint="--file") from exc
    texts = [doc.text for _, doc in docs]
    model = redactor.model_spans(texts)
    out = []
    for (line, doc), spans in zip(docs, model, strict=True):
        red = view.redact(doc, redactor, spans)
        if view.in_place:
            out.append(orjson.loads(view.write(doc, red) or line))
        else:
            entities = [{k: v for k, v in item.items() if k != "text"} for item in entity_items(red)]
            out.append({"id": doc.id, "redacted_text": red.text, "entities": entities})
    return out
