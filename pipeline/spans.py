"""Entity spans: the one type that crosses from decoding into redaction and the outputs.

Offsets are character offsets into the original Python string (``text[start:end]`` is the
entity), which is what every consumer (Kafka records, /predict_tokens, redaction) needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Labels that are parts of one thing: a given name and a surname are one ``NAME``, the address
#: parts one ``ADDRESS``. Redaction merges neighbours by it, recall decoding sums their probabilities.
LABEL_GROUPS: Mapping[str, str] = MappingProxyType({
    "GIVEN_NAME": "NAME", "SURNAME": "NAME", "NAME": "NAME",
    "BUILDING_NUMBER": "ADDRESS", "STREET_NAME": "ADDRESS", "SECONDARY_ADDRESS": "ADDRESS",
    "CITY": "ADDRESS", "STATE": "ADDRESS", "ZIP_CODE": "ADDRESS", "ADDRESS": "ADDRESS",
})


@dataclass(frozen=True, slots=True)
class Entity:
    """A labelled span of the original text."""

    label: str
    start: int
    end: int
    score: float
    #: Who found it: ``model``, ``model:recall`` (below argmax), ``pattern:<name>``, ``spacy``,
    #: ``propagated``; spans merged from several detectors join theirs with ``+``.
    source: str = "model"

    def to_dict(self, text: str | None = None) -> dict:
        out = {"label": self.label, "start": self.start, "end": self.end, "score": round(float(self.score), 6)}
        if text is not None:
            out["text"] = text[self.start : self.end]
        return out
